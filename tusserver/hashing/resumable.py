"""SHA-256 and SHA-512 whose running state can be saved as bytes and resumed in another process.

hashlib objects cannot be pickled or exported, so an instance that takes over an upload would have to
hash every stored byte again (for an S3 upload, download it). OpenSSL's low-level SHA256_* and SHA512_*
functions keep their state in a plain struct (`SHA256_CTX`: eight words of chain value, the bit
count, the pending block, its fill): copying those bytes out and back is the whole trick. They are
deprecated in OpenSSL 3 but still exported by libcrypto 1.1 and 3, and they are the same assembly
that hashlib runs, so speed is unchanged; ctypes releases the GIL during each call, so hashing in a
worker thread still runs beside the event loop. (The `rehash` package does the same by reaching
into hashlib's private object layout, which changes between Python versions; this one depends only
on OpenSSL's public, frozen struct.)

A saved state carries a tag (algorithm, OpenSSL version, struct size, byte order): an instance on a
different OpenSSL or machine refuses it (`restore` returns None) and the caller re-reads instead.
Without libcrypto `available()` is False and callers use hashlib and re-reading, as before.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys
from dataclasses import dataclass
from functools import cache
from typing import Any

# sizeof(SHA256_CTX) = 8*4 + 2*4 + 16*4 + 2*4; sizeof(SHA512_CTX) = 8*8 + 2*8 + 16*8 + 2*4 (+4 padding)
_CTX_SIZES = {"sha-256": 112, "sha-512": 216}
_DIGEST_SIZES = {"sha-256": 32, "sha-512": 64}
_PREFIXES = {"sha-256": "SHA256", "sha-512": "SHA512"}


@dataclass(frozen=True)
class _Functions:  # ctypes function pointers (their class is private to ctypes, hence Any)
    init: Any
    update: Any
    final: Any


@dataclass(frozen=True)
class _Library:
    functions: dict[str, _Functions]
    tag: bytes  # OpenSSL version + byte order: states travel only between identical builds


@cache
def _library() -> _Library | None:
    names = [ctypes.util.find_library("crypto"), "libcrypto.so.3", "libcrypto.so.1.1", "libcrypto.dylib"]
    for name in filter(None, names):
        try:
            lib = ctypes.CDLL(name)  # CDLL (not PyDLL): the GIL is released during each call
            functions: dict[str, _Functions] = {}
            for algorithm, prefix in _PREFIXES.items():
                init, update, final = (getattr(lib, f"{prefix}_{step}") for step in ("Init", "Update", "Final"))
                init.argtypes, init.restype = [ctypes.c_void_p], ctypes.c_int
                update.argtypes, update.restype = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t], ctypes.c_int
                final.argtypes, final.restype = [ctypes.c_char_p, ctypes.c_void_p], ctypes.c_int
                functions[algorithm] = _Functions(init, update, final)
        except (OSError, AttributeError):
            continue
        return _Library(functions, _version_tag(lib))
    return None


def _version_tag(lib: ctypes.CDLL) -> bytes:
    try:
        version_fn = lib.OpenSSL_version_num
    except AttributeError:  # OpenSSL < 1.1
        return b"unknown:" + sys.byteorder.encode()
    version_fn.restype = ctypes.c_ulong
    return f"{version_fn():x}:{sys.byteorder}".encode()


def available() -> bool:
    return _library() is not None


class ResumableSha:
    """A `Hasher` for "sha-256" or "sha-512" whose state `save()`s to bytes and `restore()`s from them."""

    def __init__(self, algorithm: str, _ctx: ctypes.Array[ctypes.c_char] | None = None) -> None:
        library = _library()
        if library is None:
            raise RuntimeError("libcrypto is not available")
        self.algorithm = algorithm
        self._fns = library.functions[algorithm]
        if _ctx is None:
            _ctx = ctypes.create_string_buffer(_CTX_SIZES[algorithm])
            self._fns.init(_ctx)
        self._ctx = _ctx

    def update(self, data: bytes, /) -> None:
        self._fns.update(self._ctx, bytes(data) if not isinstance(data, bytes) else data, len(data))

    def digest(self) -> bytes:
        """The digest of what was fed so far; the running state is left as it was (like hashlib)."""
        ctx = ctypes.create_string_buffer(self._ctx.raw, len(self._ctx))
        out = ctypes.create_string_buffer(_DIGEST_SIZES[self.algorithm])
        self._fns.final(out, ctx)
        return out.raw

    def save(self) -> bytes:
        library = _library()
        assert library is not None
        return _header(self.algorithm, library.tag) + self._ctx.raw

    @classmethod
    def restore(cls, algorithm: str, saved: bytes) -> ResumableSha | None:
        """The hasher `saved` was made from, or None if it was made elsewhere (other algorithm, OpenSSL, machine)."""
        library = _library()
        if library is None or algorithm not in _CTX_SIZES:
            return None
        header = _header(algorithm, library.tag)
        raw = saved[len(header) :]
        if not saved.startswith(header) or len(raw) != _CTX_SIZES[algorithm]:
            return None
        return cls(algorithm, ctypes.create_string_buffer(raw, len(raw)))


def _header(algorithm: str, tag: bytes) -> bytes:
    return b"tusserver-sha-state-1\x00" + algorithm.encode() + b"\x00" + tag + b"\x00"
