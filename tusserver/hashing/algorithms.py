"""The one `Hasher` interface and the algorithms behind `Upload-Checksum` and `Repr-Digest`.

Every hasher is fed while bytes stream to storage (by the body pump's hashing thread, or on the
loop), so the interface is hashlib's: `update` with any bytes-like object, `digest` at the end.
"""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol


class Hasher(Protocol):
    def update(self, data: bytes, /) -> None: ...

    def digest(self) -> bytes: ...


@dataclass(frozen=True)
class Checksum:
    """A parsed `Upload-Checksum`: the algorithm (a key of `ALGORITHMS`) and the digest the body must have."""

    algorithm: str
    digest: bytes


class _Crc32:
    """zlib.crc32 behind the hashlib interface; digest is 4 big-endian bytes (as tusd and tus-js-client do)."""

    def __init__(self) -> None:
        self._value = 0

    def update(self, data: bytes, /) -> None:
        self._value = zlib.crc32(data, self._value)

    def digest(self) -> bytes:
        return self._value.to_bytes(4, "big")


ALGORITHMS: dict[str, Callable[[], Hasher]] = {
    "sha1": hashlib.sha1,
    "md5": hashlib.md5,
    "sha256": hashlib.sha256,
    "sha512": hashlib.sha512,
    "crc32": _Crc32,
}
SUPPORTED = frozenset(ALGORITHMS)


def new_hasher(algorithm: str) -> Hasher:
    return ALGORITHMS[algorithm]()


DIGEST_ALGORITHMS: dict[str, Callable[[], Hasher]] = {"sha-256": hashlib.sha256, "sha-512": hashlib.sha512}


def new_digest_hasher(algorithm: str) -> Hasher:
    """A hasher for a `Repr-Digest` algorithm ("sha-256" or "sha-512")."""
    return DIGEST_ALGORITHMS[algorithm]()
