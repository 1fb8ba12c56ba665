"""Upload ids: random, URL-safe, and validated before they touch a path or a key."""

from __future__ import annotations

import re
import secrets

from ..errors import UploadNotFound

_ID = re.compile(r"[A-Za-z0-9_-]{16,64}")


def new_upload_id() -> str:
    """128 random bits, URL-safe base64 (22 characters)."""
    return secrets.token_urlsafe(16)


def looks_like_upload_id(name: str) -> bool:
    return _ID.fullmatch(name) is not None


def check_upload_id(upload_id: str) -> str:
    """Reject anything that is not an id we could have made: no dots, slashes or other path tricks."""
    if not _ID.fullmatch(upload_id):
        raise UploadNotFound()
    return upload_id
