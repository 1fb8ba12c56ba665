"""One suite for every locker: exclusivity, timeouts, and the release request."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from tusserver.errors import TusError
from tusserver.locking.base import Locker, LockTimeout
from tusserver.locking.file import FileLocker
from tusserver.locking.memory import MemoryLocker

_memory: Locker = MemoryLocker()
_file: Locker = FileLocker(Path("unused"))

ID = "upload0123456789abcdef"
OTHER = "upload0123456789zzzzzz"


@pytest.fixture(params=["memory", "file"])
def make_locker(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], Locker]:
    if request.param == "memory":
        shared = MemoryLocker()
        return lambda: shared  # one process: every request shares the table
    return lambda: FileLocker(tmp_path / "locks", poll_s=0.01)  # separate instances, like separate workers


def run(body: Callable[[], Awaitable[Any]], *lockers: Locker) -> Any:
    async def main() -> Any:
        for locker in lockers:
            await locker.prepare()
        try:
            return await asyncio.wait_for(body(), 20)
        finally:
            for locker in lockers:
                await locker.aclose()

    return asyncio.run(main())


def test_lock_is_exclusive(make_locker: Callable[[], Locker]) -> None:
    a, b = make_locker(), make_locker()
    events: list[str] = []

    async def worker(locker: Locker, name: str) -> None:
        async with locker.lock(ID, timeout_s=10, request_release=False):
            events.append(f"{name}+")
            await asyncio.sleep(0.02)
            events.append(f"{name}-")

    async def body() -> None:
        await asyncio.gather(*(worker(lk, f"w{i}") for i, lk in enumerate([a, b, a, b])))

    run(body, a, b)
    assert len(events) == 8
    for i in range(0, 8, 2):
        assert events[i].endswith("+") and events[i + 1] == events[i][:-1] + "-", events


def test_other_ids_are_independent(make_locker: Callable[[], Locker]) -> None:
    a, b = make_locker(), make_locker()

    async def body() -> None:
        async with a.lock(ID, timeout_s=1):
            async with b.lock(OTHER, timeout_s=0):
                pass

    run(body, a, b)


def test_timeout_raises_lock_timeout(make_locker: Callable[[], Locker]) -> None:
    a, b = make_locker(), make_locker()

    async def body() -> None:
        async with a.lock(ID, timeout_s=1):
            with pytest.raises(LockTimeout) as info:
                async with b.lock(ID, timeout_s=0.1, request_release=False):
                    pass
            assert isinstance(info.value, TusError) and info.value.status_code == 423

    run(body, a, b)


def test_zero_timeout_without_release_never_calls_holder(make_locker: Callable[[], Locker]) -> None:
    a, b = make_locker(), make_locker()
    calls: list[str] = []

    async def body() -> None:
        async with a.lock(ID, timeout_s=1, on_release_request=lambda: calls.append("asked")):
            for _ in range(3):
                with pytest.raises(LockTimeout):
                    async with b.lock(ID, timeout_s=0, request_release=False):
                        pass
            await asyncio.sleep(0.3)  # give a polling holder the chance to (wrongly) notice a request

    run(body, a, b)
    assert calls == []


def test_release_request_reaches_the_holder(make_locker: Callable[[], Locker]) -> None:
    a, b = make_locker(), make_locker()
    asked = asyncio.Event
    order: list[str] = []

    async def body() -> None:
        flag = asked()

        async def holder() -> None:
            async with a.lock(ID, timeout_s=1, on_release_request=flag.set):
                await asyncio.wait_for(flag.wait(), 10)
                order.append("holder released")

        task = asyncio.create_task(holder())
        await asyncio.sleep(0.05)
        async with b.lock(ID, timeout_s=10):
            order.append("waiter acquired")
        await task

    run(body, a, b)
    assert order == ["holder released", "waiter acquired"]


def test_lock_released_after_exception(make_locker: Callable[[], Locker]) -> None:
    a, b = make_locker(), make_locker()

    async def body() -> None:
        with pytest.raises(RuntimeError):
            async with a.lock(ID, timeout_s=1):
                raise RuntimeError("boom")
        async with b.lock(ID, timeout_s=0):
            pass

    run(body, a, b)


def test_file_lock_rejects_path_ids(tmp_path: Path) -> None:
    locker = FileLocker(tmp_path / "locks")

    async def body() -> None:
        with pytest.raises(TusError):
            async with locker.lock("../../escape-attempt-xx", timeout_s=0):
                pass

    run(body, locker)
    assert not (tmp_path / "escape-attempt-xx.lock").exists()


def test_file_locker_leaves_no_files_behind(tmp_path: Path) -> None:
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

    run(body, *lockers)
    assert counts == {ID: 15, OTHER: 15}
    assert list((tmp_path / "locks").iterdir()) == []


def test_file_locker_exclusive_across_threads(tmp_path: Path) -> None:
    """Separate event loops in threads interleave open/flock/unlink like separate worker processes."""
    import threading

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

        run(body, locker)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert overlaps == []
    assert list((tmp_path / "locks").iterdir()) == []
