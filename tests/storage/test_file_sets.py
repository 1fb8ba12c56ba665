"""The set journal's answers (`storage/file_sets.py`): membership through re-adds and removes, and the count
an add of a counted set returns, which `--max-unfinished` checks instead of a second read."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tusserver.storage import file_sets
from tusserver.storage.file_sets import FileUploadSets


def test_counted_add_returns_the_count_after_it(tmp_path: Path) -> None:
    sets = FileUploadSets(tmp_path, counted=True)
    assert asyncio.run(sets.add("g", "a")) == 1
    assert asyncio.run(sets.add("g", "b~5")) == 6  # a weighted member adds its weight
    assert asyncio.run(sets.add("g", "a")) == 6  # already a member: counted once
    asyncio.run(sets.remove("g", "a"))
    assert asyncio.run(sets.add("g", "a")) == 6  # removed, then added again
    assert asyncio.run(sets.count("g", 100)) == 6


def test_uncounted_add_returns_none(tmp_path: Path) -> None:
    assert asyncio.run(FileUploadSets(tmp_path).add("g", "a")) is None


def test_membership_follows_the_last_line_for_each_member(tmp_path: Path) -> None:
    sets = FileUploadSets(tmp_path, counted=True)
    for member in ("ab", "a", "abc"):  # names that are prefixes of each other
        asyncio.run(sets.add("g", member))
    asyncio.run(sets.remove("g", "a"))
    asyncio.run(sets.remove("g", "abc"))
    asyncio.run(sets.add("g", "abc"))
    asyncio.run(sets.remove("g", "ab"))
    asyncio.run(sets.remove("g", "ab"))  # a second remove changes nothing
    assert set(asyncio.run(sets.members("g", 10))) == {"abc"}
    assert asyncio.run(sets.count("g", 10)) == 1


def test_a_journal_stays_small_under_steady_traffic(tmp_path: Path) -> None:
    """Every change of a counted set reads its journal whole: compaction keeps that read near the live size."""
    sets = FileUploadSets(tmp_path, counted=True)
    live = [f"u{i:05d}" for i in range(64)]
    for member in live:
        asyncio.run(sets.add("g", member))
    for i in range(64, 3000):
        asyncio.run(sets.add("g", f"u{i:05d}"))
        asyncio.run(sets.remove("g", live.pop(0)))
        live.append(f"u{i:05d}")
    assert asyncio.run(sets.count("g", 1000)) == 64
    live_bytes = file_sets.HEADER + sum(len(f"+{m} 1765000000.000\n") for m in live)
    assert (tmp_path / "g.set").stat().st_size <= 2 * live_bytes + file_sets.SLACK + 64
