"""Whole-file reads, writes and quiet unlinks with plain `os` calls on string paths.

The local store and the file locker run these on every request; pathlib objects cost more than the
syscalls themselves there (about a tenth of the server's time on small uploads, measured with py-spy).
"""

from __future__ import annotations

import contextlib
import os

READ_BYTES = 65536


def read_file(path: str) -> bytes:
    """The whole of a small file (a record, a marker) in one `read` when it is smaller than READ_BYTES.

    A read of a regular file returns fewer bytes than asked only at its end, so a short read ends the
    loop without the second `read` that would only confirm it (one syscall of ~7 per small request).
    """
    fd = os.open(path, os.O_RDONLY)
    try:
        chunks = []
        while chunk := os.read(fd, READ_BYTES):
            chunks.append(chunk)
            if len(chunk) < READ_BYTES:
                break
        return b"".join(chunks)
    finally:
        os.close(fd)


def write_file(path: str, data: bytes, flags: int = 0) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | flags, 0o666)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    finally:
        os.close(fd)


def pwrite_all(fd: int, data: bytes | memoryview, position: int) -> None:
    """`data` at `position`, however many calls it takes (a short write is rare on regular files, not impossible)."""
    view = memoryview(data)
    while view:
        done = os.pwrite(fd, view, position)
        view, position = view[done:], position + done


def unlink_quietly(path: str) -> None:
    """Remove `path` if it is there; a missing file is what the caller wanted anyway."""
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
