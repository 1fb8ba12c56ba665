"""Who may touch which upload: pure rules over the verified token, no HTTP.

The auth middleware puts an `Identity` in `scope["auth"]` (absent when auth is off). Handlers call
these checks after loading an upload and record the upload id in `scope[UPLOAD_SCOPE_KEY]`, so the
rotated token in the response is scoped to that upload.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import Forbidden, TooLarge

AUTH_SCOPE_KEY = "auth"
UPLOAD_SCOPE_KEY = "tusserver.upload_id"


@dataclass(frozen=True)
class Identity:
    sub: str
    upload_id: str | None = None  # set when the token is scoped to one upload
    max_size: int | None = None
    claims: dict[str, Any] = field(default_factory=dict, compare=False)


def identity_of(scope: MutableMapping[str, Any]) -> Identity | None:
    identity = scope.get(AUTH_SCOPE_KEY)
    return identity if isinstance(identity, Identity) else None


def owner_for_new_upload(scope: MutableMapping[str, Any]) -> str | None:
    identity = identity_of(scope)
    return identity.sub if identity else None


def check_upload_access(scope: MutableMapping[str, Any], upload_id: str, owner: str | None) -> None:
    """403 unless the token's `sub` owns the upload and the token is not scoped to another upload."""
    identity = identity_of(scope)
    if identity is None:
        return
    if owner != identity.sub:
        raise Forbidden("this upload belongs to another user")
    if identity.upload_id is not None and identity.upload_id != upload_id:
        raise Forbidden(
            "token is scoped to another upload",
            headers={"WWW-Authenticate": 'Bearer error="insufficient_scope"'},
        )
    scope[UPLOAD_SCOPE_KEY] = upload_id


def check_parts_access(scope: MutableMapping[str, Any], parts: list[tuple[str, str | None]]) -> None:
    """A final concatenation: the `sub` must own every part; an upload-scoped token of one part is enough."""
    identity = identity_of(scope)
    if identity is None:
        return
    for _, owner in parts:
        if owner != identity.sub:
            raise Forbidden("a partial upload belongs to another user")
    if identity.upload_id is not None and identity.upload_id not in {pid for pid, _ in parts}:
        raise Forbidden(
            "token is scoped to an upload that is not part of this concatenation",
            headers={"WWW-Authenticate": 'Bearer error="insufficient_scope"'},
        )


def check_size_allowed(scope: MutableMapping[str, Any], length: int | None, server_max: int) -> None:
    """413 when a declared length is over `--max-size` (0: none) or the token's `max_size` claim."""
    if length is None:
        return
    if server_max and length > server_max:
        raise TooLarge(f"upload length {length} exceeds the maximum of {server_max} bytes")
    identity = identity_of(scope)
    if identity is not None and identity.max_size is not None and length > identity.max_size:
        raise TooLarge(f"Upload-Length exceeds the token's max_size of {identity.max_size} bytes")


def size_limit(scope: MutableMapping[str, Any], server_max: int) -> int | None:
    """The most bytes an upload may hold: `--max-size` (0: none) and the token's `max_size`, whichever is lower."""
    identity = identity_of(scope)
    limits = [server_max] if server_max else []
    if identity is not None and identity.max_size is not None:
        limits.append(identity.max_size)
    return min(limits) if limits else None


def record_upload(scope: MutableMapping[str, Any], upload_id: str) -> None:
    scope[UPLOAD_SCOPE_KEY] = upload_id
