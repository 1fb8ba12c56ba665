"""What an expiry sweep reads: the records of unfinished uploads only, however many finished ones are kept.

Before, every sweep (each `--sweep-interval`) locked and read every upload's record, finished ones
too, though they never expire: 100,000 kept uploads were 100,000 lock+read+parse a minute.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from tests.conftest import AppFactory
from tests.s3_support import CREDENTIALS, S3Server
from tests.support import PATCH, TUS
from tusserver.app import create_app
from tusserver.config import Settings
from tusserver.models import UploadInfo
from tusserver.storage.base import Listable, Store
from tusserver.storage.file_sets import FileUploadSets
from tusserver.wiring import build_store, check

FINISHED, UNFINISHED, TERMINATED = 40, 5, 3


def set_members(data_dir: Path, name: str) -> list[str]:
    """Every member of every group of the file store's set `name`."""
    sets = FileUploadSets(data_dir / ".sets" / name)
    return [member for group in sets._groups() for member in sets._members_sync(group)]


def count_reads(store: Store) -> list[int]:
    """Count the store's record reads from now on, in the one-element list returned."""
    reads, get_info = [0], store.get_info

    async def counting(upload_id: str) -> UploadInfo:
        reads[0] += 1
        return await get_info(upload_id)

    store.get_info = counting  # type: ignore[method-assign]
    return reads


def make_uploads(app_factory: AppFactory, data_dir: Path, *flags: str) -> list[str]:
    """FINISHED finished, UNFINISHED unfinished and TERMINATED deleted uploads; the unfinished URLs."""
    server = app_factory("--expire-after", "3600", "--sweep-interval", "3600", *flags, data_dir=data_dir)
    for _ in range(FINISHED):
        url = server.create(2)
        assert server.client.patch(url, content=b"ok", headers={**PATCH, "Upload-Offset": "0"}).status_code == 204
    unfinished = [server.create(10) for _ in range(UNFINISHED)]
    for _ in range(TERMINATED):
        assert server.client.delete(server.create(10), headers=TUS).status_code == 204
    server.stop()
    return unfinished


def sweep_reads(data_dir: Path, sweeps: int, **settings: Any) -> list[int]:
    """Run the server's sweeper over `data_dir`; the record reads of each of its first `sweeps` sweeps."""
    from tusserver.uploads.sweeper import run_sweeper

    config = check(Settings(data_dir=data_dir, expire_after_s=3600, sweep_interval_s=0.01, **settings))
    store = build_store(config)
    reads = count_reads(store)
    ctx = create_app(config, store=store).state.tus
    marks: list[int] = []  # reads so far, each time a sweep starts listing
    sets = ctx.uploads.quota.sets

    def mark(listing: Any) -> Any:
        def start(*args: Any) -> AsyncIterator[Any]:
            marks.append(reads[0])
            iterator: AsyncIterator[Any] = listing(*args)
            return iterator

        return start

    assert isinstance(store, Listable)
    store.list_ids = mark(store.list_ids)  # type: ignore[method-assign]
    if hasattr(sets, "walk"):  # sets that cannot be walked: every sweep lists every upload
        sets.walk = mark(sets.walk)

    async def go() -> None:
        task = asyncio.create_task(run_sweeper(ctx.uploads))
        deadline = time.monotonic() + 30
        while len(marks) <= sweeps and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    asyncio.run(go())
    assert len(marks) > sweeps, f"only {len(marks)} sweeps in 30 s"
    return [marks[i + 1] - marks[i] for i in range(sweeps)]


def test_a_sweep_reads_only_unfinished_records(app_factory: AppFactory, tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    make_uploads(app_factory, data_dir)
    reads = sweep_reads(data_dir, 4)
    # The first sweep after start lists every upload (it catches uploads the sets miss); the rest
    # read the unfinished ones only (the tombstones are younger than the expiry period: not even a stat).
    assert reads[0] == FINISHED + UNFINISHED + TERMINATED, reads
    assert reads[1:] == [UNFINISHED] * 3, reads


def test_uploads_missing_from_the_sets_are_entered_by_the_first_sweep(app_factory: AppFactory, tmp_path: Path) -> None:
    """Uploads made by a version that kept no sets (or with expiry off) are found, then walked as the rest."""
    data_dir = tmp_path / "data"
    make_uploads(app_factory, data_dir)
    shutil.rmtree(data_dir / ".sets")
    reads = sweep_reads(data_dir, 3)
    assert reads[1:] == [UNFINISHED] * 2, reads
    assert len(set_members(data_dir, "tombstones")) == TERMINATED


def test_without_a_cap_unfinished_uploads_are_still_entered(app_factory: AppFactory, tmp_path: Path) -> None:
    """`--max-unfinished 0` counts nothing, but with expiry on the sweeper still needs the entries."""
    data_dir = tmp_path / "data"
    server = app_factory(
        "--expire-after", "3600", "--sweep-interval", "3600", "--max-unfinished", "0", data_dir=data_dir
    )
    url = server.create(2)
    assert url.rsplit("/", 1)[1] in set_members(data_dir, "unfinished"), "no entry for the unfinished upload"
    assert server.client.patch(url, content=b"ok", headers={**PATCH, "Upload-Offset": "0"}).status_code == 204
    assert url.rsplit("/", 1)[1] not in set_members(data_dir, "unfinished"), "the finished upload kept its entry"
    server.create(10)
    server.stop()
    assert sweep_reads(data_dir, 3, max_unfinished=0)[1:] == [1, 1]


def test_no_entries_without_a_cap_and_without_expiry(app_factory: AppFactory, tmp_path: Path) -> None:
    """Nothing would read them: creation and deletion stay as cheap as before."""
    data_dir = tmp_path / "data"
    server = app_factory("--expire-after", "0", "--max-unfinished", "0", data_dir=data_dir)
    assert server.client.delete(server.create(10), headers=TUS).status_code == 204
    assert not set_members(data_dir, "unfinished") and not set_members(data_dir, "tombstones")


def walking_sweep(data_dir: Path, now: float, **settings: Any) -> tuple[int, int]:
    from tusserver.uploads.sweeper import sweep_once

    config = Settings(data_dir=data_dir, expire_after_s=3600, **settings).validate()
    ctx = create_app(config).state.tus
    result = asyncio.run(sweep_once(ctx.uploads, now=now, full=False))
    return result.removed, result.tombstones_dropped


def test_a_walking_sweep_removes_expired_uploads_and_drops_old_tombstones(
    app_factory: AppFactory, tmp_path: Path
) -> None:
    data_dir = tmp_path / "data"
    unfinished = make_uploads(app_factory, data_dir)
    assert walking_sweep(data_dir, time.time() + 1800) == (0, 0)  # nothing is old enough yet
    # Two hours on, the unfinished uploads have expired and the tombstones are old: the expired
    # uploads' own tombstones too, as this clock sees them.
    assert walking_sweep(data_dir, time.time() + 7200) == (UNFINISHED, TERMINATED + UNFINISHED)
    for url in unfinished:
        assert not (data_dir / url.rsplit("/", 1)[1]).exists()
    assert not list(data_dir.glob("*.gone"))
    members = {name: set_members(data_dir, name) for name in ("unfinished", "tombstones", "finals")}
    assert not any(members.values()), members  # no entry left in any set


def backdate(data_dir: Path, url: str, seconds: float) -> None:
    """As if the upload was made and last written `seconds` ago."""
    upload = url.rsplit("/", 1)[1]
    old = time.time() - seconds
    info_file = data_dir / f"{upload}.info"
    record = json.loads(info_file.read_text())
    record["created"] = old
    info_file.write_text(json.dumps(record))
    os.utime(data_dir / upload, (old, old))


def test_expired_uploads_pruned_from_the_quota_are_still_swept(app_factory: AppFactory, tmp_path: Path) -> None:
    """The quota drops an expired upload from its owner's set at the cap; the sweeper must still find it."""
    data_dir = tmp_path / "data"
    server = app_factory(
        "--expire-after", "3600", "--sweep-interval", "3600", "--max-unfinished", "2", data_dir=data_dir
    )
    expired = [server.create(10), server.create(10)]
    for url in expired:
        backdate(data_dir, url, 7200)
    server.create(10)  # at the cap: the expired two are pruned, so this one fits
    server.stop()
    assert walking_sweep(data_dir, time.time(), max_unfinished=2) == (2, 0)
    for url in expired:
        assert not (data_dir / url.rsplit("/", 1)[1]).exists()
    assert not FileUploadSets(data_dir / ".sets" / "unfinished")._members_sync("expired")


def test_on_s3_too(app_factory: AppFactory, tmp_path: Path, s3_server: S3Server, monkeypatch: Any) -> None:
    """The S3 store keeps its sets in the bucket: a sweep lists them, not every upload's objects."""
    for name, value in CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    data_dir = tmp_path / "data"
    make_uploads(app_factory, data_dir, *s3_server.serve_flags, "--s3-prefix", "sweep/")
    s3 = {"store": "s3", "s3_endpoint_url": s3_server.endpoint, "s3_bucket": s3_server.bucket, "s3_prefix": "sweep/"}
    reads = sweep_reads(data_dir, 3, **s3)
    assert reads[0] == FINISHED + UNFINISHED + TERMINATED and reads[1:] == [UNFINISHED] * 2, reads
    assert walking_sweep(data_dir, time.time() + 7200, **s3) == (UNFINISHED, TERMINATED + UNFINISHED)
