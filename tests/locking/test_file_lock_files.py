"""FileLocker makes no file per upload or request and still excludes across processes, threads and coroutines."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
from pathlib import Path

from tusserver.locking.base import Locker
from tusserver.locking.file import LOCK_FILE, FileLocker

ID = "upload0123456789abcdef"
OTHER = "upload0123456789zzzzzz"

WORKER = """
import asyncio, sys
from pathlib import Path

from tusserver.locking.base import Locker
from tusserver.locking.file import FileLocker

ID = "upload0123456789abcdef"
OTHER = "upload0123456789zzzzzz"
from tusserver.locking.file import FileLocker

directory = Path(sys.argv[1])
counter = directory / "counter"

async def main() -> None:
    locker = FileLocker(directory, poll_s=0.001)
    await locker.prepare()
    for _ in range(150):
        async with locker.lock("AAAAAAAAAAAAAAAAAAAAAA", timeout_s=30, request_release=False):
            value = int(counter.read_text()) if counter.exists() else 0
            await asyncio.sleep(0)
            counter.write_text(str(value + 1))

asyncio.run(main())
"""


def test_processes_never_overlap_and_no_lock_file_is_left(tmp_path: Path) -> None:
    procs = [subprocess.Popen([sys.executable, "-c", WORKER, str(tmp_path)]) for _ in range(4)]
    for proc in procs:
        assert proc.wait(60) == 0
    # A lost update (two holders at once) would leave the counter short of 4 x 150.
    assert (tmp_path / "counter").read_text() == "600"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["counter", LOCK_FILE]


def _run(body: object, *lockers: Locker) -> None:
    async def main() -> None:
        for locker in lockers:
            await locker.prepare()
        await asyncio.wait_for(body(), 30)  # type: ignore[operator]

    asyncio.run(main())


def test_file_locker_leaves_no_files_behind(tmp_path: Path) -> None:
    """A .lock file per upload (and stale .release files) piled up forever; later, one was made per request."""
    lockers = [FileLocker(tmp_path / "locks", poll_s=0.01) for _ in range(3)]
    counts = {ID: 0, OTHER: 0}

    async def worker(locker: Locker, upload_id: str) -> None:
        for _ in range(5):
            async with locker.lock(upload_id, timeout_s=10, on_release_request=lambda: None):
                inside = counts[upload_id]
                await asyncio.sleep(0.001)
                counts[upload_id] = inside + 1  # a lost update here would mean two holders at once

    async def body() -> None:
        await asyncio.gather(*(worker(lk, uid) for lk in lockers for uid in (ID, OTHER)))

    _run(body, *lockers)
    assert counts == {ID: 15, OTHER: 15}
    assert [p.name for p in (tmp_path / "locks").iterdir()] == [LOCK_FILE]


def test_file_locker_exclusive_across_threads(tmp_path: Path) -> None:
    """Separate event loops in threads interleave open/flock/unlink like separate worker processes."""
    holders: list[int] = []
    overlaps: list[int] = []

    def worker() -> None:
        locker = FileLocker(tmp_path / "locks", poll_s=0.001)

        async def body() -> None:
            for _ in range(250):
                async with locker.lock(ID, timeout_s=20, request_release=False):
                    holders.append(1)
                    if len(holders) > 1:
                        overlaps.append(len(holders))
                    await asyncio.sleep(0)
                    holders.pop()

        _run(body, locker)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert overlaps == []
    assert [p.name for p in (tmp_path / "locks").iterdir()] == [LOCK_FILE]
