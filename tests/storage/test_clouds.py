"""The Azure and GCS stores behind a real `tusserver serve`, against their emulators (Azurite, fake-gcs-server):
upload, resume after a dropped PATCH, SIGKILL and resume, parallel partials + final, GET with Range, DELETE,
and the finished object in the container/bucket with the right bytes."""

from __future__ import annotations

import hashlib
import os
from typing import Any

import httpx
import pytest

from tests.cloud_support import AzureServer, GCSServer
from tests.conftest import ServerFactory
from tests.support import PATCH, TUS, LiveServer, half_patch, wait_for

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
    server = start(server_factory, cloud)
    url = server.create(len(data), {"Upload-Metadata": "filename ZGF0YS5iaW4="})
    path = httpx.URL(url).path
    sent = 9 * MiB + 777  # a whole 8 MiB piece and a tail
    half_patch(server, url, data[:sent], promised=len(data)).close()  # the client vanishes mid-body
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
