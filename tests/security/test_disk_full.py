"""A data directory that runs out of space: a real server on an 8 MiB tmpfs, filled by uploads and by a filler file.

Before: every DELETE answered 500 and the sweeper failed every interval (termination wrote a tombstone
before it removed anything), a full disk during a PATCH was a 500, and failed creates left `<id>` and
`<id>.info.<pid>.tmp` behind. Now: 507 with the bytes that fit kept and counted, removal that frees
space without needing any, and nothing left behind by a failed request.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.support import TUS, LiveServer, small_tmpfs, wait_for

MiB = 1024 * 1024
DISK_BYTES = 8 * MiB
PATCH_HEADERS = {**TUS, "Content-Type": "application/offset+octet-stream"}
Start = Callable[..., LiveServer]


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[Path]:
    """A small tmpfs: real ENOSPC at a known size, on any host where we are root."""
    with small_tmpfs(tmp_path / "disk", DISK_BYTES, "the data directory") as directory:
        yield directory


@pytest.fixture
def start(disk: Path) -> Iterator[Start]:
    """Servers on the small disk, stopped before it is unmounted (this fixture's teardown runs first)."""
    started: list[LiveServer] = []

    def run(*args: str) -> LiveServer:
        server = LiveServer(disk, *args).start()  # its log goes next to the mount, not onto the full disk
        started.append(server)
        return server

    yield run
    for server in started:
        server.stop()


def fill(directory: Path, limit: int | None = None) -> Path:
    """Write a filler file until the disk is full (or `limit` bytes are written)."""
    filler = directory / "filler"
    with open(filler, "ab", buffering=0) as f:
        block = b"\0" * (64 * 1024)
        written = 0
        while limit is None or written < limit:
            try:
                f.write(block)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC
                break
            written += len(block)
    return filler


def free_bytes(directory: Path) -> int:
    st = os.statvfs(directory)
    return st.f_bavail * st.f_frsize


def upload_id(url: str) -> str:
    return url.rsplit("/", 1)[1]


def patch(url: str, offset: int, body: bytes) -> httpx.Response:
    return httpx.patch(url, content=body, headers={**PATCH_HEADERS, "Upload-Offset": str(offset)}, timeout=60)


def head_offset(url: str) -> int:
    r = httpx.head(url, headers=TUS)
    assert r.status_code == 200, r.status_code
    return int(r.headers["Upload-Offset"])


def leftovers(directory: Path) -> list[str]:
    """Temporary files, or data files without a record."""
    names = set(os.listdir(directory))
    tmp = [n for n in names if n.endswith(".tmp") or n.endswith(".assembling")]
    orphans = [n for n in names if "." not in n and n != "filler" and f"{n}.info" not in names]
    return sorted(tmp + orphans)


def fill_with_upload(server: LiveServer, size: int = 12 * MiB) -> tuple[str, bytes, int]:
    """PATCH more than the disk holds: the answer is 507 and the bytes that fit are stored and counted."""
    data = os.urandom(size)
    url = server.create(len(data))
    r = patch(url, 0, data)
    assert r.status_code == 507, (r.status_code, r.text)
    assert r.text.count("\n") == 1 and "no space" in r.text, r.text  # one line, and no traceback
    offset = head_offset(url)
    stored = (server.data_dir / upload_id(url)).read_bytes()
    assert 0 < offset < size and len(stored) == offset
    assert stored == data[:offset]  # the bytes that fit, exactly
    assert str(offset) in r.text
    return url, data, offset


@pytest.mark.parametrize("threads", ["4", "0"], ids=["body-thread", "written-by-the-loop"])
def test_patch_that_fills_the_disk_answers_507_and_keeps_the_bytes_that_fit(
    start: Start, disk: Path, threads: str
) -> None:
    """A 12 MiB body is moved by a body thread (splice), or with none free written from each read."""
    server = start("--body-threads", threads)
    fill_with_upload(server)
    assert "Traceback" not in server.log()
    # The connection stayed usable and the server answers the next request at once.
    assert httpx.options(server.endpoint).status_code == 204


def test_upload_cut_by_a_full_disk_resumes_byte_identical_once_space_is_freed(start: Start, disk: Path) -> None:
    server = start()
    filler = fill(disk, limit=5 * MiB)
    data = os.urandom(4 * MiB)
    url = server.create(len(data))
    r = patch(url, 0, data)
    assert r.status_code == 507, r.text
    offset = head_offset(url)
    assert 0 < offset < len(data)
    # Still full: another try stores nothing more and is still a 507, not a 500.
    assert patch(url, offset, data[offset:]).status_code == 507
    assert head_offset(url) == offset
    filler.unlink()
    r = patch(url, offset, data[offset:])
    assert r.status_code == 204, r.text
    assert httpx.get(url).content == data


def test_delete_on_a_full_disk_frees_the_space(start: Start, disk: Path) -> None:
    server = start()
    url, _, offset = fill_with_upload(server)
    fill(disk)
    assert free_bytes(disk) == 0
    r = httpx.delete(url, headers=TUS)
    assert r.status_code == 204, r.text
    assert free_bytes(disk) >= offset
    assert not (disk / upload_id(url)).exists()
    assert httpx.head(url, headers=TUS).status_code == 410  # the tombstone was kept without needing space
    assert leftovers(disk) == []


def test_expiry_sweeps_a_full_disk_without_logging_every_interval(start: Start, disk: Path) -> None:
    server = start("--expire-after", "3", "--sweep-interval", "0.2", "--log-level", "info")
    url, _, offset = fill_with_upload(server)
    fill(disk)
    data_file = disk / upload_id(url)
    # The space comes back when the last descriptor of the unlinked file closes, which may be a moment
    # after the name goes (seen once at load ~5: 4096 bytes free just after the unlink).
    wait_for(
        lambda: not data_file.exists() and free_bytes(disk) >= offset,
        timeout=30,
        what="the sweeper to remove the expired upload and its space to come back",
    )
    assert httpx.head(url, headers=TUS).status_code in (404, 410)
    log = server.log()
    assert "expired upload" in log
    assert "failed" not in log, log


def test_cleanup_command_on_a_full_disk(start: Start, disk: Path) -> None:
    server = start("--expire-after", "3")
    url, _, offset = fill_with_upload(server)
    server.stop()
    fill(disk)
    assert free_bytes(disk) == 0

    def cleanup() -> bool:
        result = subprocess.run(
            [sys.executable, "-m", "tusserver", "cleanup", "--data-dir", str(disk), "--expire-after", "3"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
        return "removed 1 expired" in result.stdout

    wait_for(cleanup, timeout=30, interval=0.5, what="tusserver cleanup to remove the expired upload")
    assert not (disk / upload_id(url)).exists()
    assert free_bytes(disk) >= offset
    assert leftovers(disk) == []


def test_creation_on_a_full_disk_answers_507_and_leaves_nothing(start: Start, disk: Path) -> None:
    server = start()
    deferred = server.create(None, {"Upload-Defer-Length": "1"})
    fill(disk)
    before = sorted(os.listdir(disk))
    r = httpx.post(server.endpoint, headers={**TUS, "Upload-Length": "100", "Upload-Metadata": "filename YS50eHQ="})
    assert r.status_code == 507, r.text
    r = httpx.post(
        server.endpoint,
        headers={**PATCH_HEADERS, "Upload-Length": "5"},
        content=b"hello",
    )
    assert r.status_code == 507, r.text
    # Declaring a deferred length rewrites the record: refused, and the old record stays.
    r = httpx.patch(url=deferred, headers={**PATCH_HEADERS, "Upload-Offset": "0", "Upload-Length": "10"})
    assert r.status_code == 507, r.text
    assert httpx.head(deferred, headers=TUS).headers.get("Upload-Defer-Length") == "1"
    assert sorted(os.listdir(disk)) == before
    assert leftovers(disk) == []
    assert "Traceback" not in server.log()


def test_server_starts_on_a_full_disk_and_still_deletes(start: Start, disk: Path) -> None:
    server = start()
    url, _, offset = fill_with_upload(server)
    server.stop()
    fill(disk)
    server.start()
    assert httpx.delete(url, headers=TUS).status_code == 204
    assert free_bytes(disk) >= offset


def test_creation_with_upload_that_overflows_the_disk_tells_where_to_resume(start: Start, disk: Path) -> None:
    server = start()
    fill(disk, limit=6 * MiB)
    data = os.urandom(4 * MiB)
    r = httpx.post(server.endpoint, headers={**PATCH_HEADERS, "Upload-Length": str(len(data))}, content=data)
    assert r.status_code == 507, r.text
    url = r.headers["Location"]  # the upload exists: the client learns where, to resume
    offset = head_offset(url)
    assert 0 < offset < len(data) and f"{offset} bytes are stored" in r.text
    (disk / "filler").unlink()
    assert patch(url, offset, data[offset:]).status_code == 204
    assert httpx.get(url).content == data


def test_a_sweep_that_keeps_failing_is_logged_once(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A broken data directory must not flood the log with one traceback per sweep interval."""
    from tusserver.app import create_app
    from tusserver.config import Settings
    from tusserver.uploads.sweeper import run_sweeper

    settings = Settings(store="memory", data_dir=tmp_path, sweep_interval_s=0.01).validate()
    ctx = create_app(settings).state.tus
    sweeps = 0

    async def failing_list_ids() -> AsyncIterator[str]:
        nonlocal sweeps
        sweeps += 1
        if sweeps > 1:
            raise OSError(errno.ENOSPC, "No space left on device")
        yield "x" if sweeps == 1 else ""  # the first sweep works

    ctx.store.list_ids = failing_list_ids  # the first sweep lists every upload
    ctx.uploads.quota.sets.walk = failing_list_ids  # later ones walk the unfinished sets

    async def go() -> None:
        task = asyncio.create_task(run_sweeper(ctx.uploads))
        while sweeps < 20:
            await asyncio.sleep(0.01)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    with caplog.at_level(logging.INFO, logger="tusserver"):
        asyncio.run(go())
    failures = [r for r in caplog.records if "expiry sweep failed" in r.getMessage()]
    assert len(failures) == 1, [r.getMessage() for r in caplog.records]
