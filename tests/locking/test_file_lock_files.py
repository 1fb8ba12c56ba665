"""FileLocker removes its lock file on release and still excludes across processes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

WORKER = """
import asyncio, sys
from pathlib import Path
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
    assert sorted(p.name for p in tmp_path.iterdir()) == ["counter"]
