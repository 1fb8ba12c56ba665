"""Large PATCH bodies on a real `tusserver serve`, with the direct socket -> file path on (the default) and off.

Whichever path a body takes, a tus client must see the same server: the bytes stored exactly, a bad
Upload-Checksum discarding the whole chunk, a client that leaves mid-body keeping what arrived, a
Repr-Digest checked over bytes that went through the worker thread, and the connection reusable for
the next request (tus clients keep one connection for PATCH after PATCH). The mechanism itself is
tested in tests/server/test_direct_body.py.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import socket

import httpx
import pytest

from tests.client.helpers import body_bytes_received
from tests.conftest import ServerFactory
from tests.support import OCTET, PATCH, TUS, LiveServer, half_patch, wait_for

MiB = 1024 * 1024


@pytest.fixture(scope="module", params=["direct", "loop"])
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> LiveServer:
    args = ["--body-threads", "0"] if request.param == "loop" else []
    live = LiveServer(tmp_path_factory.mktemp(request.param), *args).start()
    request.addfinalizer(live.stop)
    return live


def b64(digest: bytes) -> str:
    return base64.b64encode(digest).decode()


def offset_of(url: str) -> int:
    return int(httpx.head(url, headers=TUS).headers["Upload-Offset"])


def test_checksummed_patches_store_good_chunks_and_discard_a_bad_one(server: LiveServer) -> None:
    data = os.urandom(12 * MiB + 5)
    url = server.create(len(data))
    with httpx.Client(timeout=60) as client:  # one keep-alive connection, as tus clients use
        first = data[: 8 * MiB]
        good = {**PATCH, "Upload-Offset": "0", "Upload-Checksum": "sha256 " + b64(hashlib.sha256(first).digest())}
        assert client.patch(url, content=first, headers=good).status_code == 204
        rest = data[8 * MiB :]
        bad = {**PATCH, "Upload-Offset": str(8 * MiB), "Upload-Checksum": "sha1 " + b64(hashlib.sha1(b"x").digest())}
        refused = client.patch(url, content=rest, headers=bad)
        assert refused.status_code == 460 and refused.text.count("\n") == 1
        assert client.head(url, headers=TUS).headers["Upload-Offset"] == str(8 * MiB)
        md5 = {**PATCH, "Upload-Offset": str(8 * MiB), "Upload-Checksum": "md5 " + b64(hashlib.md5(rest).digest())}
        assert client.patch(url, content=rest, headers=md5).status_code == 204
        assert client.get(url, headers=TUS).content == data


def test_a_repr_digest_is_checked_over_the_bytes_the_thread_moved(server: LiveServer) -> None:
    data = os.urandom(3 * MiB)
    digest = f"sha-256=:{b64(hashlib.sha256(data).digest())}:"
    url = server.create(len(data), {"Repr-Digest": digest})
    r = httpx.patch(url, content=data[: 2 * MiB], headers={**PATCH, "Upload-Offset": "0"}, timeout=60)
    assert r.status_code == 204
    r = httpx.patch(url, content=data[2 * MiB :], headers={**PATCH, "Upload-Offset": str(2 * MiB)}, timeout=60)
    assert r.status_code == 204, r.text
    wrong = server.create(len(data), {"Repr-Digest": f"sha-256=:{b64(hashlib.sha256(b'other').digest())}:"})
    r = httpx.patch(wrong, content=data, headers={**PATCH, "Upload-Offset": "0"}, timeout=60)
    assert r.status_code == 460, r.text


def test_a_client_that_leaves_mid_body_keeps_what_arrived_and_resumes(server: LiveServer) -> None:
    data = os.urandom(4 * MiB)
    url = server.create(len(data))
    sent = data[: 3 * MiB // 2]
    half_patch(server, url, sent, promised=len(data)).close()
    wait_for(lambda: offset_of(url) == len(sent), what="the bytes sent before leaving to be stored")
    r = httpx.patch(url, content=data[len(sent) :], headers={**PATCH, "Upload-Offset": str(len(sent))}, timeout=60)
    assert r.status_code == 204
    assert httpx.get(url, headers=TUS).content == data


def test_a_patch_and_a_head_pipelined_on_one_connection_are_both_answered(server: LiveServer) -> None:
    data = os.urandom(2 * MiB)
    url = server.create(len(data))
    path = httpx.URL(url).path
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        sock.sendall(
            f"PATCH {path} HTTP/1.1\r\nHost: x\r\nTus-Resumable: 1.0.0\r\nUpload-Offset: 0\r\n"
            f"Content-Type: {OCTET}\r\nContent-Length: {len(data)}\r\n\r\n".encode()
            + data
            + f"HEAD {path} HTTP/1.1\r\nHost: x\r\nTus-Resumable: 1.0.0\r\n\r\n".encode()
        )
        answers = b""
        while answers.count(b"\r\n\r\n") < 2:
            got = sock.recv(65536)
            assert got, answers
            answers += got
    patched, headed = answers.split(b"\r\n\r\n")[:2]
    assert patched.startswith(b"HTTP/1.1 204") and headed.startswith(b"HTTP/1.1 200")
    assert f"upload-offset: {len(data)}".encode() in headed.lower()


@pytest.mark.parametrize("threads", ["4", "0"], ids=["direct", "loop"])
def test_body_bytes_are_counted_in_metrics_and_the_access_log(server_factory: ServerFactory, threads: str) -> None:
    """Bytes the worker thread moved never pass through `receive()`; the counters must see them anyway."""
    server = server_factory(
        "--metrics", "--access-log", "--log-format", "json", "--log-level", "info", "--body-threads", threads,
        env={"PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    data = os.urandom(3 * MiB)
    url = server.create(len(data))
    assert httpx.patch(url, content=data, headers={**PATCH, "Upload-Offset": "0"}, timeout=60).status_code == 204
    assert body_bytes_received(server.url) == len(data)
    logged = wait_for(
        lambda: [json.loads(line) for line in server.log_path.read_text().splitlines() if '"PATCH"' in line],
        what="the PATCH logged",
    )
    assert logged[-1]["bytes"] == len(data)
