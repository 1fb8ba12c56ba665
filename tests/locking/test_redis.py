"""The Redis locker against a real redis-server: exclusivity, timeouts, release requests, lost leases."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import httpx
import pytest

from tests.conftest import ServerFactory
from tests.redis_support import redis_url  # noqa: F401 - fixture
from tests.support import TUS, wait_for
from tusserver.locking.base import Locker, LockTimeout
from tusserver.locking.redis import RedisLocker

UPLOAD = "A" * 22


def _locker(url: str, **kwargs: float) -> RedisLocker:
    return RedisLocker(url, **kwargs)


def test_conforms_to_protocol(redis_url: str) -> None:  # noqa: F811
    locker: Locker = _locker(redis_url)
    assert isinstance(locker, Locker)


def test_exclusive_and_timeout(redis_url: str) -> None:  # noqa: F811
    async def run() -> None:
        a, b = _locker(redis_url), _locker(redis_url)
        await a.prepare()
        async with a.lock(UPLOAD, timeout_s=1):
            with pytest.raises(LockTimeout):
                async with b.lock(UPLOAD, timeout_s=0.2, request_release=False):
                    pass
        async with b.lock(UPLOAD, timeout_s=1):  # free again after release
            pass
        await a.aclose()
        await b.aclose()

    asyncio.run(run())


def test_release_request_reaches_holder_in_another_instance(redis_url: str) -> None:  # noqa: F811
    async def run() -> None:
        holder, waiter = _locker(redis_url), _locker(redis_url)
        asked = asyncio.Event()
        release = asyncio.Event()

        async def hold() -> None:
            async with holder.lock(UPLOAD, timeout_s=1, on_release_request=asked.set):
                await release.wait()

        task = asyncio.create_task(hold())
        deadline = asyncio.get_running_loop().time() + 5
        while not await holder._client.exists(f"tusserver:lock:{UPLOAD}"):
            assert asyncio.get_running_loop().time() < deadline, "holder never took the lock"
            await asyncio.sleep(0.01)

        async def waiter_acquires() -> None:
            async with waiter.lock(UPLOAD, timeout_s=5):
                pass

        acquiring = asyncio.create_task(waiter_acquires())
        await asyncio.wait_for(asked.wait(), 5)
        release.set()
        await asyncio.wait_for(acquiring, 5)
        await task
        await holder.aclose()
        await waiter.aclose()

    asyncio.run(run())


def test_try_lock_without_release_request_leaves_holder_alone(redis_url: str) -> None:  # noqa: F811
    async def run() -> None:
        holder, sweeper = _locker(redis_url), _locker(redis_url)
        asked: list[bool] = []
        async with holder.lock(UPLOAD, timeout_s=1, on_release_request=lambda: asked.append(True)):
            with pytest.raises(LockTimeout):
                async with sweeper.lock(UPLOAD, timeout_s=0, request_release=False):
                    pass
            await asyncio.sleep(0.5)  # several watcher polls: none may see a request
        assert asked == []
        await holder.aclose()
        await sweeper.aclose()

    asyncio.run(run())


def test_lease_is_renewed_while_held(redis_url: str) -> None:  # noqa: F811
    async def run() -> None:
        holder, other = _locker(redis_url, lease_s=0.5), _locker(redis_url)
        async with holder.lock(UPLOAD, timeout_s=1):
            await asyncio.sleep(1.2)  # more than two leases: only renewal keeps it
            with pytest.raises(LockTimeout):
                async with other.lock(UPLOAD, timeout_s=0, request_release=False):
                    pass
        await holder.aclose()
        await other.aclose()

    asyncio.run(run())


def test_two_instances_share_uploads_and_cut_a_dead_patch(
    server_factory: ServerFactory,
    redis_url: str,  # noqa: F811
    tmp_path: Path,
) -> None:
    """Two servers, one data dir, Redis locks: a PATCH hanging on A is cut when the client resumes on B."""
    data = tmp_path / "shared"
    a = server_factory("--locker", "redis", "--redis-url", redis_url, data_dir=data)
    b = server_factory("--locker", "redis", "--redis-url", redis_url, data_dir=data)
    url_on_a = a.create(1000)
    upload_path = httpx.URL(url_on_a).path

    # A client sends 400 of 1000 promised bytes to A, then goes silent with the connection open.
    sock = socket.create_connection(("127.0.0.1", a.port))
    head = (
        f"PATCH {upload_path} HTTP/1.1\r\nHost: 127.0.0.1\r\nTus-Resumable: 1.0.0\r\n"
        "Upload-Offset: 0\r\nContent-Type: application/offset+octet-stream\r\nContent-Length: 1000\r\n\r\n"
    )
    sock.sendall(head.encode() + b"x" * 400)
    try:
        url_on_b = f"{b.url}{upload_path}"
        # Resuming on B asks A (through Redis) to let go; A keeps the 400 bytes.
        head_b = wait_for(
            lambda: (
                (r := httpx.head(url_on_b, headers=TUS, timeout=15)).status_code == 200
                and r.headers["Upload-Offset"] == "400"
                and r
            ),
            timeout=15,
            what="HEAD on B to see A's 400 bytes",
        )
        assert head_b.headers["Upload-Length"] == "1000"
        r = httpx.patch(
            url_on_b,
            content=b"y" * 600,
            headers={**TUS, "Upload-Offset": "400", "Content-Type": "application/offset+octet-stream"},
            timeout=15,
        )
        assert r.status_code == 204, r.text
        assert r.headers["Upload-Offset"] == "1000"
        assert httpx.get(url_on_a).content == b"x" * 400 + b"y" * 600
    finally:
        sock.close()
