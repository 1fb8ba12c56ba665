"""The S3 store against moto's S3 server over HTTP, directly and behind a real `tusserver serve`."""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import AsyncIterator

import httpx
import pytest

from tests.client.helpers import body_bytes_received
from tests.conftest import ServerFactory
from tests.s3_support import CREDENTIALS, S3Server
from tests.storage.contract import chunks, read_all, written_partials
from tests.support import PATCH, TUS, half_patch, wait_for
from tusserver.models import UploadInfo
from tusserver.storage.ids import new_upload_id
from tusserver.storage.s3.store import MIN_PART, S3Store

MiB = 1024 * 1024


def make_store(server: S3Server) -> S3Store:
    return S3Store(server.client(), server.bucket, prefix="t/")


STREAM_PIECE = 256 * 1024  # the body pieces the store is given, about what a real server hands it


def stream(data: bytes) -> AsyncIterator[bytes]:
    return chunks(data, STREAM_PIECE)


def test_resumable_writes_across_part_boundaries(s3_server: S3Server) -> None:
    """Writes of odd sizes (tails under S3's 5 MiB minimum carried over) assemble to the exact bytes."""
    data = os.urandom(19 * MiB + 12345)
    cuts = [0, 3 * MiB, 3 * MiB + 7, 11 * MiB, 17 * MiB + 1, len(data)]

    async def run() -> None:
        store = make_store(s3_server)
        await store.prepare()
        info = UploadInfo(id=new_upload_id(), length=len(data))
        await store.create(info)
        for start, end in zip(cuts, cuts[1:], strict=False):
            info = await store.get_info(info.id)
            assert info.offset == start
            written = await store.write_chunk(info, stream(data[start:end]))
            assert written == end - start
        info = await store.get_info(info.id)
        assert info.offset == len(data) and info.is_complete
        assert hashlib.sha256(await read_all(store, info)).digest() == hashlib.sha256(data).digest()
        assert await read_all(store, info, 5, 100) == data[5:100]

    asyncio.run(run())


def test_concatenate_large_and_small_parts(s3_server: S3Server) -> None:
    pieces = [os.urandom(MIN_PART + 10), os.urandom(1000), os.urandom(2 * MiB), os.urandom(MIN_PART)]

    async def run() -> None:
        store = make_store(s3_server)
        parts = await written_partials(store, pieces, STREAM_PIECE)
        final = UploadInfo(
            id=new_upload_id(), length=sum(map(len, pieces)), concat="final", parts=[p.id for p in parts]
        )
        await store.create(final)
        assert not (await store.get_info(final.id)).is_complete
        await store.concatenate(final, parts)
        final = await store.get_info(final.id)
        assert final.is_complete
        assert await read_all(store, final) == b"".join(pieces)

    asyncio.run(run())


def test_server_on_s3_resumes_after_restart(server_factory: ServerFactory, s3_server: S3Server) -> None:
    """A real server on S3: chunked upload, SIGKILL, restart, HEAD from S3, resume, byte-identical download."""
    data = os.urandom(12 * MiB + 333)
    server = server_factory(*s3_server.serve_flags, env=CREDENTIALS)
    url = server.create(len(data), {"Upload-Metadata": "filename ZGF0YS5iaW4="})
    path = httpx.URL(url).path
    patch_headers = {**TUS, "Content-Type": "application/offset+octet-stream"}
    r = httpx.patch(url, content=data[: 7 * MiB], headers={**patch_headers, "Upload-Offset": "0"}, timeout=60)
    assert r.status_code == 204, r.text
    server.kill()
    server.start()
    url = f"{server.url}{path}"
    head = wait_for(lambda: (h := httpx.head(url, headers=TUS)).status_code == 200 and h, what="HEAD after restart")
    assert head.headers["Upload-Offset"] == str(7 * MiB)
    r = httpx.patch(url, content=data[7 * MiB :], headers={**patch_headers, "Upload-Offset": str(7 * MiB)}, timeout=60)
    assert r.status_code == 204, r.text
    assert r.headers["Upload-Offset"] == str(len(data))
    assert hashlib.sha256(httpx.get(url, timeout=60).content).digest() == hashlib.sha256(data).digest()
    assert httpx.get(url, headers={"Range": "bytes=10-19"}).content == data[10:20]


@pytest.mark.parametrize("http", ["--lean-http", "--no-lean-http"])
@pytest.mark.parametrize("sent", [60 * 1024, 9 * MiB + 12345], ids=["tail-only", "part-and-tail"])
def test_dropped_patch_keeps_every_byte_that_arrived(
    server_factory: ServerFactory, s3_server: S3Server, sent: int, http: str
) -> None:
    """A PATCH whose client sends part of its body and closes at once (one instance on moto, no proxy): the
    last bytes arrive with the end of the connection. Before, uvicorn dropped what it held at that moment,
    so the upload kept none of a small body and lost the end of a large one; now HEAD counts every byte."""
    data = os.urandom(20 * MiB)
    server = server_factory(*s3_server.serve_flags, http, "--metrics", env=CREDENTIALS)
    url = server.create(len(data))
    half_patch(server, url, data[:sent], promised=len(data)).close()  # the client vanishes mid-body
    # No HEAD before the server has read the body: a HEAD asks the PATCH to stop reading at once.
    wait_for(lambda: body_bytes_received(server.url) >= sent, timeout=60, what="the server reading the body")
    offset = wait_for(
        lambda: (o := int(httpx.head(url, headers=TUS).headers["Upload-Offset"])) == sent and o,
        timeout=60,
        what=f"HEAD counting the {sent} bytes sent",
    )
    r = httpx.patch(url, content=data[offset:], headers={**PATCH, "Upload-Offset": str(offset)}, timeout=60)
    assert r.status_code == 204, r.text
    assert hashlib.sha256(httpx.get(url, timeout=60).content).digest() == hashlib.sha256(data).digest()
