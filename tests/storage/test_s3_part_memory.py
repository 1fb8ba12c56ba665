"""`PartMemory` (`--s3-memory`): the S3 parts every PATCH of a process holds in memory, bounded together.

Before, the bound was per PATCH (`--s3-parts-in-flight` parts each): 64 uploads at once held 306 MB
of parts in the S3 benchmark, and nothing capped it for more uploads. These drive `PartWriter` with a
send that waits until the test lets it finish, so the parts held at once can be counted exactly.
"""

from __future__ import annotations

import asyncio

import pytest

from tusserver.config import Settings, SettingsError
from tusserver.storage.s3.parts import MIN_PART, MiB, PartMemory, PartWriter
from tusserver.storage.s3.store import S3Config

PART = MIN_PART


class Sends:
    """A `send` for PartWriter that records how many bytes are being sent at once."""

    def __init__(self) -> None:
        self.active = 0
        self.most = 0
        self.sent: list[int] = []
        self.release = asyncio.Event()

    async def __call__(self, number: int, body: object) -> None:
        assert isinstance(body, bytes)
        self.active += len(body)
        self.most = max(self.most, self.active)
        try:
            await self.release.wait()
            self.sent.append(number)
        finally:
            self.active -= len(body)


async def write_parts(writer: PartWriter, parts: int) -> None:
    try:
        for _ in range(parts):
            await writer.add(b"x" * PART)
        await writer.drain()
    finally:
        await writer.aclose()


def test_every_patch_of_a_process_shares_one_budget() -> None:
    async def run() -> tuple[Sends, PartMemory]:
        sends, memory = Sends(), PartMemory(2 * PART)
        writers = [PartWriter(sends, PART, 1, in_flight=3, memory=memory) for _ in range(4)]
        tasks = [asyncio.create_task(write_parts(writer, 3)) for writer in writers]
        for _ in range(50):  # let every writer fill and try to ship all it can
            await asyncio.sleep(0)
        assert sends.active == 2 * PART, "two parts fit the budget; the other PATCHes wait"
        sends.release.set()
        await asyncio.gather(*tasks)
        return sends, memory

    sends, memory = asyncio.run(run())
    assert len(sends.sent) == 12  # every part of every writer went out in the end
    assert sends.most <= 2 * PART and memory.peak <= 2 * PART  # 4 writers x 3 in flight would be 12 parts
    assert memory.held == 0


def test_a_part_larger_than_the_budget_goes_alone_and_nothing_stops() -> None:
    async def run() -> Sends:
        sends, memory = Sends(), PartMemory(PART - 1)
        sends.release.set()
        await asyncio.gather(*(write_parts(PartWriter(sends, PART, 1, 3, memory=memory), 2) for _ in range(3)))
        assert memory.held == 0
        return sends

    sends = asyncio.run(run())
    assert len(sends.sent) == 6 and sends.most <= PART


def test_a_cancelled_patch_gives_its_parts_back() -> None:
    async def run() -> PartMemory:
        sends, memory = Sends(), PartMemory(PART)
        first = asyncio.create_task(write_parts(PartWriter(sends, PART, 1, 3, memory=memory), 2))
        for _ in range(20):
            await asyncio.sleep(0)
        assert memory.held == PART  # its first part is being sent; its second waits for room
        first.cancel()
        await asyncio.sleep(0)
        sends.release.set()
        with pytest.raises(asyncio.CancelledError):
            await first
        second = PartWriter(sends, PART, 1, 3, memory=memory)
        await asyncio.wait_for(write_parts(second, 2), timeout=10)  # not stuck behind what `first` held
        return memory

    assert asyncio.run(run()).held == 0


def test_s3_memory_must_hold_one_part() -> None:
    settings = Settings(store="s3", s3_bucket="b", s3_memory_bytes=4 * MiB)
    with pytest.raises(SettingsError, match="--s3-memory"):
        S3Config.from_settings(settings)
    assert S3Config.from_settings(Settings(store="s3", s3_bucket="b")).memory_bytes == 128 * MiB
