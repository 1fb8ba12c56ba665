"""What every handler needs: settings, the composed store, the upload service, and request helpers.

`TusContext` holds dependencies only, built once by `create_app` on what `wiring.build` made; state
that changes while serving belongs to the objects that own it (`uploads.service.Uploads` and the parts it is made of).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from starlette.requests import Request

from ..auth.access import check_size_allowed, check_upload_access, size_limit
from ..config import Settings
from ..constants import TUS_RESUMABLE
from ..errors import PreconditionFailed
from ..hashing.algorithms import SUPPORTED
from ..hooks import Hooks
from ..locking.base import Locker
from ..models import UploadInfo
from ..storage.base import Store
from ..storage.composer import StoreComposer
from ..uploads.service import Uploads
from .urls import PublicUrls


def compute_extensions(stores: StoreComposer, settings: Settings) -> tuple[str, ...]:
    """`Tus-Extension` from what the store can do, computed once at start-up."""
    extensions = ["creation", "creation-with-upload", "creation-defer-length"]
    if stores.terminater is not None and not settings.disable_termination:
        extensions.append("termination")
    extensions.append("checksum")
    if stores.lister is not None:
        extensions.append("expiration")
    if stores.concater is not None:
        extensions += ["concatenation", "concatenation-unfinished"]
    return tuple(extensions)


@dataclass
class TusContext:
    settings: Settings
    uploads: Uploads
    checksum_algorithms: frozenset[str] = SUPPORTED
    store: Store = field(init=False)
    locker: Locker = field(init=False)
    hooks: Hooks = field(init=False)
    stores: StoreComposer = field(init=False)
    extensions: tuple[str, ...] = field(init=False)
    urls: PublicUrls = field(init=False)

    def __post_init__(self) -> None:
        self.stores = self.uploads.stores
        self.store, self.locker, self.hooks = self.stores.core, self.uploads.locker, self.uploads.hooks
        self.urls = PublicUrls(self.settings)
        self.extensions = compute_extensions(self.stores, self.settings)

    def caller(self, request: Request) -> RequestCaller:
        return RequestCaller(request, self.settings.max_size_bytes)


class RequestCaller:
    """The `uploads.service.Caller` of an HTTP request: the auth rules of `auth.access` on its scope."""

    __slots__ = ("request", "_max_size", "_scope")

    def __init__(self, request: Request, max_size: int) -> None:
        self.request = request
        self._scope = request.scope
        self._max_size = max_size

    @property
    def size_cap(self) -> int | None:
        return size_limit(self._scope, self._max_size)

    def authorize(self, info: UploadInfo) -> None:
        check_upload_access(self._scope, info.id, info.owner)

    def check_size(self, length: int | None) -> None:
        check_size_allowed(self._scope, length, self._max_size)


def check_tus_resumable(request: Request) -> None:
    value = request.headers.get("tus-resumable")
    if value != TUS_RESUMABLE:
        message = (
            "Tus-Resumable header is missing" if value is None else f"Tus-Resumable {value[:20]!r} is not supported"
        )
        raise PreconditionFailed(message)
