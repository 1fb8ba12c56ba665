"""The Azure and GCS stores behind a real `tusserver serve`, against their emulators (Azurite, fake-gcs-server):
upload, resume after a dropped PATCH, SIGKILL and resume, parallel partials + final, GET with Range, DELETE,
and the finished object in the container/bucket with the right bytes."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import itertools
import os
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.client.helpers import body_bytes_received
from tests.cloud_support import AzureServer, GCSServer
from tests.conftest import ServerFactory
from tests.storage.contract import chunks, read_all
from tests.support import PATCH, TUS, LiveServer, half_patch, wait_for
from tusserver.models import UploadInfo
from tusserver.storage.azure import AzureStore
from tusserver.storage.azure.store import MAX_BLOB, MAX_BLOCKS, plan_block_size
from tusserver.storage.gcs import GCSStore
from tusserver.storage.ids import new_upload_id

MiB = 1024 * 1024
Cloud = AzureServer | GCSServer


@pytest.fixture(params=["azure", "gcs"])
def cloud(request: pytest.FixtureRequest) -> Cloud:
    server: Cloud = request.getfixturevalue(f"{request.param}_server")
    return server


def stored_object(cloud: Cloud, upload_id: str) -> bytes:
    """The bytes in the container/bucket under the upload's id, read with the cloud's own client."""
    if isinstance(cloud, AzureServer):
        container: Any = cloud.container_client()
        return bytes(container.get_blob_client(upload_id).download_blob().readall())
    client: Any = cloud.client()
    return bytes(client.bucket(cloud.bucket).blob(upload_id).download_as_bytes())


def start(server_factory: ServerFactory, cloud: Cloud, *args: str) -> LiveServer:
    return server_factory(*cloud.serve_flags, *args, env=cloud.env)


def head_offset(url: str) -> int:
    return int(httpx.head(url, headers=TUS, timeout=30).headers["Upload-Offset"])


def patch(url: str, data: bytes, offset: int) -> httpx.Response:
    return httpx.patch(url, content=data, headers={**PATCH, "Upload-Offset": str(offset)}, timeout=120)


def test_upload_resumed_after_a_dropped_patch_and_a_kill(server_factory: ServerFactory, cloud: Cloud) -> None:
    data = os.urandom(21 * MiB + 4321)
    server = start(server_factory, cloud, "--metrics")
    url = server.create(len(data), {"Upload-Metadata": "filename ZGF0YS5iaW4="})
    path = httpx.URL(url).path
    sent = 9 * MiB + 777  # a whole 8 MiB piece and a tail
    half_patch(server, url, data[:sent], promised=len(data)).close()  # the client vanishes mid-body
    # No HEAD before the server has read the body: a HEAD asks the PATCH to stop reading at once.
    wait_for(lambda: body_bytes_received(server.url) >= sent, timeout=60, what="the server reading the body")
    wait_for(lambda: head_offset(url) == sent, timeout=60, what=f"HEAD counting the {sent} bytes sent")
    r = patch(url, data[sent : 17 * MiB], sent)
    assert r.status_code == 204, r.text
    server.kill()  # SIGKILL: the offset must come from the cloud, not from anything the process held
    server.start()
    url = f"{server.url}{path}"
    offset = wait_for(lambda: head_offset(url), timeout=60, what="HEAD after restart")
    assert offset == 17 * MiB
    r = patch(url, data[offset:], offset)
    assert r.status_code == 204, r.text
    assert r.headers["Upload-Offset"] == str(len(data))
    got = httpx.get(url, timeout=120)
    assert got.status_code == 200 and hashlib.sha256(got.content).digest() == hashlib.sha256(data).digest()
    assert httpx.get(url, headers={"Range": "bytes=8388600-8388700"}).content == data[8388600:8388701]
    upload_id = path.rsplit("/", 1)[1]
    assert hashlib.sha256(stored_object(cloud, upload_id)).digest() == hashlib.sha256(data).digest()
    assert httpx.delete(url, headers=TUS).status_code == 204
    assert httpx.head(url, headers=TUS).status_code in (404, 410)


def test_parallel_partials_and_final(server_factory: ServerFactory, cloud: Cloud) -> None:
    pieces = [os.urandom(3 * MiB + 5), os.urandom(1000), os.urandom(9 * MiB)]
    server = start(server_factory, cloud)
    urls = [server.create(len(p), {"Upload-Concat": "partial"}) for p in pieces]
    for url, piece in zip(urls, pieces, strict=True):
        assert patch(url, piece, 0).status_code == 204
    final = httpx.post(
        server.endpoint,
        headers={**TUS, "Upload-Concat": "final;" + " ".join(httpx.URL(u).path for u in urls)},
    )
    assert final.status_code == 201, final.text
    url = final.headers["Location"]
    whole = b"".join(pieces)
    wait_for(lambda: head_offset(url) == len(whole), timeout=60, what="the final assembled")
    assert httpx.get(url, timeout=60).content == whole
    assert stored_object(cloud, httpx.URL(url).path.rsplit("/", 1)[1]) == whole


def test_instant_upload(server_factory: ServerFactory, cloud: Cloud) -> None:
    """A second upload of the same bytes (same owner, `Repr-Digest`) completes at once; each copy stands alone."""
    data = os.urandom(9 * MiB + 1)
    digest = f"sha-256=:{base64.b64encode(hashlib.sha256(data).digest()).decode()}:"
    server = start(server_factory, cloud, "--instant-upload", "on")
    first = server.create(len(data), {"Repr-Digest": digest})
    assert patch(first, data, 0).status_code == 204
    r = httpx.post(server.endpoint, headers={**TUS, "Upload-Length": str(len(data)), "Repr-Digest": digest})
    assert r.status_code == 201, r.text
    assert r.headers["Upload-Offset"] == str(len(data))  # complete without a byte sent
    second = r.headers["Location"]
    assert httpx.delete(first, headers=TUS).status_code == 204
    assert hashlib.sha256(httpx.get(second, timeout=60).content).digest() == hashlib.sha256(data).digest()
    assert stored_object(cloud, httpx.URL(second).path.rsplit("/", 1)[1]) == data


def test_expired_uploads_are_swept(server_factory: ServerFactory, cloud: Cloud) -> None:
    server = start(server_factory, cloud, "--expire-after", "1", "--sweep-interval", "1")
    # Creation with upload: the bytes are stored by the request that creates it, before it can expire.
    headers = {**PATCH, "Upload-Length": str(10 * MiB)}
    r = httpx.post(server.endpoint, content=os.urandom(MiB), headers=headers, timeout=60)
    assert r.status_code == 201 and r.headers["Upload-Offset"] == str(MiB), r.text
    url = r.headers["Location"]
    wait_for(lambda: httpx.head(url, headers=TUS).status_code in (404, 410), timeout=60, what="the upload expired")
    upload_id = httpx.URL(url).path.rsplit("/", 1)[1]

    def gone_from_the_cloud() -> bool:
        try:
            stored_object(cloud, upload_id)
        except Exception as exc:  # noqa: BLE001 - either client's not-found error
            return "404" in str(exc) or "not found" in str(exc).lower() or "BlobNotFound" in str(exc)
        return False

    wait_for(gone_from_the_cloud, timeout=60, what="the sweeper removing the bytes")


# -- store level: the block and compose limits ----------------------------------------------------


def test_azure_block_plan_fits_50000_blocks() -> None:
    assert plan_block_size(100 * MiB) == 8 * MiB
    assert plan_block_size(None, max_length=1024**4) == 21 * MiB  # 1 TiB deferred: 49,999 blocks of 21 MiB
    for length in (0, 1, 400 * 1024**3, MAX_BLOB):
        assert -(-length // plan_block_size(length)) <= MAX_BLOCKS - 1
    with pytest.raises(ValueError):
        plan_block_size(MAX_BLOB + 1)


def test_azure_cut_patches_leave_at_most_one_short_block(azure_server: AzureServer) -> None:
    """Each cut PATCH ends in a short block; the next PATCH merges it, so short blocks never pile up
    towards Azure's 50,000 (a client sending a byte per PATCH would otherwise use them up)."""
    data = os.urandom(3 * MiB + 10)
    cuts = [0, 1, 1000, MiB + 3, 2 * MiB, len(data)]

    async def run() -> None:
        store = AzureStore(azure_server.container_client(), block_size=MiB)
        info = UploadInfo(id=new_upload_id(), length=len(data))
        await store.create(info)
        for begin, end in itertools.pairwise(cuts):
            info = await store.get_info(info.id)
            assert info.offset == begin
            assert await store.write_chunk(info, chunks(data[begin:end], 4096)) == end - begin
            blocks, _ = store._blob(info.id).get_block_list("committed")
            assert sum(b.size < MiB for b in blocks[:-1]) == 0  # only the last block may be short
        info = await store.get_info(info.id)
        assert info.is_complete and await read_all(store, info) == data

    asyncio.run(run())


def test_gcs_more_than_32_chunks_compose_in_a_tree(gcs_server: GCSServer) -> None:
    """One PATCH of 70 chunk objects: GCS composes at most 32 sources, so they are composed in a tree."""
    data = os.urandom(70 * 64 * 1024 + 5)

    async def run() -> None:
        client: Any = gcs_server.client()
        store = GCSStore(client.bucket(gcs_server.bucket), chunk_size=64 * 1024)
        info = UploadInfo(id=new_upload_id(), length=len(data) + 10)
        await store.create(info)
        assert await store.write_chunk(info, chunks(data, 50_000)) == len(data)
        info = await store.get_info(info.id)
        assert info.offset == len(data) and await read_all(store, info) == data
        assert not list(client.bucket(gcs_server.bucket).list_blobs(prefix=f"{info.id}.c/"))  # chunks removed
        assert await store.write_chunk(info, chunks(b"0123456789", 3)) == 10
        info = await store.get_info(info.id)
        assert info.is_complete and await read_all(store, info) == data + b"0123456789"

    asyncio.run(run())


def test_64_mib_upload_survives_sigkill_mid_patch(server_factory: ServerFactory, cloud: Cloud) -> None:
    """SIGKILL while a PATCH streams: nothing of that PATCH was committed, so the offset after restart is the
    last commit exactly (never bytes that were not stored), and the upload resumes to the right bytes."""
    data = os.urandom(64 * MiB)
    server = start(server_factory, cloud)
    url = server.create(len(data))
    path = httpx.URL(url).path
    assert patch(url, data[: 20 * MiB], 0).status_code == 204
    sent = threading.Event()

    def body() -> Iterator[bytes]:
        for i in range(20 * MiB, len(data), MiB):
            if i >= 40 * MiB:
                sent.set()
            yield data[i : i + MiB]

    def stream() -> None:
        with contextlib.suppress(httpx.HTTPError):
            httpx.patch(url, content=body(), headers={**PATCH, "Upload-Offset": str(20 * MiB)}, timeout=120)

    thread = threading.Thread(target=stream)
    thread.start()
    assert sent.wait(120), "the client never got 20 MiB into its second PATCH"
    server.kill()
    thread.join(120)
    server.start()
    url = f"{server.url}{path}"
    offset = wait_for(lambda: head_offset(url) if httpx.head(url, headers=TUS).status_code == 200 else None, timeout=60)
    assert offset == 20 * MiB
    r = patch(url, data[offset:], offset)
    assert r.status_code == 204, r.text
    assert hashlib.sha256(stored_object(cloud, path.rsplit("/", 1)[1])).digest() == hashlib.sha256(data).digest()
