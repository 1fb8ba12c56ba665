"""The Redis locker against a real redis-server: exclusivity, timeouts, release requests, lost leases."""

from __future__ import annotations

import asyncio
import random
import socket
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import ServerFactory
from tests.support import TUS, wait_for
from tusserver.locking.base import LockTimeout
from tusserver.locking.redis import RedisLocker

UPLOAD = "A" * 22


def _locker(url: str, **kwargs: float) -> RedisLocker:
    return RedisLocker(url, **kwargs)


def test_lease_is_renewed_while_held(redis_url: str) -> None:
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
    redis_url: str,
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


EXITS = 600


def test_letting_go_never_hangs_on_a_lost_cancellation(redis_url: str) -> None:
    """Regression: a PATCH that never answered and a lock held for ever (issue 13).

    On Python 3.11 redis-py sends each command under `asyncio.wait_for`, which drops a cancellation
    landing just as the command completes. The renewal task was stopped by `cancel()` alone, so now
    and then it kept renewing and the lock's exit waited on it for ever. Many holders letting go at
    scattered moments while their renewal tasks talk to Redis hit that window every few hundred
    exits; each exit must finish, and the lock must then be free.
    """
    rng = random.Random(13)

    async def run() -> None:
        locker, probe = _locker(redis_url, lease_s=0.03, poll_s=0), _locker(redis_url)
        hung: list[str] = []
        exits = 0

        async def holder(upload_id: str, until: float) -> None:
            nonlocal exits
            while time.monotonic() < until and not hung and exits < EXITS:
                held = locker.lock(upload_id, timeout_s=5)
                await held.__aenter__()
                for _ in range(rng.randrange(400)):  # let go at a scattered point of the renewal cycle
                    await asyncio.sleep(0)
                letting_go = asyncio.ensure_future(held.__aexit__(None, None, None))
                done, _ = await asyncio.wait({letting_go}, timeout=5)
                if not done:
                    hung.append(upload_id)
                    return
                exits += 1
                async with probe.lock(upload_id, timeout_s=0, request_release=False):
                    pass  # free again, not held by a renewal task that outlived its lock

        # Until enough exits to have hit the window before the fix, however slow a busy machine makes them.
        deadline = time.monotonic() + 120
        await asyncio.gather(*(holder(f"{i:022d}", deadline) for i in range(20)))
        await locker.aclose()
        await probe.aclose()
        assert not hung, f"letting go of {hung} never finished ({exits} exits finished)"
        assert exits >= EXITS, f"only {exits} exits in 120 s"

    asyncio.run(run())
