"""Who may touch which upload: pure rules over the verified token, no HTTP.

The auth middleware puts an `Identity` in `scope["auth"]` (absent when auth is off). Handlers call
these checks after loading an upload's record and BEFORE taking its lock, so a refused request never
waits for the lock (which would ask a running PATCH to stop) and never cuts anyone's upload.

Tokens are owner-scoped: any token of a `sub` reaches all of that `sub`'s uploads. Only a token the
platform minted with an `upload_id` claim is restricted, to that one upload; it cannot create uploads.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import Forbidden, TooLarge

AUTH_SCOPE_KEY = "auth"


def _insufficient_scope(message: str) -> Forbidden:
    return Forbidden(message, headers={"WWW-Authenticate": 'Bearer error="insufficient_scope"'})


@dataclass(frozen=True)
class Identity:
    sub: str
    upload_id: str | None = None  # set when the platform restricted the token to one upload
    max_size: int | None = None
    claims: dict[str, Any] = field(default_factory=dict, compare=False)


def identity_of(scope: MutableMapping[str, Any]) -> Identity | None:
    identity = scope.get(AUTH_SCOPE_KEY)
    return identity if isinstance(identity, Identity) else None


def owner_for_new_upload(scope: MutableMapping[str, Any]) -> str | None:
    """The owner of an upload this request creates; 403 for a token restricted to one upload."""
    identity = identity_of(scope)
    if identity is None:
        return None
    if identity.upload_id is not None:
        raise _insufficient_scope("token is restricted to one upload and cannot create uploads")
    return identity.sub


def check_upload_access(scope: MutableMapping[str, Any], upload_id: str, owner: str | None) -> None:
    """403 unless the token's `sub` owns the upload and the token is not restricted to another upload."""
    identity = identity_of(scope)
    if identity is None:
        return
    if owner != identity.sub:
        raise Forbidden("this upload belongs to another user")
    if identity.upload_id is not None and identity.upload_id != upload_id:
        raise _insufficient_scope("token is restricted to another upload")


def check_part_access(scope: MutableMapping[str, Any], part_id: str, owner: str | None) -> None:
    """A final concatenation reads every part it names: the token must be allowed to access each one.

    (A token restricted to one upload never gets here: it cannot create uploads.)"""
    try:
        check_upload_access(scope, part_id, owner)
    except Forbidden as exc:
        raise Forbidden(f"partial upload {part_id}: {exc.message}", headers=exc.headers) from None


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
