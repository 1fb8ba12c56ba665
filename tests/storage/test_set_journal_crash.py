"""`kill -9` at every write of the file store's set journals (`storage/file_sets.py`): nothing is lost.

A child process runs adds and removes (compacting often) and kills itself with SIGKILL just before
its Nth write (`pwrite`, `write` or the compaction's `replace`), for every N. Whatever N, the
journal must still read, every change the child finished must be in it, a counted set's count must
never be lower than its members (a low count would let an owner past `--max-unfinished`), and
`repair` must make it exact.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tusserver.storage.file_sets import FileUploadSets

OPS = [("add", "a"), ("add", "b"), ("add", "c"), ("remove", "b"), ("add", "d"), ("remove", "a"), ("add", "e")]

CHILD = """
import asyncio, os, signal, sys
from pathlib import Path

from tusserver.storage import file_sets
from tusserver.storage.file_sets import FileUploadSets

file_sets.SLACK = 0  # compact whenever the journal doubles: the rename path is crossed too
directory, kill_at, counted = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3] == "1"
ops = [op.split(":") for op in sys.argv[4].split(",")]
writes = 0

def killing(real):
    def call(*args, **kwargs):
        global writes
        writes += 1
        if writes == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)
        return real(*args, **kwargs)
    return call

os.pwrite, os.write, os.replace = killing(os.pwrite), killing(os.write), killing(os.replace)

async def main() -> None:
    sets = FileUploadSets(directory, counted=counted)
    for done, (kind, member) in enumerate(ops):
        await (sets.add if kind == "add" else sets.remove)("g", member)
        print(done, flush=True)
    print("writes", writes, flush=True)

asyncio.run(main())
"""


def run_child(directory: Path, kill_at: int, counted: bool) -> tuple[int, list[str]]:
    ops = ",".join(f"{kind}:{member}" for kind, member in OPS)
    child = subprocess.run(
        [sys.executable, "-c", CHILD, str(directory), str(kill_at), "1" if counted else "0", ops],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    return child.returncode, child.stdout.split("\n")


def expected(ops: list[tuple[str, str]]) -> set[str]:
    members: set[str] = set()
    for kind, member in ops:
        (members.add if kind == "add" else members.discard)(member)
    return members


@pytest.mark.parametrize("counted", [True, False], ids=["counted", "plain"])
def test_a_kill_at_any_write_loses_no_finished_change(tmp_path: Path, counted: bool) -> None:
    code, lines = run_child(tmp_path / "all", 0, counted)
    assert code == 0, lines
    total = int(next(line for line in lines if line.startswith("writes")).split()[1])
    assert total > len(OPS)  # header, lines, counts and compactions
    for kill_at in range(1, total + 1):
        directory = tmp_path / f"kill-{kill_at}"
        code, lines = run_child(directory, kill_at, counted)
        assert code == -signal.SIGKILL, (kill_at, lines)
        finished = len([line for line in lines if line.isdigit()])
        asyncio.run(check(FileUploadSets(directory, counted=counted), finished, kill_at))


async def check(sets: FileUploadSets, finished: int, kill_at: int) -> None:
    members = set(await sets.members("g", 100))
    before, after = expected(OPS[:finished]), expected(OPS[: finished + 1])
    # The change in flight when the process died may have landed or not; every earlier one did.
    assert members in (before, after), (kill_at, finished, members)
    if sets.counted:
        assert await sets.count("g", 100) >= len(members), (kill_at, "a count too low")
        await sets.repair("g")
        assert await sets.count("g", 100) == len(members), kill_at
    await sets.add("g", "z")  # the journal still takes changes
    assert "z" in await sets.members("g", 100)
