"""Regression tests for bugs found and fixed on the core-tests branch (each fails without its fix)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import threading
from pathlib import Path

import httpx
import pytest

from tests.conftest import ServerFactory
from tests.support import TUS, LiveServer, wait_for
from tusserver.locking.base import Locker
from tusserver.locking.file import FileLocker

OCTET = "application/offset+octet-stream"
ID = "upload0123456789abcdef"
OTHER = "upload0123456789zzzzzz"


def head_offset(url: str) -> int:
    r = httpx.head(url, headers=TUS, timeout=15)
    assert r.status_code == 200, r.status_code
    return int(r.headers["Upload-Offset"])


def half_patch(server: LiveServer, url: str, declared: int, sent: bytes) -> socket.socket:
    """A PATCH that announces `declared` bytes, sends `sent`, and then goes silent with the socket open."""
    path = url.split(str(server.port), 1)[1]
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    request = (
        f"PATCH {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nTus-Resumable: 1.0.0\r\nUpload-Offset: 0\r\n"
        f"Content-Type: {OCTET}\r\nContent-Length: {declared}\r\n\r\n"
    ).encode()
    sock.sendall(request + sent)
    return sock


def finished(server: LiveServer, data: bytes) -> str:
    headers = {**TUS, "Upload-Length": str(len(data)), "Content-Type": OCTET}
    r = httpx.post(server.endpoint, headers=headers, content=data)
    assert r.status_code == 201
    return r.headers["Location"]


@pytest.mark.parametrize("range_", ["bytes=-5", "bytes=0-", "bytes=0-0"])
def test_any_range_of_an_empty_upload_is_416(server: LiveServer, range_: str) -> None:
    """Was 206 with `Content-Range: bytes 0--1/0` for a suffix range."""
    r = httpx.get(server.create(0), headers={"Range": range_})
    assert r.status_code == 416
    assert r.headers["Content-Range"] == "bytes */0"


def test_suffix_longer_than_the_upload(server: LiveServer) -> None:
    r = httpx.get(finished(server, b"abc"), headers={"Range": "bytes=-10"})
    assert r.status_code == 206 and r.content == b"abc"
    assert r.headers["Content-Range"] == "bytes 0-2/3"


def test_get_response_carries_tus_resumable(server: LiveServer) -> None:
    """The spec wants Tus-Resumable on every response but OPTIONS."""
    r = httpx.get(finished(server, b"abc"))
    assert r.status_code == 200 and r.headers["Tus-Resumable"] == "1.0.0"


def test_proxy_proto_is_case_insensitive(server_factory: ServerFactory) -> None:
    """`proto=HTTPS` gave an http:// Location."""
    server = server_factory("--behind-proxy")
    headers = {**TUS, "Upload-Length": "1", "Forwarded": 'for=10.0.0.1;host="c.example:8443";proto=HTTPS, host=d'}
    r = httpx.post(server.endpoint, headers=headers)
    assert r.headers["Location"].startswith("https://c.example:8443/files/")


def test_sigterm_is_not_blocked_by_a_stalled_client(server_factory: ServerFactory) -> None:
    """A silent client kept the server from stopping on SIGTERM forever; now --shutdown-timeout cuts it."""
    server = server_factory("--shutdown-timeout", "1")
    data = os.urandom(50_000)
    url = server.create(len(data))
    sent = data[:20_000]
    sock = half_patch(server, url, len(data), sent)
    try:
        assert server.proc is not None
        # Once the PATCH holds the upload's lock it is a request in flight, not an idle connection.
        lock_file = server.data_dir / ".locks" / (url.rsplit("/", 1)[1] + ".lock")
        wait_for(lock_file.exists, timeout=20, what="the PATCH to take the lock")
        os.killpg(server.proc.pid, signal.SIGTERM)
        wait_for(lambda: server.proc is not None and server.proc.poll() is not None, timeout=20, what="exit")
        response = sock.recv(4096)
        assert response == b"" or response.startswith(b"HTTP/1.1 204")
    finally:
        sock.close()
    server.start()
    assert head_offset(url) == len(sent)  # the stalled PATCH's bytes were kept, not lost


@pytest.mark.parametrize("store", ["file", "memory"])  # file locker and memory locker
def test_stalled_patch_is_cut_by_the_next_request(server_factory: ServerFactory, store: str) -> None:
    server = server_factory("--lock-timeout", "5", "--store", store)
    data = os.urandom(200_000)
    url = server.create(len(data))
    sent = data[:70_000]
    sock = half_patch(server, url, len(data), sent)
    try:
        assert wait_for(lambda: head_offset(url) == len(sent) or None, timeout=20, what="stored offset")
        rest = httpx.patch(
            url, headers={**TUS, "Upload-Offset": str(len(sent)), "Content-Type": OCTET}, content=data[len(sent) :]
        )
        assert rest.status_code == 204, rest.text
        assert httpx.get(url).content == data
    finally:
        sock.close()


def test_delete_cuts_a_stalled_patch_and_nothing_comes_back(server_factory: ServerFactory) -> None:
    server = server_factory("--lock-timeout", "5")
    url = server.create(100_000)
    upload_id = url.rsplit("/", 1)[1]
    sock = half_patch(server, url, 100_000, b"q" * 30_000)
    try:
        lock_file = server.data_dir / ".locks" / f"{upload_id}.lock"
        wait_for(lock_file.exists, timeout=20, what="the PATCH to take the lock")
        r = httpx.delete(url, headers=TUS, timeout=15)
        assert r.status_code == 204, r.text
        assert httpx.head(url, headers=TUS).status_code == 410
        with contextlib.suppress(OSError):  # the dead PATCH's client wakes up: nothing may resurrect it
            sock.sendall(b"q" * 1000)
    finally:
        sock.close()
    assert httpx.head(url, headers=TUS).status_code == 410
    assert not (server.data_dir / upload_id).exists()


def _run(body: object, *lockers: Locker) -> None:
    async def main() -> None:
        for locker in lockers:
            await locker.prepare()
        await asyncio.wait_for(body(), 30)  # type: ignore[operator]

    asyncio.run(main())


def test_file_locker_leaves_no_files_behind(tmp_path: Path) -> None:
    """A .lock file per upload (and stale .release files) piled up forever."""
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

    _run(body, *lockers)
    assert counts == {ID: 15, OTHER: 15}
    assert list((tmp_path / "locks").iterdir()) == []


def test_file_locker_exclusive_across_threads(tmp_path: Path) -> None:
    """Separate event loops in threads interleave open/flock/unlink like separate worker processes."""
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

        _run(body, locker)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert overlaps == []
    assert list((tmp_path / "locks").iterdir()) == []
