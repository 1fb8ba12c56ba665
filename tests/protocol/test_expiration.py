"""Expiration: abandoned uploads answer 410 and disappear; running and finished ones are untouched."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from email.utils import parsedate_to_datetime
from pathlib import Path

import httpx

from tests.conftest import AppFactory, ServerFactory
from tests.support import PATCH, TUS, InProcessServer, LiveServer, upload_locked, wait_for


def upload_id(url: str) -> str:
    return url.rsplit("/", 1)[1]


def test_sweeper_removes_abandoned_uploads_only(app_factory: AppFactory, tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    server = app_factory("--expire-after", "2", "--sweep-interval", "0.3", data_dir=data_dir)
    abandoned = server.create(100)
    assert server.client.patch(abandoned, content=b"x" * 10, headers={**PATCH, "Upload-Offset": "0"}).status_code == 204
    finished = server.create(3)
    assert server.client.patch(finished, content=b"abc", headers={**PATCH, "Upload-Offset": "0"}).status_code == 204
    running = server.create(1000)
    head = server.client.head(abandoned, headers=TUS)
    assert "Upload-Expires" in head.headers
    assert "Upload-Expires" not in server.client.head(finished, headers=TUS).headers

    stop = threading.Event()
    errors: list[str] = []

    def keep_sending() -> None:
        offset = 0
        while not stop.is_set() and offset < 1000:
            r = server.client.patch(running, content=b"r", headers={**PATCH, "Upload-Offset": str(offset)})
            if r.status_code != 204:
                errors.append(f"{r.status_code} {r.text}")
                return
            offset += 1
            stop.wait(0.2)  # a slow client: one byte every 0.2 s, never idle for 2 s

    sender = threading.Thread(target=keep_sending)
    sender.start()
    try:
        wait_for(
            lambda: server.client.head(abandoned, headers=TUS).status_code == 410, timeout=20, what="abandoned → 410"
        )
        wait_for(lambda: not (data_dir / upload_id(abandoned)).exists(), timeout=20, what="abandoned data removed")
        assert not (data_dir / f"{upload_id(abandoned)}.info").exists()
        # The sweeper removes the bytes under the upload's lock and lets go of it just after: poll.
        wait_for(lambda: not upload_locked(data_dir, abandoned), timeout=10, what="the abandoned upload's lock let go")
        assert server.client.patch(abandoned, content=b"y", headers={**PATCH, "Upload-Offset": "10"}).status_code == 410
    finally:
        stop.set()
        sender.join(10)
    assert not errors, errors
    assert server.client.head(running, headers=TUS).status_code == 200
    assert server.client.get(finished).content == b"abc"


def test_cleanup_command(app_factory: AppFactory, tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    server = app_factory("--expire-after", "0", data_dir=data_dir)  # the server itself never sweeps
    stale = server.create(10)
    done = server.create(1)
    assert server.client.patch(done, content=b"1", headers={**PATCH, "Upload-Offset": "0"}).status_code == 204

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
    assert server.client.head(stale, headers=TUS).status_code == 410
    assert server.client.get(done).content == b"1"


FAST_EXPIRY = ("--expire-after", "2", "--sweep-interval", "0.5")


def patch(http: httpx.Client, url: str, data: bytes, offset: int) -> httpx.Response:
    return http.patch(url, content=data, headers={**PATCH, "Upload-Offset": str(offset)}, timeout=30)


def files_of(data_dir: Path, url: str) -> list[str]:
    upload_id = url.rsplit("/", 1)[1]
    return sorted(p.name for p in data_dir.iterdir() if p.name.startswith(upload_id) and not p.name.endswith(".gone"))


def assert_http_date_in_future(value: str) -> None:
    assert value.endswith(" GMT"), value
    assert parsedate_to_datetime(value).timestamp() > time.time() - 1


def test_upload_expires_headers(app_factory: AppFactory) -> None:
    server: InProcessServer = app_factory("--expire-after", "3600")
    r = server.client.post(server.endpoint, headers={**TUS, "Upload-Length": "10"})
    assert_http_date_in_future(r.headers["Upload-Expires"])
    url = r.headers["Location"]
    r = patch(server.client, url, b"12345", 0)
    assert_http_date_in_future(r.headers["Upload-Expires"])
    assert_http_date_in_future(server.client.head(url, headers=TUS).headers["Upload-Expires"])
    # Finished uploads are kept: no Upload-Expires once complete.
    r = patch(server.client, url, b"67890", 5)
    assert "Upload-Expires" not in r.headers
    assert "Upload-Expires" not in server.client.head(url, headers=TUS).headers


def test_expire_after_zero_means_never(app_factory: AppFactory) -> None:
    server: InProcessServer = app_factory("--expire-after", "0")
    r = server.client.post(server.endpoint, headers={**TUS, "Upload-Length": "10"})
    assert "Upload-Expires" not in r.headers
    assert "Upload-Expires" not in server.client.head(r.headers["Location"], headers=TUS).headers


def test_slow_patch_spanning_expiry_is_not_swept(server_factory: ServerFactory) -> None:
    """The sweeper skips an upload whose lock a running PATCH holds, even past its expiry time."""
    server: LiveServer = server_factory(*FAST_EXPIRY, "--write-buffer", "65536")
    first, rest = b"a" * 65536, b"b" * 1000
    slow = server.create(len(first) + len(rest))
    slow_file = server.data_dir / slow.rsplit("/", 1)[1]
    go_on = threading.Event()

    def body() -> Iterator[bytes]:
        yield first
        assert go_on.wait(30)
        yield rest

    result: list[httpx.Response] = []
    sender = threading.Thread(target=lambda: result.append(patch_stream(slow, body())))
    sender.start()
    try:
        # The first piece is on disk: the PATCH holds the lock and is mid-body.
        wait_for(lambda: slow_file.stat().st_size == len(first), what="first piece stored")
        # An upload created after that expires no sooner than `slow` does; once it is swept, so was
        # `slow` eligible, in the same or an earlier sweep.
        witness = server.create(10)
        wait_for(lambda: not files_of(server.data_dir, witness), timeout=20, what="witness swept")
        assert slow_file.exists()
    finally:
        go_on.set()
        sender.join(30)
    assert result and result[0].status_code == 204, result and result[0].text
    assert result[0].headers["Upload-Offset"] == str(len(first) + len(rest))
    assert httpx.get(slow).content == first + rest


def patch_stream(url: str, body: Iterator[bytes]) -> httpx.Response:
    headers = {**PATCH, "Upload-Offset": "0", "Content-Length": str(65536 + 1000)}
    return httpx.patch(url, content=body, headers=headers, timeout=60)


def test_expired_partial_cannot_be_concatenated(app_factory: AppFactory) -> None:
    server = app_factory("--expire-after", "1", "--sweep-interval", "3600")  # expired but not yet swept
    partial = server.create(10, {"Upload-Concat": "partial"})
    assert patch(server.client, partial, b"12345", 0).status_code == 204
    wait_for(lambda: server.client.head(partial, headers=TUS).status_code == 410, what="partial expired")
    r = server.client.post(server.endpoint, headers={**TUS, "Upload-Concat": f"final;{partial}"})
    assert r.status_code == 400 and "expired" in r.text


def test_upload_expires_counts_from_the_latest_write(app_factory: AppFactory) -> None:
    server = app_factory("--expire-after", "3600", "--sweep-interval", "3600")
    url = server.create(10)
    assert patch(server.client, url, b"12", 0).status_code == 204
    data_file = server.data_dir / upload_id(url)
    old = time.time() - 1000
    info_file = server.data_dir / f"{upload_id(url)}.info"
    record = json.loads(info_file.read_text())
    record["created"] = old
    info_file.write_text(json.dumps(record))
    os.utime(data_file, (old, old))  # as if the upload was made and last written 1000 s ago
    head = server.client.head(url, headers=TUS)
    assert parsedate_to_datetime(head.headers["Upload-Expires"]).timestamp() < time.time() + 2700
    r = patch(server.client, url, b"34", 2)
    assert parsedate_to_datetime(r.headers["Upload-Expires"]).timestamp() > time.time() + 3500
