"""A PATCH cut short by another request for the same upload (a lock release request) must not claim success.

Before: the cut PATCH answered 204, so a client that had sent only part of its body took it as stored
whole. Now (as tusd does): 400 with a one-line reason naming the bytes stored, and the HEAD that cut
it reports exactly those bytes; the upload then resumes to a byte-identical file.
"""

from __future__ import annotations

import contextlib
import os
import socket

import httpx
import pytest

from tests.auth.keys import claims, hs256
from tests.conftest import ServerFactory
from tests.support import PATCH, TUS, half_patch, read_http_response, upload_locked, wait_for

KiB = 1024
SECRET = "cut-patch-test-secret-of-32-bytes!"


def read_response(sock: socket.socket) -> tuple[int, str]:
    response = read_http_response(sock)
    return response.status, response.body.decode()


@pytest.mark.parametrize("auth", [False, True], ids=["no-auth", "same-owner"])
def test_patch_cut_by_a_head_answers_400_and_head_reports_its_bytes(server_factory: ServerFactory, auth: bool) -> None:
    server = server_factory(*(["--jwt-secret", SECRET] if auth else []))
    token = hs256(claims("alice", ttl=600), SECRET) if auth else ""
    tus = {**TUS, "Authorization": f"Bearer {token}"} if auth else TUS
    data = os.urandom(600 * KiB)
    created = httpx.post(server.endpoint, headers={**tus, "Upload-Length": str(len(data))})
    assert created.status_code == 201, created.text
    url = created.headers["Location"]
    sent = data[: 300 * KiB]
    sock = half_patch(server, url, sent, promised=len(data), auth=token)
    try:
        head = httpx.head(url, headers=tus, timeout=30)  # waits for the lock, asks the PATCH to let go
        assert head.status_code == 200
        offset = int(head.headers["Upload-Offset"])
        status, body = read_response(sock)
    finally:
        sock.close()
    assert status == 400, body
    assert body.count("\n") == 1 and "cut short" in body, body
    assert f"{offset} bytes are stored" in body  # the PATCH and the HEAD agree on what is stored
    assert 0 < offset <= len(sent)
    headers = {**tus, "Content-Type": "application/offset+octet-stream", "Upload-Offset": str(offset)}
    r = httpx.patch(url, content=data[offset:], headers=headers, timeout=30)
    assert r.status_code == 204, r.text
    assert httpx.get(url, headers=tus).content == data


def test_patch_cut_by_a_second_patch_answers_400(server_factory: ServerFactory) -> None:
    """The client resumes over its own stale PATCH: the stale one learns it was cut; the new one proceeds."""
    server = server_factory()
    data = os.urandom(600 * KiB)
    url = server.create(len(data))
    sock = half_patch(server, url, data[: 200 * KiB], promised=len(data))
    try:
        # The second PATCH from the same offset cuts the first, then finds the first's bytes: 409.
        r = httpx.patch(url, content=data, headers={**PATCH, "Upload-Offset": "0"}, timeout=30)
        status, body = read_response(sock)
    finally:
        sock.close()
    assert status == 400, body
    offset = int(httpx.head(url, headers=TUS).headers["Upload-Offset"])
    assert r.status_code == 409 or (r.status_code == 204 and offset == len(data)), (r.status_code, r.text)
    if offset < len(data):
        r = httpx.patch(url, content=data[offset:], headers={**PATCH, "Upload-Offset": str(offset)})
        assert r.status_code == 204, r.text
    assert httpx.get(url).content == data


def head_offset(url: str) -> int:
    r = httpx.head(url, headers=TUS, timeout=15)
    assert r.status_code == 200, r.status_code
    return int(r.headers["Upload-Offset"])


@pytest.mark.parametrize("store", ["file", "memory"])  # file locker and memory locker
def test_stalled_patch_is_cut_by_the_next_request(server_factory: ServerFactory, store: str) -> None:
    server = server_factory("--lock-timeout", "5", "--store", store)
    data = os.urandom(200_000)
    url = server.create(len(data))
    sent = data[:70_000]
    sock = half_patch(server, url, sent, promised=len(data))
    try:
        assert wait_for(lambda: head_offset(url) == len(sent) or None, timeout=20, what="stored offset")
        rest = httpx.patch(url, headers={**PATCH, "Upload-Offset": str(len(sent))}, content=data[len(sent) :])
        assert rest.status_code == 204, rest.text
        assert httpx.get(url).content == data
    finally:
        sock.close()


def test_delete_cuts_a_stalled_patch_and_nothing_comes_back(server_factory: ServerFactory) -> None:
    server = server_factory("--lock-timeout", "5")
    url = server.create(100_000)
    upload_id = url.rsplit("/", 1)[1]
    sock = half_patch(server, url, b"q" * 30_000, promised=100_000)
    try:
        wait_for(lambda: upload_locked(server.data_dir, upload_id), timeout=20, what="the PATCH to take the lock")
        r = httpx.delete(url, headers=TUS, timeout=15)
        assert r.status_code == 204, r.text
        assert httpx.head(url, headers=TUS).status_code == 410
        with contextlib.suppress(OSError):  # the dead PATCH's client wakes up: nothing may resurrect it
            sock.sendall(b"q" * 1000)
    finally:
        sock.close()
    assert httpx.head(url, headers=TUS).status_code == 410
    assert not (server.data_dir / upload_id).exists()
