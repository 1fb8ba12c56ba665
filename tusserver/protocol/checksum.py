"""Checksum algorithms for `Upload-Checksum`, as incremental hashers fed while bytes stream to storage."""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import Callable
from typing import Protocol


class Hasher(Protocol):
    def update(self, data: bytes, /) -> None: ...

    def digest(self) -> bytes: ...


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
