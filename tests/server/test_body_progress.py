"""Body bytes reach `/metrics` while a long PATCH is still arriving, on every body path (issue #26).

A dashboard, and a test that kills a client after N bytes, must see a slow upload move; before, the
counter moved only when the PATCH ended. The body is held half-sent on a raw socket: the counter must
pass a MiB while no answer has come, then equal the body exactly once it has.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import threading

import httpx
import pytest

from tests.client.helpers import body_bytes_received
from tests.conftest import ServerFactory
from tests.support import half_patch, read_http_response, wait_for
from tusserver.server.body_pump import PROGRESS_BYTES, Progress

MiB = 1024 * 1024

# (--body-threads, with Upload-Checksum): which path the body takes
PATHS = {
    "body-thread": ("4", False),
    "body-thread-hashing": ("4", True),
    "loop-sink": ("0", False),  # no body thread free, no hashing: the loop writes each read into the file
    "receive": ("0", True),  # no thread to hash on: the body goes through Starlette's receive()
}


@pytest.mark.parametrize("path", PATHS)
def test_the_body_byte_counter_grows_during_a_slow_patch(server_factory: ServerFactory, path: str) -> None:
    threads, checksum = PATHS[path]
    server = server_factory("--metrics", "--body-threads", threads)
    data = os.urandom(4 * MiB)
    url = server.create(len(data))
    extra = {"Upload-Checksum": "sha256 " + base64.b64encode(hashlib.sha256(data).digest()).decode()}
    sock = half_patch(server, url, data[: 2 * MiB], promised=len(data), headers=extra if checksum else None)
    with sock:
        wait_for(lambda: body_bytes_received(server.url) >= MiB, timeout=60, what="a MiB counted mid-body")
        sock.settimeout(0.05)
        with pytest.raises(TimeoutError):  # still mid-body: no answer yet
            sock.recv(1)
        sock.settimeout(60)
        sock.sendall(data[2 * MiB :])
        answer = read_http_response(sock)
    assert answer.status == 204, answer
    assert body_bytes_received(server.url) == len(data)
    assert httpx.get(url).content == data


def test_progress_tells_the_loop_in_batches_and_the_exact_sum_at_the_end() -> None:
    """The first bytes at once, then a batch per MiB (not per read), from a body thread onto the loop."""

    async def run() -> tuple[list[int], list[bool], int]:
        loop = asyncio.get_running_loop()
        progress = Progress(loop)
        told: list[int] = []
        on_loop: list[bool] = []

        def listener(size: int) -> None:
            told.append(size)
            on_loop.append(threading.get_ident() == loop_thread)

        loop_thread = threading.get_ident()
        progress.listen(listener)
        await loop.run_in_executor(None, lambda: [progress.add(16 * 1024) for _ in range(200)])
        progress.flush()
        return told, on_loop, progress.total

    told, on_loop, total = asyncio.run(run())
    assert sum(told) == total == 200 * 16 * 1024
    assert told[0] == 16 * 1024 and len(told) <= 2 + 200 * 16 * 1024 // PROGRESS_BYTES
    assert all(on_loop)


@pytest.mark.parametrize("from_thread", [True, False], ids=["body-thread", "loop"])
def test_bytes_left_pending_when_a_body_goes_quiet_are_told_without_waiting_for_more(from_thread: bool) -> None:
    """A client that sends part of a MiB and pauses is seen: a timer tells the pending bytes.

    Without it they waited for the next byte or the body's end (a post-receive StopUpload hook waiting for
    the 2 MiB mark never heard of it while the client waited for the hook's answer)."""

    async def run() -> int:
        loop = asyncio.get_running_loop()
        progress = Progress(loop)
        told: list[int] = []
        progress.listen(told.append)

        def send() -> None:
            progress.add(1024)  # the first bytes: told at once
            progress.add(PROGRESS_BYTES // 2)  # under a batch, and no more bytes come

        if from_thread:
            await loop.run_in_executor(None, send)
        else:
            send()
        deadline = loop.time() + 30
        while sum(told) < 1024 + PROGRESS_BYTES // 2 and loop.time() < deadline:
            await asyncio.sleep(0.05)  # polling the loop's timer, with a deadline
        return sum(told)

    assert asyncio.run(run()) == 1024 + PROGRESS_BYTES // 2
