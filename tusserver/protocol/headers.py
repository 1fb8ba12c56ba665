"""Pure parsing and serialisation of tus headers: no I/O, no Starlette, unit-tested on their own."""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from ..constants import MAX_INT, OFFSET_CONTENT_TYPE
from ..errors import BadRequest, InvalidInteger, UnsupportedMediaType
from ..hashing.algorithms import Checksum
from ..hashing.repr_digest import ReprDigest, parse_repr_digest

__all__ = ["MAX_INT", "Checksum", "ReprDigest", "parse_repr_digest"]  # re-exported for the handlers

# Strict: digits only. Rejects "-1", "+5", " 5", "1e3", "0x10", "1_000" which int() would take.
_DIGITS = re.compile(r"[0-9]{1,19}")
_METADATA_KEY = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")  # an RFC 9110 token: no spaces, no commas
_B64 = re.compile(r"[A-Za-z0-9+/]*={0,2}")
_CHECKSUM_ALG = re.compile(r"[a-z0-9-]{1,32}")

Metadata = dict[str, str | None]


def check_content_type(headers: Mapping[str, str], needs: str) -> None:
    """415 unless a body is sent as `application/offset+octet-stream` (parameters ignored)."""
    content_type = headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != OFFSET_CONTENT_TYPE:
        raise UnsupportedMediaType(f"{needs} Content-Type: {OFFSET_CONTENT_TYPE}")


def parse_int(name: str, value: str | None) -> int | None:
    """A non-negative integer header, or None when absent."""
    if value is None:
        return None
    if not _DIGITS.fullmatch(value) or int(value) > MAX_INT:
        raise InvalidInteger(f"{name} must be a non-negative integer, got {value[:40]!r}")
    return int(value)


def parse_metadata(value: str | None, max_bytes: int) -> Metadata:
    """`Upload-Metadata`: comma-separated `key base64value` pairs; a key alone is allowed.

    Values stay base64 so they round-trip exactly on HEAD (they may be binary).
    """
    if value is None:
        return {}
    if len(value) > max_bytes:
        raise BadRequest(f"Upload-Metadata is longer than {max_bytes} bytes")
    result: Metadata = {}
    if not value.strip():
        return result
    for pair in value.split(","):
        parts = pair.strip().split(" ")
        if len(parts) > 2 or not parts[0]:
            raise BadRequest("Upload-Metadata pairs must be 'key base64value'")
        key = parts[0]
        if not _METADATA_KEY.fullmatch(key):
            raise BadRequest(f"Upload-Metadata key {key[:40]!r} is not a valid token")
        if key in result:
            raise BadRequest(f"Upload-Metadata key {key[:40]!r} appears twice")
        if len(parts) == 1 or parts[1] == "":
            result[key] = None
            continue
        encoded = parts[1]
        if not _B64.fullmatch(encoded) or len(encoded) % 4:
            raise BadRequest(f"Upload-Metadata value for {key[:40]!r} is not base64")
        try:
            base64.b64decode(encoded, validate=True)
        except binascii.Error:
            raise BadRequest(f"Upload-Metadata value for {key[:40]!r} is not base64") from None
        result[key] = encoded
    return result


def serialise_metadata(metadata: Metadata) -> str:
    return ",".join(key if value is None else f"{key} {value}" for key, value in metadata.items())


def metadata_text(metadata: Metadata, key: str) -> str | None:
    """Decode one metadata value as UTF-8 text, or None if absent or not text."""
    encoded = metadata.get(key)
    if not encoded:
        return None
    try:
        return base64.b64decode(encoded).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None


def parse_checksum(value: str | None, supported: frozenset[str]) -> Checksum | None:
    """`Upload-Checksum: <algorithm> <base64 digest>`; an unsupported algorithm is 400 per the spec."""
    if value is None:
        return None
    parts = value.strip().split(" ")
    if len(parts) != 2 or not _CHECKSUM_ALG.fullmatch(parts[0].lower()):
        raise BadRequest("Upload-Checksum must be '<algorithm> <base64 digest>'")
    algorithm = parts[0].lower()
    if algorithm not in supported:
        raise BadRequest(f"Upload-Checksum algorithm {algorithm!r} is not supported; use one of {sorted(supported)}")
    try:
        digest = base64.b64decode(parts[1], validate=True)
    except ValueError:  # binascii.Error, or non-ASCII text (found by tests/security/test_fuzz.py: a 500)
        raise BadRequest("Upload-Checksum digest is not base64") from None
    return Checksum(algorithm, digest)


@dataclass(frozen=True)
class Concat:
    kind: str  # "partial" or "final"
    parts: tuple[str, ...] = ()


def parse_concat(value: str | None, max_parts: int) -> Concat | None:
    """`Upload-Concat: partial` or `final;<url> <url> ...` (absolute URLs or paths)."""
    if value is None:
        return None
    value = value.strip()
    if value == "partial":
        return Concat("partial")
    if value.startswith("final;"):
        urls = tuple(u for u in value[len("final;") :].split(" ") if u)
        if not urls:
            raise BadRequest("Upload-Concat final needs at least one partial upload URL")
        if len(urls) > max_parts:
            raise BadRequest(f"Upload-Concat final names more than {max_parts} partial uploads")
        return Concat("final", urls)
    raise BadRequest("Upload-Concat must be 'partial' or 'final;<url> ...'")


def upload_id_from_url(url: str, base_path: str, own_hosts: Collection[str]) -> str | None:
    """The upload id that a relative upload URL, or an absolute one naming `own_hosts`, points to; else None.

    An absolute URL of another host is not ours even when its path looks like it: taking its id as
    local would let a final concatenation name uploads by a URL that points elsewhere.
    """
    split = urlsplit(url)
    if split.scheme and split.scheme.lower() not in ("http", "https"):
        return None
    if split.netloc and _host_key(split.netloc) not in {_host_key(h) for h in own_hosts}:
        return None
    path = unquote(split.path)
    if not path.startswith(base_path):
        return None
    rest = path[len(base_path) :]
    return rest if rest and "/" not in rest else None


def _host_key(host: str) -> str:
    """host[:port] compared without case and without a default port."""
    host = host.strip().lower()
    for default in (":80", ":443"):
        if host.endswith(default):
            return host[: -len(default)]
    return host
