"""One suite for every locker: memory, file (flock) and Redis (a real redis-server)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from tusserver.locking.base import Locker, LockTimeout
from tusserver.locking.file import FileLocker
from tusserver.locking.memory import MemoryLocker
from tusserver.locking.redis import RedisLocker

UPLOAD = "B" * 22
_memory: Locker = MemoryLocker()
_file: Locker = FileLocker(Path("/nonexistent"))


@pytest.fixture(params=["memory", "file", "redis"])
def make_locker(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[object]:
    """A factory: memory lockers share one table (one process); others are separate instances."""
    if request.param == "memory":
        shared = MemoryLocker()
        yield lambda: shared
    elif request.param == "file":
        yield lambda: FileLocker(tmp_path / "locks", poll_s=0.01)
    else:
        url = request.getfixturevalue("redis_url")
        yield lambda: RedisLocker(url, poll_s=0.01)


def test_exclusive_with_timeout(make_locker: object) -> None:
    async def go() -> None:
        a, b = make_locker(), make_locker()  # type: ignore[operator]
        await a.prepare()
        await b.prepare()
        order: list[str] = []
        async with a.lock(UPLOAD, timeout_s=1):
            order.append("a")
            with pytest.raises(LockTimeout):
                async with b.lock(UPLOAD, timeout_s=0.1, request_release=False):
                    order.append("b-too-early")
        async with b.lock(UPLOAD, timeout_s=1):
            order.append("b")
        assert order == ["a", "b"]
        async with a.lock("C" * 22, timeout_s=0), b.lock(UPLOAD, timeout_s=0):
            pass  # different uploads never block each other

    asyncio.run(go())


def test_release_request_lets_the_waiter_in(make_locker: object) -> None:
    async def go() -> None:
        holder, waiter = make_locker(), make_locker()  # type: ignore[operator]
        await holder.prepare()
        asked = asyncio.Event()
        entered = asyncio.Event()

        async def hold() -> None:
            async with holder.lock(UPLOAD, timeout_s=1, on_release_request=asked.set):
                entered.set()
                await asyncio.wait_for(asked.wait(), 10)

        task = asyncio.create_task(hold())
        await entered.wait()
        async with waiter.lock(UPLOAD, timeout_s=10):
            assert asked.is_set()
        await task

    asyncio.run(go())


def test_no_release_request_when_not_asked(make_locker: object) -> None:
    async def go() -> None:
        holder, sweeper = make_locker(), make_locker()  # type: ignore[operator]
        await holder.prepare()
        asked: list[int] = []
        async with holder.lock(UPLOAD, timeout_s=1, on_release_request=lambda: asked.append(1)):
            with pytest.raises(LockTimeout):
                async with sweeper.lock(UPLOAD, timeout_s=0, request_release=False):
                    pass
            await asyncio.sleep(0.3)  # several watcher polls
        assert asked == []

    asyncio.run(go())


def test_lock_is_released_on_error(make_locker: object) -> None:
    async def go() -> None:
        locker = make_locker()  # type: ignore[operator]
        await locker.prepare()
        with pytest.raises(RuntimeError):
            async with locker.lock(UPLOAD, timeout_s=1):
                raise RuntimeError("boom")
        async with locker.lock(UPLOAD, timeout_s=0):
            pass

    asyncio.run(go())
