"""S3 parts: the size planner, and PATCH bodies cut into parts as they arrive (moto's S3 server over HTTP).

Before: a PATCH body was spooled whole to local temporary storage before any part was sent (a 100 MiB
PATCH with 64 MiB of temp space was a 500 that lost what it had received), parts were a fixed 8 MiB
(10,000 of them cap an upload at 80 GB), sent one at a time.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import socket
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import ServerFactory
from tests.s3_support import CREDENTIALS, S3Server
from tests.storage.contract import chunks, read_all, written_partials
from tests.support import TUS, small_tmpfs, wait_for
from tusserver.config import Settings, SettingsError
from tusserver.errors import ChecksumMismatch, Conflict
from tusserver.models import UploadInfo
from tusserver.storage.ids import new_upload_id
from tusserver.storage.s3.parts import MAX_OBJECT, MAX_PART, MAX_PARTS, MIN_PART, GiB, MiB, parts_needed, plan_part_size
from tusserver.storage.s3.store import S3Store
from tusserver.wiring import check

PATCH_HEADERS = {**TUS, "Content-Type": "application/offset+octet-stream"}


# -- the planner ---------------------------------------------------------------------------------


def test_plan_keeps_preferred_size_when_it_fits() -> None:
    assert plan_part_size(1 * GiB, 8 * MiB) == 8 * MiB
    assert plan_part_size(0, 8 * MiB) == 8 * MiB


def test_plan_100_gib_fits_in_10000_parts() -> None:
    size = plan_part_size(100 * GiB, 8 * MiB)
    assert size == 11 * MiB  # 100 GiB / 10,000 = 10.24 MiB, rounded up to whole MiB
    assert parts_needed(100 * GiB, size) <= MAX_PARTS
    assert parts_needed(100 * GiB, 8 * MiB) > MAX_PARTS  # what the fixed 8 MiB parts could not hold


def test_plan_deferred_length_grows_to_hold_the_max_size() -> None:
    assert plan_part_size(None, 8 * MiB, max_length=100 * GiB) == 11 * MiB
    assert plan_part_size(None, 8 * MiB, max_length=1 * GiB) == 8 * MiB
    assert plan_part_size(None, 8 * MiB) == MAX_PART  # no limit: the largest upload S3 can hold


def test_plan_caps_at_5_gib_parts_and_refuses_beyond() -> None:
    assert MAX_OBJECT == MAX_PARTS * 5 * GiB
    assert plan_part_size(MAX_OBJECT, 8 * MiB) == MAX_PART
    assert plan_part_size(1000, 64 * GiB) == MAX_PART
    with pytest.raises(ValueError):
        plan_part_size(MAX_OBJECT + 1, 8 * MiB)


def test_plan_never_goes_under_the_5_mib_minimum() -> None:
    assert plan_part_size(1000, 1 * MiB) == MIN_PART
    assert plan_part_size(None, 1, max_length=10 * MiB) == MIN_PART


def s3_settings(**overrides: Any) -> Settings:
    return Settings(store="s3", s3_bucket="b", **overrides)


def test_settings_cap_max_size_at_what_s3_can_hold() -> None:
    assert check(s3_settings(max_size_bytes=0)).max_size_bytes == MAX_OBJECT  # advertised as Tus-Max-Size
    assert check(s3_settings()).max_size_bytes == 100 * GiB
    with pytest.raises(SettingsError, match="--max-size"):
        check(s3_settings(max_size_bytes=MAX_OBJECT + 1))
    with pytest.raises(SettingsError, match="--s3-part-size"):
        check(s3_settings(s3_part_size_bytes=4 * MiB))
    assert check(Settings(max_size_bytes=0)).max_size_bytes == 0  # other stores keep "no limit"


# -- the store -----------------------------------------------------------------------------------


def make_store(server: S3Server, client: Any = None, **kwargs: Any) -> S3Store:
    return S3Store(client or server.client(), server.bucket, prefix="p/", part_size=MIN_PART, **kwargs)


STREAM_PIECE = 256 * 1024  # the body pieces the store is given, about what a real server hands it


def stream(data: bytes) -> AsyncIterator[bytes]:
    return chunks(data, STREAM_PIECE)


def test_deferred_upload_plans_parts_for_the_max_size(s3_server: S3Server) -> None:
    async def run() -> None:
        store = S3Store(s3_server.client(), s3_server.bucket, max_size=100 * GiB)
        info = UploadInfo(id=new_upload_id(), length=None)
        await store.create(info)
        assert (await store.get_info(info.id)).storage["part_size"] == 11 * MiB

    asyncio.run(run())


def test_cut_body_keeps_its_tail_and_resumes(s3_server: S3Server) -> None:
    """A body that stops mid-part (client gone) keeps every byte: whole parts, and the rest as `<id>.part`."""
    data = os.urandom(13 * MiB + 77)
    cut = 7 * MiB + 5

    async def run() -> None:
        store = make_store(s3_server)
        info = UploadInfo(id=new_upload_id(), length=len(data))
        await store.create(info)
        assert await store.write_chunk(info, stream(data[:cut])) == cut
        info = await store.get_info(info.id)
        assert info.offset == cut
        tail = s3_server.client().head_object(Bucket=s3_server.bucket, Key=f"p/{info.id}.part")  # type: ignore[attr-defined]
        assert tail["ContentLength"] == cut - MIN_PART
        with pytest.raises(Conflict, match="cannot be read back"):
            await read_all(store, info)  # S3 cannot read an unfinished multipart upload: a clear 409, not a 404
        assert await store.write_chunk(info, stream(data[cut:])) == len(data) - cut
        info = await store.get_info(info.id)
        assert info.is_complete
        assert hashlib.sha256(await read_all(store, info)).digest() == hashlib.sha256(data).digest()

    asyncio.run(run())


def test_failed_checksum_discards_parts_already_sent(s3_server: S3Server) -> None:
    """Parts sent while a checksummed body streamed do not count when its check fails; the next write replaces them."""
    data = os.urandom(18 * MiB)
    first = 3 * MiB

    async def run() -> None:
        store = make_store(s3_server)
        info = UploadInfo(id=new_upload_id(), length=len(data))
        await store.create(info)
        await store.write_chunk(info, stream(data[:first]))
        info = await store.get_info(info.id)

        def reject() -> None:
            raise ChecksumMismatch("bad")

        with pytest.raises(ChecksumMismatch):
            await store.write_chunk(info, stream(os.urandom(12 * MiB)), reject)  # two whole parts went to S3
        info = await store.get_info(info.id)
        assert info.offset == first
        assert await store.write_chunk(info, stream(data[first:]), lambda: None) == len(data) - first
        info = await store.get_info(info.id)
        assert info.is_complete and await read_all(store, info) == data

    asyncio.run(run())


class BarrierClient:
    """The real boto3 client, with `upload_part` held until two calls run at once (or failing after 20 s)."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self._barrier = threading.Barrier(2, timeout=20)
        self.met = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def upload_part(self, **kwargs: Any) -> Any:
        if self.met < 2:
            self._barrier.wait()  # BrokenBarrierError if parts are sent one at a time
            self.met += 1
        return self._client.upload_part(**kwargs)


def test_parts_are_sent_in_parallel(s3_server: S3Server) -> None:
    data = os.urandom(4 * MIN_PART + 123)
    client = BarrierClient(s3_server.client())

    async def run() -> None:
        store = make_store(s3_server, client, parts_in_flight=2)
        info = UploadInfo(id=new_upload_id(), length=len(data))
        await store.create(info)
        assert await store.write_chunk(info, stream(data)) == len(data)
        info = await store.get_info(info.id)
        assert client.met == 2
        assert info.is_complete and await read_all(store, info) == data

    asyncio.run(run())


# -- a real server on a small temporary disk -------------------------------------------------------


@pytest.fixture
def tmp32(tmp_path: Path) -> Iterator[Path]:
    with small_tmpfs(tmp_path / "tmp32", 32 * MiB, "the temporary directory") as directory:
        yield directory


@pytest.fixture
def tmp3(tmp_path: Path) -> Iterator[Path]:
    with small_tmpfs(tmp_path / "tmp3", 3 * MiB, "the temporary directory") as directory:
        yield directory


class DiskWatch:
    """The most bytes a filesystem held, sampled from another thread while an upload runs."""

    def __init__(self, path: Path) -> None:
        self.path, self.peak, self._stop = path, 0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            st = os.statvfs(self.path)
            self.peak = max(self.peak, (st.f_blocks - st.f_bfree) * st.f_frsize)
            self._stop.wait(0.002)

    def __enter__(self) -> DiskWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def test_100_mib_patch_with_32_mib_of_temp_space(
    server_factory: ServerFactory, s3_server: S3Server, tmp32: Path
) -> None:
    data = os.urandom(100 * MiB)
    server = server_factory(*s3_server.serve_flags, env={**CREDENTIALS, "TMPDIR": str(tmp32)})
    url = server.create(len(data))
    with DiskWatch(tmp32) as watch:
        r = httpx.patch(url, content=data, headers={**PATCH_HEADERS, "Upload-Offset": "0"}, timeout=120)
    assert r.status_code == 204, r.text
    assert r.headers["Upload-Offset"] == str(len(data))
    assert 0 < watch.peak < 2 * 8 * MiB  # under two of the 8 MiB parts
    got = httpx.get(url, timeout=120)
    assert hashlib.sha256(got.content).digest() == hashlib.sha256(data).digest()


def test_full_temp_disk_is_507_with_received_bytes_kept(
    server_factory: ServerFactory, s3_server: S3Server, tmp3: Path
) -> None:
    """Parts of 8 MiB on a 3 MiB temp disk: the spool fills, the bytes that fit are stored as the tail."""
    data = os.urandom(6 * MiB)
    server = server_factory(*s3_server.serve_flags, env={**CREDENTIALS, "TMPDIR": str(tmp3)})
    url = server.create(len(data))
    r = httpx.patch(url, content=data, headers={**PATCH_HEADERS, "Upload-Offset": "0"}, timeout=60)
    assert r.status_code == 507, r.text
    offset = int(httpx.head(url, headers=TUS).headers["Upload-Offset"])
    assert 2 * MiB < offset <= 3 * MiB  # all that fitted on the temp disk
    assert os.listdir(tmp3) == []  # the spool went with the request


def test_concatenate_tops_up_short_parts_from_the_next(s3_server: S3Server) -> None:
    """Short parts gather with the start of the next one (a spool under 5 MiB), the rest is copied in ranges."""
    pieces = [os.urandom(n) for n in (1000, MIN_PART + 10, 3 * MiB, 4 * MiB, 100, 0, 6 * MiB)]

    async def run() -> None:
        store = make_store(s3_server)
        parts = await written_partials(store, pieces, STREAM_PIECE)
        final = UploadInfo(id=new_upload_id(), length=sum(map(len, pieces)), concat="final")
        await store.create(final)
        await store.concatenate(final, parts)
        final = await store.get_info(final.id)
        assert final.is_complete and final.offset == len(b"".join(pieces))
        assert await read_all(store, final) == b"".join(pieces)

    asyncio.run(run())


def test_client_gone_mid_part_keeps_every_byte_received(server_factory: ServerFactory, s3_server: S3Server) -> None:
    """A real server: the client sends 7 MiB of a 12 MiB PATCH and leaves; all 7 MiB count (a part + the tail)."""
    data = os.urandom(12 * MiB)
    sent = 7 * MiB + 3
    server = server_factory(*s3_server.serve_flags, "--s3-part-size", "5M", env=CREDENTIALS)
    url = httpx.URL(server.create(len(data)))
    head = (
        f"PATCH {url.path} HTTP/1.1\r\nHost: {url.host}\r\nTus-Resumable: 1.0.0\r\n"
        f"Content-Type: application/offset+octet-stream\r\nUpload-Offset: 0\r\nContent-Length: {len(data)}\r\n\r\n"
    )
    with socket.create_connection((url.host, url.port or 80)) as sock:
        sock.sendall(head.encode() + data[:sent])
    offset = wait_for(
        lambda: (
            (h := httpx.head(str(url), headers=TUS)).status_code == 200
            and int(h.headers["Upload-Offset"]) == sent
            and sent
        ),
        what="the received bytes to be stored",
    )
    assert offset == sent
    r = httpx.patch(str(url), content=data[sent:], headers={**PATCH_HEADERS, "Upload-Offset": str(sent)}, timeout=60)
    assert r.status_code == 204, r.text
    assert httpx.get(str(url), timeout=60).content == data


def test_deferred_length_declared_by_an_empty_patch_completes(s3_server: S3Server) -> None:
    """The length set after the last byte, with no body: the tail becomes the last part and the object exists."""
    data = os.urandom(7 * MiB)

    async def run() -> None:
        store = make_store(s3_server)
        info = UploadInfo(id=new_upload_id(), length=None)
        await store.create(info)
        await store.write_chunk(info, stream(data))
        info = await store.get_info(info.id)
        info.length = len(data)
        await store.save_info(info)
        assert await store.write_chunk(info, stream(b"")) == 0
        info = await store.get_info(info.id)
        assert info.is_complete and await read_all(store, info) == data
        empty = UploadInfo(id=new_upload_id(), length=0)
        await store.create(empty)
        assert await store.write_chunk(empty, stream(b"")) == 0
        assert (await store.get_info(empty.id)).storage.get("completed")

    asyncio.run(run())
