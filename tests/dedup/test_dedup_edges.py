"""Instant upload at its edges: keep-alive after a discarded body, empty and deferred-length uploads,
copies outliving each other, expiry sweeps, several workers, and the bounded digest state."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import httpx

from tests.conftest import AppFactory, ServerFactory
from tests.support import PATCH, TUS, InProcessServer, LiveServer, require_tool, wait_for
from tusserver.models import UploadInfo
from tusserver.storage.memory import MemoryStore
from tusserver.uploads.digests import DigestTracker

MiB = 1024 * 1024


def digest_header(data: bytes) -> str:
    return f"sha-256=:{base64.b64encode(hashlib.sha256(data).digest()).decode()}:"


def create(http: httpx.Client, endpoint: str, data: bytes, **extra: str) -> httpx.Response:
    headers = {**TUS, "Upload-Length": str(len(data)), "Repr-Digest": digest_header(data), **extra}
    return http.post(endpoint, headers=headers)


def upload_with_body(http: httpx.Client, endpoint: str, data: bytes) -> str:
    headers = {**PATCH, "Upload-Length": str(len(data)), "Repr-Digest": digest_header(data)}
    r = http.post(endpoint, headers=headers, content=data)
    assert r.status_code == 201 and r.headers["Upload-Offset"] == str(len(data)), r.text
    return r.headers["Location"]


def test_duplicate_body_keeps_the_connection_alive(server: LiveServer, tmp_path: Path) -> None:
    curl = require_tool("curl")
    data = os.urandom(4 * MiB)
    path = tmp_path / "file.bin"
    path.write_bytes(data)
    with httpx.Client(timeout=30) as http:
        upload_with_body(http, server.endpoint, data)
    out = ["-s", "-o", "/dev/null", "-w", "%{http_code} %{num_connects} %{size_upload}\\n"]
    post = ["-X", "POST", "-H", "Tus-Resumable: 1.0.0", "-H", f"Upload-Length: {len(data)}",
            "-H", f"Repr-Digest: {digest_header(data)}",
            "-H", "Content-Type: application/offset+octet-stream"]  # fmt: skip
    # Two duplicate creation-with-upload POSTs and an OPTIONS, all on one connection.
    cmd = [curl, *out, *post, "-H", "Expect:", "--data-binary", f"@{path}", server.endpoint,
           "--next", *out, *post, "-H", "Expect:", "--data-binary", f"@{path}", server.endpoint,
           "--next", *out, "-X", "OPTIONS", server.endpoint]  # fmt: skip
    lines = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=True).stdout.split()
    assert lines[0::3] == ["201", "201", "204"]
    assert lines[4] == "0" and lines[7] == "0"  # no new connection after the discarded body
    # With Expect: 100-continue the server answers first: not one body byte is sent.
    cmd = [curl, *out, *post, "-H", "Expect: 100-continue", "--data-binary", f"@{path}", server.endpoint]
    assert subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=True).stdout.split() == [
        "201", "1", "0"
    ]  # fmt: skip


def test_empty_file_and_wrong_empty_digest(app: InProcessServer) -> None:
    server = app
    http = server.client
    r = create(http, server.endpoint, b"")
    assert r.status_code == 201 and r.headers["Upload-Offset"] == "0"
    assert http.get(r.headers["Location"]).content == b""
    r = http.post(server.endpoint, headers={**TUS, "Upload-Length": "0", "Repr-Digest": digest_header(b"x")})
    assert r.status_code == 460


def test_deferred_length_digest_is_verified_then_indexed(app: InProcessServer) -> None:
    server = app
    data = os.urandom(MiB + 5)
    http = server.client
    headers = {**TUS, "Upload-Defer-Length": "1", "Repr-Digest": digest_header(data)}
    url = http.post(server.endpoint, headers=headers).headers["Location"]
    assert http.patch(url, content=data[:MiB], headers={**PATCH, "Upload-Offset": "0"}).status_code == 204
    r = http.patch(
        url, content=data[MiB:], headers={**PATCH, "Upload-Offset": str(MiB), "Upload-Length": str(len(data))}
    )
    assert r.status_code == 204 and r.headers["Upload-Offset"] == str(len(data))
    # Verified at the last byte, so now indexed under its (now known) length.
    assert create(http, server.endpoint, data).headers["Upload-Offset"] == str(len(data))
    # A wrong digest with a deferred length: 460 once the length is known and the last byte is in.
    headers = {**TUS, "Upload-Defer-Length": "1", "Repr-Digest": digest_header(b"other")}
    url = http.post(server.endpoint, headers=headers).headers["Location"]
    r = http.patch(url, content=data, headers={**PATCH, "Upload-Offset": "0", "Upload-Length": str(len(data))})
    assert r.status_code == 460
    assert http.head(url, headers=TUS).status_code in (404, 410)


def test_copies_outlive_each_other(app: InProcessServer) -> None:
    server = app
    data = os.urandom(2 * MiB)
    http = server.client
    first = upload_with_body(http, server.endpoint, data)
    second = create(http, server.endpoint, data).headers["Location"]
    assert http.delete(first, headers=TUS).status_code == 204
    assert http.get(first).status_code in (404, 410)
    assert http.get(second).content == data
    # The surviving copy still serves instant uploads, and deleting it spares the third.
    third = create(http, server.endpoint, data)
    assert third.headers["Upload-Offset"] == str(len(data))
    assert http.delete(second, headers=TUS).status_code == 204
    assert http.get(third.headers["Location"]).content == data
    assert http.delete(third.headers["Location"], headers=TUS).status_code == 204
    # No copy left: an ordinary, empty upload.
    r = create(http, server.endpoint, data)
    assert r.status_code == 201 and "Upload-Offset" not in r.headers


def test_expiry_sweeps_spare_shared_bytes(app_factory: AppFactory) -> None:
    server = app_factory("--expire-after", "1", "--sweep-interval", "0.2")
    data = os.urandom(MiB)
    http = server.client
    first = upload_with_body(http, server.endpoint, data)
    second = create(http, server.endpoint, data).headers["Location"]
    # An unfinished upload declaring the same digest expires and is swept...
    stale = http.post(server.endpoint, headers={**TUS, "Upload-Length": str(len(data) + 1)}).headers["Location"]
    assert http.patch(stale, content=data, headers={**PATCH, "Upload-Offset": "0"}).status_code == 204
    wait_for(lambda: http.head(stale, headers=TUS).status_code in (404, 410), what="unfinished upload swept")
    # ...while both finished copies stay whole, and dedup still works.
    assert http.get(first).content == data and http.get(second).content == data
    assert http.delete(first, headers=TUS).status_code == 204
    wait_for(lambda: http.get(second).content == data, what="second copy after sweeps")
    assert create(http, server.endpoint, data).headers["Upload-Offset"] == str(len(data))


def test_verification_across_workers(server_factory: ServerFactory) -> None:
    server = server_factory("--workers", "2")
    data = os.urandom(3 * MiB)
    for declared, expected in ((digest_header(b"no"), 460), (digest_header(data), 204)):
        url = httpx.post(
            server.endpoint, headers={**TUS, "Upload-Length": str(len(data)), "Repr-Digest": declared}
        ).headers["Location"]
        status = 0
        for offset in range(0, len(data), MiB // 2):
            # A fresh connection per PATCH: the kernel spreads them over both workers.
            r = httpx.patch(
                url, content=data[offset : offset + MiB // 2], headers={**PATCH, "Upload-Offset": str(offset)}
            )
            status = r.status_code
        assert status == expected
    r = httpx.post(
        server.endpoint, headers={**TUS, "Upload-Length": str(len(data)), "Repr-Digest": digest_header(data)}
    )
    assert r.headers["Upload-Offset"] == str(len(data))
    assert httpx.get(r.headers["Location"]).content == data


def test_one_digest_state_still_verifies_interleaved_uploads(app_factory: AppFactory) -> None:
    server = app_factory("--max-digest-states", "1")
    files = [os.urandom(MiB), os.urandom(MiB)]
    http = server.client
    urls = [create(http, server.endpoint, f).headers["Location"] for f in files]
    half = MiB // 2
    for url, f in zip(urls, files, strict=True):  # each evicts the other's running hash
        assert http.patch(url, content=f[:half], headers={**PATCH, "Upload-Offset": "0"}).status_code == 204
    for url, f in zip(urls, files, strict=True):
        r = http.patch(url, content=f[half:], headers={**PATCH, "Upload-Offset": str(half)})
        assert r.status_code == 204
        assert http.get(url).content == f


def test_digest_state_memory_is_bounded() -> None:
    asyncio.run(_bounded())


async def _bounded() -> None:
    store = MemoryStore()
    tracker = DigestTracker(store, max_entries=3)
    infos = []
    for i in range(10):
        data = os.urandom(100 + i)
        info = UploadInfo(id=f"upload-{i:012d}", length=len(data) * 2, repr_digest=digest_header(data + data))
        await store.create(info)
        state = await tracker.resume(info)
        state.hasher.update(data)
        info.offset = await store.write_chunk(info, _one(data))
        await tracker.advance(info.id, state, info.offset)
        infos.append((info, data))
        assert len(tracker) <= 3
    for info, data in infos:  # evicted or not, the second half verifies against the whole file
        state = await tracker.resume(info)
        state.hasher.update(data)
        info.offset += await store.write_chunk(info, _one(data))
        await tracker.advance(info.id, state, info.offset)
        assert await tracker.verify(info)
        assert len(tracker) <= 3


async def _one(chunk: bytes) -> AsyncIterator[bytes]:
    yield chunk


def test_a_chunk_refused_by_upload_checksum_is_not_in_the_whole_file_digest(app: InProcessServer) -> None:
    server = app
    data = os.urandom(2 * MiB)
    half = MiB
    http = server.client
    url = create(http, server.endpoint, data).headers["Location"]
    assert http.patch(url, content=data[:half], headers={**PATCH, "Upload-Offset": "0"}).status_code == 204
    wrong = f"sha1 {base64.b64encode(hashlib.sha1(b'other').digest()).decode()}"
    r = http.patch(url, content=data[half:], headers={**PATCH, "Upload-Offset": str(half), "Upload-Checksum": wrong})
    assert r.status_code == 460
    right = f"sha1 {base64.b64encode(hashlib.sha1(data[half:]).digest()).decode()}"
    r = http.patch(url, content=data[half:], headers={**PATCH, "Upload-Offset": str(half), "Upload-Checksum": right})
    assert r.status_code == 204 and r.headers["Upload-Offset"] == str(len(data))
    assert create(http, server.endpoint, data).headers["Upload-Offset"] == str(len(data))
