"""Expiration: Upload-Expires headers, 410 after expiry, the sweeper, `tusserver cleanup`, and busy uploads kept."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from email.utils import parsedate_to_datetime
from pathlib import Path

import httpx

from tests.support import TUS, LiveServer, wait_for

OCTET = {"Content-Type": "application/offset+octet-stream"}
FAST_EXPIRY = ("--expire-after", "2", "--sweep-interval", "0.5")


def patch(url: str, data: bytes, offset: int) -> httpx.Response:
    return httpx.patch(url, content=data, headers={**TUS, **OCTET, "Upload-Offset": str(offset)}, timeout=30)


def files_of(data_dir: Path, url: str) -> list[str]:
    upload_id = url.rsplit("/", 1)[1]
    return sorted(p.name for p in data_dir.iterdir() if p.name.startswith(upload_id) and not p.name.endswith(".gone"))


def assert_http_date_in_future(value: str) -> None:
    assert value.endswith(" GMT"), value
    assert parsedate_to_datetime(value).timestamp() > time.time() - 1


def test_upload_expires_headers(server_factory: object) -> None:
    server: LiveServer = server_factory("--expire-after", "3600")  # type: ignore[operator]
    r = httpx.post(server.endpoint, headers={**TUS, "Upload-Length": "10"})
    assert_http_date_in_future(r.headers["Upload-Expires"])
    url = r.headers["Location"]
    r = patch(url, b"12345", 0)
    assert_http_date_in_future(r.headers["Upload-Expires"])
    assert_http_date_in_future(httpx.head(url, headers=TUS).headers["Upload-Expires"])
    # Finished uploads are kept: no Upload-Expires once complete.
    r = patch(url, b"67890", 5)
    assert "Upload-Expires" not in r.headers
    assert "Upload-Expires" not in httpx.head(url, headers=TUS).headers


def test_expire_after_zero_means_never(server_factory: object) -> None:
    server: LiveServer = server_factory("--expire-after", "0")  # type: ignore[operator]
    r = httpx.post(server.endpoint, headers={**TUS, "Upload-Length": "10"})
    assert "Upload-Expires" not in r.headers
    assert "Upload-Expires" not in httpx.head(r.headers["Location"], headers=TUS).headers


def test_sweeper_removes_abandoned_keeps_active_and_finished(server_factory: object) -> None:
    server: LiveServer = server_factory(*FAST_EXPIRY)  # type: ignore[operator]
    finished = server.create(3)
    assert patch(finished, b"abc", 0).status_code == 204
    active = server.create(1_000_000)
    abandoned = server.create(100)
    assert patch(abandoned, b"half", 0).status_code == 204
    assert files_of(server.data_dir, abandoned)

    offset = 0
    deadline = time.monotonic() + 30
    while files_of(server.data_dir, abandoned):  # keep the active upload busy until the sweep happens
        assert time.monotonic() < deadline, "sweeper never removed the abandoned upload"
        r = patch(active, b"x" * 10, offset)
        assert r.status_code == 204, r.text
        offset += 10
        time.sleep(0.05)  # pacing the client, not waiting for the server

    r = httpx.head(abandoned, headers=TUS)
    assert r.status_code == 410, r.text
    assert patch(abandoned, b"more", 4).status_code in (404, 410)
    head = httpx.head(active, headers=TUS)
    assert head.status_code == 200 and head.headers["Upload-Offset"] == str(offset)
    assert patch(active, b"y", offset).status_code == 204
    assert httpx.head(finished, headers=TUS).status_code == 200
    assert httpx.get(finished).content == b"abc"


def test_slow_patch_spanning_expiry_is_not_swept(server_factory: object) -> None:
    """The sweeper skips an upload whose lock a running PATCH holds, even past its expiry time."""
    server: LiveServer = server_factory(*FAST_EXPIRY, "--write-buffer", "65536")  # type: ignore[operator]
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
    headers = {**TUS, **OCTET, "Upload-Offset": "0", "Content-Length": str(65536 + 1000)}
    return httpx.patch(url, content=body, headers=headers, timeout=60)


def test_cleanup_command(server_factory: object) -> None:
    # The server never sweeps by itself here, so only `tusserver cleanup` removes anything.
    server: LiveServer = server_factory("--expire-after", "1", "--sweep-interval", "3600")  # type: ignore[operator]
    finished = server.create(2)
    assert patch(finished, b"ok", 0).status_code == 204
    stale = server.create(10)
    assert patch(stale, b"12", 0).status_code == 204
    wait_for(lambda: httpx.head(stale, headers=TUS).status_code == 410, what="expiry")
    assert files_of(server.data_dir, stale)  # expired, but still on disk

    done = subprocess.run(
        [sys.executable, "-m", "tusserver", "cleanup", "--data-dir", str(server.data_dir), "--expire-after", "1"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "removed 1 expired upload" in done.stdout
    assert not files_of(server.data_dir, stale)
    assert httpx.head(stale, headers=TUS).status_code == 410
    assert httpx.get(finished).content == b"ok"
