"""Locks across processes on one host: `flock` on a lock file per upload, plus a release-request file.

`flock` is dropped by the kernel when its holder dies, so a `kill -9` never leaves a stale lock.
The holder unlinks the lock file as it lets go (a waiter that locked the unlinked inode notices and
retries on the new file), so finished, swept or deleted uploads leave no lock files behind.
A waiting request creates `<id>.release`; the holder polls for it and, when it appears, calls its
`on_release_request` callback (which cuts its body stream) and lets go.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from ..config import Settings
from ..fileops import unlink_quietly
from ..storage.ids import check_upload_id
from .base import LockTimeout, ReleaseCallback


class FileLocker:
    def __init__(self, directory: Path, poll_s: float = 0.05) -> None:
        self.directory = Path(directory)
        self._prefix = f"{self.directory}{os.sep}"
        self.poll_s = poll_s

    @classmethod
    def from_settings(cls, settings: Settings) -> FileLocker:
        return cls(Path(settings.data_dir) / ".locks", settings.lock_poll_s)

    async def prepare(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)

    async def aclose(self) -> None:
        return None

    def _try_flock(self, path: str) -> int | None:
        for _ in range(100):  # bounded: each round loses only to a holder that just let go
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                return None
            # A holder unlinks the lock file as it lets go (so lock files do not pile up); a lock on
            # such an orphaned inode locks nothing, so only a lock on the file the path names now counts.
            try:
                current = os.stat(path)
            except FileNotFoundError:
                current = None
            mine = os.fstat(fd)
            if current is not None and (current.st_dev, current.st_ino) == (mine.st_dev, mine.st_ino):
                return fd
            os.close(fd)
        return None

    @asynccontextmanager
    async def lock(
        self,
        upload_id: str,
        *,
        timeout_s: float,
        request_release: bool = True,
        on_release_request: ReleaseCallback | None = None,
    ) -> AsyncIterator[None]:
        check_upload_id(upload_id)
        # Strings and `os` calls, not pathlib: this runs twice per request (see fileops.py).
        lock_path = f"{self._prefix}{upload_id}.lock"
        release_path = f"{self._prefix}{upload_id}.release"
        deadline = time.monotonic() + timeout_s
        fd = self._try_flock(lock_path)
        while fd is None:
            if request_release:
                os.close(os.open(release_path, os.O_WRONLY | os.O_CREAT, 0o600))
            if time.monotonic() >= deadline:
                raise LockTimeout(upload_id)
            await asyncio.sleep(self.poll_s)
            fd = self._try_flock(lock_path)
        unlink_quietly(release_path)  # it was meant for the holder before us
        watcher = None
        if on_release_request is not None:
            watcher = _ReleaseWatcher(release_path, on_release_request, max(self.poll_s * 4, 0.1))
        try:
            yield
        finally:
            if watcher is not None:
                watcher.stop()
            unlink_quietly(release_path)
            unlink_quietly(lock_path)  # while still held: waiters re-open a fresh file
            os.close(fd)  # closing the descriptor drops the flock


class _ReleaseWatcher:
    """Polls for a release request with loop timers, not a task: most locks are held for well under
    one interval, and a timer costs far less to start and cancel than a task."""

    def __init__(self, path: str, callback: ReleaseCallback, interval_s: float) -> None:
        self.path, self.callback, self.interval_s = path, callback, interval_s
        self.loop = asyncio.get_running_loop()
        self.handle: asyncio.TimerHandle | None = self.loop.call_later(interval_s, self._check)

    def _check(self) -> None:
        if os.path.exists(self.path):
            self.handle = None
            self.callback()
        else:
            self.handle = self.loop.call_later(self.interval_s, self._check)

    def stop(self) -> None:
        if self.handle is not None:
            self.handle.cancel()
            self.handle = None
