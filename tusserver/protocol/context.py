"""What every handler needs: settings, backends, the advertised extensions, and request helpers."""

from __future__ import annotations

import asyncio
import functools
import time
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from email.utils import formatdate

from starlette.requests import Request

from ..config import Settings
from ..constants import TUS_RESUMABLE
from ..errors import PreconditionFailed, UploadGone
from ..hooks import Hooks
from ..locking.base import Locker, ReleaseCallback
from ..models import UploadInfo
from ..storage.base import Concatenatable, Linkable, Listable, Store, Terminatable
from ..storage.digest_index import DigestIndex, MemoryDigestIndex
from ..storage.upload_sets import UNFINISHED, WAITING_FINALS, UploadSets, build_upload_sets
from .checksum import SUPPORTED
from .digest import DigestTracker


def compute_extensions(store: Store) -> tuple[str, ...]:
    """`Tus-Extension` from what the store can do, computed once at start-up."""
    extensions = ["creation", "creation-with-upload", "creation-defer-length"]
    if isinstance(store, Terminatable):
        extensions.append("termination")
    extensions.append("checksum")
    if isinstance(store, Listable):
        extensions.append("expiration")
    if isinstance(store, Concatenatable):
        extensions += ["concatenation", "concatenation-unfinished"]
    return tuple(extensions)


@dataclass
class TusContext:
    settings: Settings
    store: Store
    locker: Locker
    digest_index: DigestIndex = field(default_factory=MemoryDigestIndex)
    hooks: Hooks = field(default_factory=Hooks)
    extensions: tuple[str, ...] = ()
    checksum_algorithms: frozenset[str] = SUPPORTED
    background: set[asyncio.Task[None]] = field(default_factory=set)
    writers: set[asyncio.Task[object]] = field(default_factory=set)  # requests storing a body right now
    waiting_finals: dict[str, set[str]] = field(default_factory=dict)  # partial id -> final ids to assemble
    parked_finals: dict[str, float] = field(default_factory=dict)  # final id -> monotonic time to re-check parts
    pruned_owners: dict[str, float] = field(default_factory=dict)  # owner group -> last --max-unfinished prune
    digests: DigestTracker = field(init=False)
    unfinished: UploadSets = field(init=False)  # owner group -> ids of its unfinished uploads
    finals_of_part: UploadSets = field(init=False)  # unfinished partial id -> finals that name it

    def __post_init__(self) -> None:
        if not self.extensions:
            self.extensions = compute_extensions(self.store)
        self.digests = DigestTracker.from_settings(self.store, self.settings)
        self.unfinished = build_upload_sets(self.store, UNFINISHED, counted=True)
        self.finals_of_part = build_upload_sets(self.store, WAITING_FINALS)

    @property
    def can_terminate(self) -> bool:
        return isinstance(self.store, Terminatable)

    @property
    def can_concatenate(self) -> bool:
        return isinstance(self.store, Concatenatable)

    @property
    def can_link(self) -> bool:
        return isinstance(self.store, Linkable)

    def lock(
        self, upload_id: str, on_release_request: ReleaseCallback | None = None
    ) -> AbstractAsyncContextManager[None]:
        return self.locker.lock(
            upload_id, timeout_s=self.settings.lock_timeout_s, on_release_request=on_release_request
        )

    # -- expiration --------------------------------------------------------------------------

    def expires_at(self, info: UploadInfo) -> float | None:
        """Unfinished uploads expire `expire_after_s` after their last write; finished ones never."""
        if self.settings.expire_after_s <= 0 or info.is_complete or info.is_final:
            return None
        last = max(info.created, float(info.storage.get("mtime", info.created)))
        return last + self.settings.expire_after_s

    def check_not_expired(self, info: UploadInfo) -> None:
        expires = self.expires_at(info)
        if expires is not None and expires <= time.time():
            raise UploadGone("upload has expired")

    def expires_header(self, info: UploadInfo) -> dict[str, str]:
        expires = self.expires_at(info)
        return {} if expires is None else {"Upload-Expires": http_date(int(expires))}

    # -- requests ----------------------------------------------------------------------------

    def upload_url(self, request: Request, upload_id: str) -> str:
        return f"{self.external_origin(request)}{self.base_path(request)}{upload_id}"

    def base_path(self, request: Request) -> str:
        """The uploads' path as the client sees it: under the ASGI `root_path` when the app is mounted."""
        root: str = request.scope.get("root_path", "")
        return root.rstrip("/") + self.settings.base_path

    def external_origin(self, request: Request) -> str:
        """scheme://host as the client sees it; proxy headers count only with --behind-proxy."""
        headers = request.headers
        scheme = request.url.scheme
        host = headers.get("host") or f"{self.settings.host}:{self.settings.port}"
        if self.settings.behind_proxy:
            forwarded = _parse_forwarded(headers.get("forwarded", ""))
            scheme = forwarded.get("proto") or _first(headers.get("x-forwarded-proto")) or scheme
            host = forwarded.get("host") or _first(headers.get("x-forwarded-host")) or host
        scheme = scheme.lower()  # RFC 3986: schemes are case-insensitive ("HTTPS" from some proxies)
        if scheme not in ("http", "https"):
            scheme = "http"
        return f"{scheme}://{_safe_host(host)}"


@functools.lru_cache(maxsize=256)
def http_date(seconds: int) -> str:
    """RFC 9110 date; cached because `email.utils.formatdate` showed up in small-upload profiles and
    uploads created in the same second share their expiry second."""
    return formatdate(seconds, usegmt=True)


def check_tus_resumable(request: Request) -> None:
    value = request.headers.get("tus-resumable")
    if value != TUS_RESUMABLE:
        message = (
            "Tus-Resumable header is missing" if value is None else f"Tus-Resumable {value[:20]!r} is not supported"
        )
        raise PreconditionFailed(message)


def _first(value: str | None) -> str | None:
    if not value:
        return None
    return value.split(",")[0].strip() or None


def _parse_forwarded(value: str) -> dict[str, str]:
    """The first element of an RFC 7239 `Forwarded` header, as lower-cased keys."""
    result: dict[str, str] = {}
    first = value.split(",")[0]
    for pair in first.split(";"):
        key, _, raw = pair.partition("=")
        if raw:
            result[key.strip().lower()] = raw.strip().strip('"')
    return result


def _safe_host(host: str) -> str:
    """Keep only characters a host[:port] may have, so no header can inject into `Location`."""
    allowed = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-:[]_")
    cleaned = "".join(c for c in host if c in allowed)
    return cleaned or "localhost"
