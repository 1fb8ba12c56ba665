"""Locks across processes on one host: byte-range locks in one long-lived file, no file per request.

Each upload owns two bytes of `<directory>/uploads.lock`, found by hashing its id (61 bits: a
collision between two live ids is as likely as guessing one): an exclusive open-file-description
lock (`F_OFD_SETLK`) on the first byte is the upload's lock, and a waiter that wants the holder to
let go holds a shared lock on the second byte while it waits. The holder probes that byte with
`F_OFD_GETLK` on a timer and, when it is held, calls its `on_release_request` callback (which cuts
its body stream) and lets go.

Why not a lock file per upload, as before: on ext4 every file created walks past the inodes freed
lately (`find_inode_bit` -> `recently_deleted`), so a lock file and a release file made and removed
per request made the next create slower, until the allocator was more than half the server's CPU
(issue #28). The lock file here is made once; locking, waiting and asking create nothing.

OFD locks are owned by the open file description, not the process: every `lock` opens the file
anew, so two requests in one process exclude each other like two workers do, and closing that
descriptor (or the holder dying, even by `kill -9`) drops the lock; no lock is ever stale.
"""

from __future__ import annotations

import asyncio
import fcntl
import hashlib
import os
import struct
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from ..config import Settings
from ..storage.ids import check_upload_id
from .base import LockTimeout, ReleaseCallback

LOCK_FILE = "uploads.lock"
_FLOCK = struct.Struct("hhqqi4x")  # struct flock on Linux: l_type, l_whence, l_start, l_len, l_pid
_SLOT_BITS = 61


def lock_byte(upload_id: str) -> int:
    """The upload's lock byte; the byte after it is its release-request byte."""
    digest = hashlib.blake2b(upload_id.encode(), digest_size=8).digest()
    return (int.from_bytes(digest, "big") & ((1 << _SLOT_BITS) - 1)) * 2


def _set(fd: int, kind: int, start: int) -> bool:
    """Take (or with F_UNLCK drop) a one-byte lock without waiting; False when another holds it."""
    try:
        fcntl.fcntl(fd, fcntl.F_OFD_SETLK, _FLOCK.pack(kind, os.SEEK_SET, start, 1, 0))
    except (BlockingIOError, PermissionError):  # EAGAIN or EACCES: held elsewhere
        return False
    return True


def _held(fd: int, start: int) -> bool:
    """True when someone else (another open of the file) holds any lock on the byte."""
    answer = fcntl.fcntl(fd, fcntl.F_OFD_GETLK, _FLOCK.pack(fcntl.F_WRLCK, os.SEEK_SET, start, 1, 0))
    return bool(_FLOCK.unpack(answer)[0] != fcntl.F_UNLCK)


class FileLocker:
    def __init__(self, directory: Path, poll_s: float = 0.05) -> None:
        self.directory = Path(directory)
        self.path = f"{self.directory}{os.sep}{LOCK_FILE}"
        self.poll_s = poll_s

    @classmethod
    def from_settings(cls, settings: Settings) -> FileLocker:
        return cls(Path(settings.data_dir) / ".locks", settings.lock_poll_s)

    async def prepare(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        os.close(os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600))

    async def aclose(self) -> None:
        return None

    def _open(self) -> int:
        # O_CREAT only makes the file if `prepare` did not (a locker used on its own); it never recreates
        # one in use, since the file is never removed.
        return os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)

    def is_locked(self, upload_id: str) -> bool:
        """Whether a request holds the upload's lock right now (for tests and diagnostics)."""
        fd = self._open()
        try:
            return _held(fd, lock_byte(check_upload_id(upload_id)))
        finally:
            os.close(fd)

    @asynccontextmanager
    async def lock(
        self,
        upload_id: str,
        *,
        timeout_s: float,
        request_release: bool = True,
        on_release_request: ReleaseCallback | None = None,
    ) -> AsyncIterator[None]:
        byte = lock_byte(check_upload_id(upload_id))
        fd = self._open()
        try:
            if not _set(fd, fcntl.F_WRLCK, byte):
                await self._wait(fd, byte, upload_id, timeout_s, request_release)
            watcher = None
            if on_release_request is not None:
                watcher = _ReleaseWatcher(fd, byte + 1, on_release_request, max(self.poll_s * 4, 0.1))
            try:
                yield
            finally:
                if watcher is not None:
                    watcher.stop()
        finally:
            os.close(fd)  # closing the only descriptor of this open drops its lock

    async def _wait(self, fd: int, byte: int, upload_id: str, timeout_s: float, request_release: bool) -> None:
        """Poll for the lock until `timeout_s`, asking the holder to let go meanwhile if `request_release`."""
        deadline = time.monotonic() + timeout_s
        asking = -1
        try:
            if request_release:
                asking = self._open()  # its own open: the request lasts exactly as long as this wait
                _set(asking, fcntl.F_RDLCK, byte + 1)  # shared: any number of waiters may ask at once
            while True:
                if time.monotonic() >= deadline:
                    raise LockTimeout(upload_id)
                await asyncio.sleep(self.poll_s)
                if _set(fd, fcntl.F_WRLCK, byte):
                    return
        finally:
            if asking >= 0:
                os.close(asking)


class _ReleaseWatcher:
    """Probes the release-request byte with loop timers, not a task: most locks are held for well under
    one interval, and a timer costs far less to start and cancel than a task."""

    def __init__(self, fd: int, byte: int, callback: ReleaseCallback, interval_s: float) -> None:
        self.fd, self.byte, self.callback, self.interval_s = fd, byte, callback, interval_s
        self.loop = asyncio.get_running_loop()
        self.handle: asyncio.TimerHandle | None = self.loop.call_later(interval_s, self._check)

    def _check(self) -> None:
        if _held(self.fd, self.byte):
            self.handle = None
            self.callback()
        else:
            self.handle = self.loop.call_later(self.interval_s, self._check)

    def stop(self) -> None:
        if self.handle is not None:
            self.handle.cancel()
            self.handle = None
