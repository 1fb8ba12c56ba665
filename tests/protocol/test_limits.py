"""In-process checks of uploads/limits.py and the assembly back-off that a live server cannot show."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from tusserver.config import Settings
from tusserver.errors import UploadGone
from tusserver.locking.memory import MemoryLocker
from tusserver.models import UploadInfo
from tusserver.protocol.context import TusContext
from tusserver.storage.file_sets import FileUploadSets
from tusserver.storage.memory import MemoryStore
from tusserver.storage.s3.sets import S3UploadSets
from tusserver.storage.upload_sets import MemoryUploadSets, UploadSets, weighted
from tusserver.uploads import state
from tusserver.wiring import build


class CountingStore(MemoryStore):
    def __init__(self) -> None:
        super().__init__()
        self.reads = 0

    async def get_info(self, upload_id: str) -> UploadInfo:
        self.reads += 1
        return await super().get_info(upload_id)


def context(**settings: object) -> tuple[TusContext, CountingStore]:
    store = CountingStore()
    backends = build(Settings(store="memory", **settings), store=store, locker=MemoryLocker())  # type: ignore[arg-type]
    ctx = TusContext(backends.settings, backends.uploads)
    return ctx, store


async def make_parts(store: MemoryStore, count: int, length: int, filled: bool) -> list[str]:
    ids = []
    for i in range(count):
        info = UploadInfo(id=f"part-{i:04d}-{'x' * 16}", length=length, concat="partial")
        await store.create(info)
        if filled:

            async def body(data: bytes = b"p" * length) -> object:
                yield data

            await store.write_chunk(info, body())  # type: ignore[arg-type]
        ids.append(info.id)
    return ids


async def parked_final(
    ctx: TusContext, store: MemoryStore, parts: int, length: int, letter: str
) -> tuple[str, list[str]]:
    """A final over `parts` unfinished parts, scheduled once: it parks until they finish. Its id, its parts'."""
    ids = await make_parts(store, parts, length, filled=False)
    final = UploadInfo(id="final-" + letter * 16, length=parts * length, concat="final", parts=ids)
    await store.create(final)
    ctx.uploads.assembler.schedule(final.id)
    await asyncio.gather(*ctx.uploads.assembler.tasks)
    return final.id, ids


def test_assembly_discards_a_final_over_its_recorded_limit() -> None:
    """Two deferred lengths declared at once can both pass the PATCH check; assembly is the backstop."""

    async def scenario() -> None:
        ctx, store = context()
        parts = await make_parts(store, 2, 600, filled=True)
        final = UploadInfo(id="final-" + "f" * 16, length=None, concat="final", parts=parts, max_length=1000)
        await store.create(final)
        await ctx.uploads.assembler.assemble(final.id)
        with pytest.raises(UploadGone):
            await store.get_info(final.id)

    asyncio.run(scenario())


def test_a_parked_final_does_not_reread_its_parts_on_every_head(monkeypatch: pytest.MonkeyPatch) -> None:
    async def scenario() -> None:
        ctx, store = context()
        assembler = ctx.uploads.assembler
        final_id, _ = await parked_final(ctx, store, 500, 1, "g")
        first = store.reads
        assert first >= 500  # the first attempt reads every part and finds them unfinished
        for _ in range(200):  # what 200 HEADs do
            assembler.schedule(final_id)
            await asyncio.gather(*assembler.tasks)
        assert store.reads == first
        monkeypatch.setattr("tusserver.uploads.state.time.monotonic", lambda: 1e12)  # the back-off has passed
        assembler.schedule(final_id)
        await asyncio.gather(*assembler.tasks)
        assert store.reads > first  # re-checked: a lost wake-up or a restart never strands a final

    asyncio.run(scenario())


@pytest.mark.parametrize("kind", ["memory", "file", "file-counted"])
def test_upload_sets(kind: str, tmp_path: Path) -> None:
    async def scenario() -> None:
        sets = MemoryUploadSets() if kind == "memory" else FileUploadSets(tmp_path, counted=kind == "file-counted")
        for member in ("a", "b", "c"):
            await sets.add("g", member)
        await sets.add("g", "a")  # a set: no duplicates
        assert await sets.count("g", 10) == 3 and await sets.count("g", 2) == 2
        assert set(await sets.members("g", 10)) == {"a", "b", "c"}
        for member in ("a", "b", "c", "c"):
            await sets.remove("g", member)
        assert await sets.count("g", 10) == 0 and await sets.members("other", 10) == {}

    asyncio.run(scenario())


@pytest.mark.parametrize("kind", ["memory", "file-counted", "s3"])
def test_walking_upload_sets_sees_every_member_of_every_group(kind: str, tmp_path: Path, request: Any) -> None:
    """The expiry sweeper walks the sets instead of listing every upload: it must see each member once."""
    sets: UploadSets
    if kind == "s3":
        s3 = request.getfixturevalue("s3_server")
        sets = S3UploadSets(s3.client(), s3.bucket, "p/.sets/unfinished/")
    else:
        sets = MemoryUploadSets() if kind == "memory" else FileUploadSets(tmp_path, counted=True)

    async def scenario() -> None:
        before = time.time() - 5
        for group, member in [("g1", "a"), ("g1", "b"), ("g2", "c")]:
            await sets.add(group, member)
        await sets.remove("g1", "b")
        walked = [entry async for entry in sets.walk()]
        assert sorted((group, member) for group, member, _ in walked) == [("g1", "a"), ("g2", "c")]
        assert all(before < added < time.time() + 5 for _, _, added in walked)

    asyncio.run(scenario())


@pytest.mark.parametrize("kind", ["memory", "file", "file-counted", "s3"])
def test_weighted_members_count_their_weight(kind: str, tmp_path: Path, request: Any) -> None:
    """`--max-owner-bytes` keeps each upload's bytes as a weighted member; a count is their sum."""
    sets: UploadSets
    if kind == "s3":
        s3 = request.getfixturevalue("s3_server")
        sets = S3UploadSets(s3.client(), s3.bucket, "p/.sets/bytes/")
    else:
        sets = MemoryUploadSets() if kind == "memory" else FileUploadSets(tmp_path, counted=kind == "file-counted")

    async def scenario() -> None:
        await sets.add("g", weighted("a", 1000))
        await sets.add("g", weighted("b", 24))
        await sets.add("g", "c")  # a plain member weighs 1
        assert await sets.count("g", 10**9) == 1025 and await sets.count("g", 100) == 100
        await sets.remove("g", weighted("a", 1000))
        await sets.repair("g")
        assert await sets.count("g", 10**9) == 25

    asyncio.run(scenario())


def test_a_skewed_count_is_repaired_from_the_entries(tmp_path: Path) -> None:
    """A crash between a member's line and its count update leaves the count off; repair recounts."""

    async def scenario() -> None:
        sets = FileUploadSets(tmp_path, counted=True)
        for member in ("a", "b"):
            await sets.add("g", member)
        journal = tmp_path / "g.set"
        journal.write_bytes(b"7 32".ljust(31) + b"\n" + journal.read_bytes()[32:])
        assert await sets.count("g", 100) == 7
        await sets.repair("g")
        assert await sets.count("g", 100) == 2

    asyncio.run(scenario())


def test_parking_forgets_the_finals_of_a_part_that_is_deleted_or_expires() -> None:
    """A part that never finishes must not keep its entry in `_waiting` until the process restarts."""

    async def scenario() -> None:
        ctx, store = context()
        assembler = ctx.uploads.assembler
        _, parts = await parked_final(ctx, store, 2, 10, "h")
        waiting = assembler.parking._waiting  # type: ignore[attr-defined]
        assert set(waiting) == set(parts)
        await ctx.uploads.ledger.remove(await store.get_info(parts[0]))  # what DELETE and the sweeper do
        assert set(waiting) == {parts[1]}

    asyncio.run(scenario())


def test_parking_of_waiting_finals_is_bounded() -> None:
    parking = state.MemoryFinalParking()
    for n in range(state._MAX_ENTRIES + 10):
        parking.wait_on(f"part-{n}", "final")
    assert 0 < len(parking._waiting) <= state._MAX_ENTRIES
    for n in range(state._MAX_ENTRIES + 10):  # one part named by ever more finals
        parking.wait_on("popular", f"final-{n}")
    assert 0 < len(parking._waiting["popular"]) <= state._MAX_ENTRIES
