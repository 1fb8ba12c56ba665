"""Pure parsing of the draft's request fields (Structured Fields items, RFC 9651) and of the
representation metadata a creation request may carry; no I/O, unit-tested on their own.

The draft says a field with another value "MUST be ignored"; every such field we read is one the
request cannot do without (or a length it must not get wrong), so a malformed one is a 400 with a
reason instead of a silent guess.
"""

from __future__ import annotations

import base64
import re
from email.message import Message

from ...errors import BadRequest, InvalidInteger
from ...hashing.algorithms import Checksum
from ...hashing.repr_digest import parse_repr_digest

_PARAMS = r"(?:\s*;\s*[a-z*][a-z0-9_.*-]*(?:=[^;]*)?)*"
_INTEGER = re.compile(r"\s*(-?[0-9]{1,15})" + _PARAMS + r"\s*")
_BOOLEAN = re.compile(r"\s*\?([01])" + _PARAMS + r"\s*")


def parse_integer(name: str, value: str | None) -> int | None:
    """A non-negative sf-integer (at most 15 digits), or None when absent."""
    if value is None:
        return None
    match = _INTEGER.fullmatch(value)
    if match is None or match.group(1).startswith("-"):
        raise InvalidInteger(f"{name} must be a non-negative Structured Fields integer, got {value[:40]!r}")
    return int(match.group(1))


def parse_boolean(name: str, value: str | None) -> bool | None:
    """An sf-boolean (`?0` or `?1`), or None when absent."""
    if value is None:
        return None
    match = _BOOLEAN.fullmatch(value)
    if match is None:
        raise BadRequest(f"{name} must be ?0 or ?1, got {value[:40]!r}")
    return match.group(1) == "1"


def upload_limit(members: dict[str, int]) -> str:
    """`Upload-Limit` (an sf-dictionary of integers); `min-size=0` when there is no limit, as the draft asks."""
    return ", ".join(f"{key}={value}" for key, value in members.items()) or "min-size=0"


def representation_metadata(content_type: str | None, disposition: str | None) -> dict[str, str | None]:
    """`filetype` and `filename` (base64, as tus metadata is kept) from a creation's Content-Type and
    Content-Disposition, so a download of the upload gets them back, whichever protocol made it."""
    found: dict[str, str | None] = {}
    if content_type:
        media_type = content_type.split(";")[0].strip().lower()
        if media_type and media_type != "application/partial-upload":
            found["filetype"] = _b64(media_type)
    if disposition:
        holder = Message()
        try:
            holder["content-disposition"] = disposition
            filename = holder.get_filename()
        except (ValueError, LookupError):  # an unknown charset in filename*=, a broken quoted string
            filename = None
        if filename:
            found["filename"] = _b64(filename)
    return found


def content_digest(value: str | None, supported: frozenset[str]) -> Checksum | None:
    """`Content-Digest` (RFC 9530) as the per-request checksum tus takes from `Upload-Checksum`."""
    digest = parse_repr_digest(value)  # the same dictionary syntax; sha-256/sha-512 kept, others ignored
    if digest is None:
        return None
    algorithm = digest.algorithm.replace("-", "")
    return Checksum(algorithm, digest.digest) if algorithm in supported else None


def _b64(text: str) -> str:
    return base64.b64encode(text.encode("utf-8", "surrogateescape")).decode("ascii")
