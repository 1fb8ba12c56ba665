"""Expiration: abandoned uploads answer 410 and disappear; running and finished ones are untouched."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

from tests.conftest import ServerFactory
from tests.support import TUS, wait_for

PATCH = {**TUS, "Content-Type": "application/offset+octet-stream"}


def upload_id(url: str) -> str:
    return url.rsplit("/", 1)[1]


def test_sweeper_removes_abandoned_uploads_only(server_factory: ServerFactory, tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    server = server_factory("--expire-after", "2", "--sweep-interval", "0.3", data_dir=data_dir)
    abandoned = server.create(100)
    assert httpx.patch(abandoned, content=b"x" * 10, headers={**PATCH, "Upload-Offset": "0"}).status_code == 204
    finished = server.create(3)
    assert httpx.patch(finished, content=b"abc", headers={**PATCH, "Upload-Offset": "0"}).status_code == 204
    running = server.create(1000)
    head = httpx.head(abandoned, headers=TUS)
    assert "Upload-Expires" in head.headers
    assert "Upload-Expires" not in httpx.head(finished, headers=TUS).headers

    stop = threading.Event()
    errors: list[str] = []

    def keep_sending() -> None:
        offset = 0
        while not stop.is_set() and offset < 1000:
            r = httpx.patch(running, content=b"r", headers={**PATCH, "Upload-Offset": str(offset)})
            if r.status_code != 204:
                errors.append(f"{r.status_code} {r.text}")
                return
            offset += 1
            stop.wait(0.2)  # a slow client: one byte every 0.2 s, never idle for 2 s

    sender = threading.Thread(target=keep_sending)
    sender.start()
    try:
        wait_for(lambda: httpx.head(abandoned, headers=TUS).status_code == 410, timeout=20, what="abandoned → 410")
        wait_for(lambda: not (data_dir / upload_id(abandoned)).exists(), timeout=20, what="abandoned data removed")
        assert not (data_dir / f"{upload_id(abandoned)}.info").exists()
        assert httpx.patch(abandoned, content=b"y", headers={**PATCH, "Upload-Offset": "10"}).status_code == 410
    finally:
        stop.set()
        sender.join(10)
    assert not errors, errors
    assert httpx.head(running, headers=TUS).status_code == 200
    assert httpx.get(finished).content == b"abc"


def test_a_long_patch_is_never_swept(server_factory: ServerFactory) -> None:
    """A single PATCH that spans several expiry periods keeps its upload (the sweeper cannot take the lock)."""
    server = server_factory("--expire-after", "1", "--sweep-interval", "0.2")
    url = server.create(30)

    def slow_body() -> object:
        for _ in range(30):
            yield b"z"
            time.sleep(0.1)  # the client is slow: 3 s for 30 bytes

    r = httpx.patch(url, content=slow_body(), headers={**PATCH, "Upload-Offset": "0"}, timeout=30)
    assert r.status_code == 204, r.text
    assert httpx.get(url).content == b"z" * 30


def test_cleanup_command(server_factory: ServerFactory, tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    server = server_factory("--expire-after", "0", data_dir=data_dir)  # the server itself never sweeps
    stale = server.create(10)
    done = server.create(1)
    assert httpx.patch(done, content=b"1", headers={**PATCH, "Upload-Offset": "0"}).status_code == 204

    def cleanup() -> str:
        run = subprocess.run(
            [sys.executable, "-m", "tusserver", "cleanup", "--data-dir", str(data_dir), "--expire-after", "1"],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert run.returncode == 0, run.stderr
        return run.stdout

    output = wait_for(lambda: (out := cleanup()).startswith("removed 1 ") and out, timeout=20, what="cleanup")
    assert "removed 1 expired" in output
    assert not (data_dir / upload_id(stale)).exists()
    assert httpx.head(stale, headers=TUS).status_code == 410
    assert httpx.get(done).content == b"1"
