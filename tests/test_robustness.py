"""Crashes, dead clients, concurrency and hostile input against a real server."""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import signal
import socket
import threading
from collections.abc import Callable
from functools import partial
from pathlib import Path

import httpx
import pytest
from tusclient.client import TusClient

from tests.conftest import ServerFactory
from tests.support import TUS, LiveServer, wait_for

OCTET = "application/offset+octet-stream"
MiB = 1024 * 1024


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def head_offset(url: str) -> int:
    r = httpx.head(url, headers=TUS, timeout=15)
    assert r.status_code == 200, r.status_code
    return int(r.headers["Upload-Offset"])


def test_sigkill_midway_then_resume(server_factory: ServerFactory, tmp_path: Path) -> None:
    data = os.urandom(20 * MiB)
    server = server_factory()
    uploader = TusClient(server.endpoint).uploader(file_stream=io.BytesIO(data), chunk_size=MiB)
    for _ in range(40):
        uploader.upload_chunk()
        if uploader.offset >= 8 * MiB:
            break
    assert 8 * MiB <= uploader.offset < len(data)
    url = uploader.url
    assert url is not None
    server.kill()
    server.start()  # same data dir, same port
    stored = head_offset(url)
    assert stored == uploader.offset  # every acknowledged byte survived the kill
    resumed = TusClient(server.endpoint).uploader(file_stream=io.BytesIO(data), url=url, chunk_size=MiB)
    assert resumed.offset == stored
    resumed.upload()
    assert head_offset(url) == len(data)
    assert sha(httpx.get(url, timeout=30).content) == sha(data)


def _half_patch(server: LiveServer, url: str, declared: int, sent: bytes) -> socket.socket:
    path = url.split(str(server.port), 1)[1]
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    request = (
        f"PATCH {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nTus-Resumable: 1.0.0\r\nUpload-Offset: 0\r\n"
        f"Content-Type: {OCTET}\r\nContent-Length: {declared}\r\n\r\n"
    ).encode()
    sock.sendall(request + sent)
    return sock


@pytest.mark.parametrize("store", ["file", "memory"])  # file locker and memory locker
@pytest.mark.parametrize("close", [False, True], ids=["silent", "closed"])
def test_stalled_patch_is_cut_by_the_next_request(server_factory: ServerFactory, close: bool, store: str) -> None:
    server = server_factory("--lock-timeout", "5", "--store", store)
    data = os.urandom(200_000)
    url = server.create(len(data))
    sent = data[:70_000]
    sock = _half_patch(server, url, len(data), sent)
    try:
        if close:
            sock.close()
        # The next request asks the stale PATCH for the lock; the stale bytes are kept, not lost.
        assert wait_for(lambda: head_offset(url) == len(sent) or None, timeout=20, what="stored offset")
        rest = httpx.patch(
            url, headers={**TUS, "Upload-Offset": str(len(sent)), "Content-Type": OCTET}, content=data[len(sent) :]
        )
        assert rest.status_code == 204, rest.text
        assert rest.headers["Upload-Offset"] == str(len(data))
        assert sha(httpx.get(url).content) == sha(data)
    finally:
        sock.close()


def test_four_workers_sixteen_uploads(server_factory: ServerFactory) -> None:
    server = server_factory("--workers", "4")
    payloads = [os.urandom(300_000 + i) for i in range(16)]
    urls: list[str | None] = [None] * 16
    errors: list[BaseException] = []

    def upload(i: int) -> None:
        try:
            with httpx.Client(timeout=30) as client:
                data = payloads[i]
                r = client.post(server.endpoint, headers={**TUS, "Upload-Length": str(len(data))})
                assert r.status_code == 201
                url = r.headers["Location"]
                for offset in range(0, len(data), 64 * 1024):
                    r = client.patch(
                        url,
                        headers={**TUS, "Upload-Offset": str(offset), "Content-Type": OCTET},
                        content=data[offset : offset + 64 * 1024],
                    )
                    assert r.status_code == 204, r.text
                urls[i] = url
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=upload, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    for url, data in zip(urls, payloads, strict=True):
        assert url is not None
        assert sha(httpx.get(url, timeout=30).content) == sha(data)


def test_concurrent_patches_never_interleave(server_factory: ServerFactory) -> None:
    server = server_factory("--workers", "2")
    size = 2 * MiB
    url = server.create(size)
    results: dict[str, httpx.Response] = {}

    def send(letter: bytes) -> None:
        def body() -> object:
            for _ in range(size // 65536):
                yield letter * 65536

        results[letter.decode()] = httpx.patch(
            url, headers={**TUS, "Upload-Offset": "0", "Content-Type": OCTET}, content=body(), timeout=30
        )

    threads = [threading.Thread(target=send, args=(c,)) for c in (b"A", b"B")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    statuses = sorted(r.status_code for r in results.values())
    assert statuses in ([204, 204], [204, 409], [204, 423]), statuses
    stored = head_offset(url)
    content = (server.data_dir / url.rsplit("/", 1)[1]).read_bytes()
    assert len(content) == stored
    assert content in (b"A" * stored, b"B" * stored), "bytes of two PATCHes interleaved"
    if statuses == [204, 204]:  # the first was cut before it stored anything; the second then wrote
        assert sorted(r.headers["Upload-Offset"] for r in results.values()) == ["0", str(stored)]


def _raw(port: int, request: bytes) -> int:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request)
        response = b""
        while b"\r\n" not in response:
            chunk = sock.recv(4096)
            if not chunk:
                break
            response += chunk
    status_line = response.split(b"\r\n", 1)[0]
    return int(status_line.split(b" ")[1]) if status_line.startswith(b"HTTP/1.1") else 400


def _snapshot(root: Path, skip: Path) -> dict[str, int]:
    return {
        str(p): p.stat().st_size
        for p in root.rglob("*")
        if p.is_file() and skip not in p.parents and not p.name.startswith("server-")
    }


def test_malformed_requests_are_4xx_and_stay_inside_the_data_dir(server_factory: ServerFactory, tmp_path: Path) -> None:
    sentinel = tmp_path / "sentinel"
    sentinel.mkdir()
    (sentinel / "keep.txt").write_text("untouched")
    server = server_factory("--max-size", "100000", data_dir=tmp_path / "sentinel" / "data")
    before = _snapshot(tmp_path, server.data_dir)
    good = server.create(10)
    good_id = good.rsplit("/", 1)[1]
    statuses: list[tuple[str, int]] = []

    def check(label: str, fn: Callable[[], httpx.Response]) -> None:
        statuses.append((label, fn().status_code))

    with httpx.Client(timeout=10) as c:
        ids = [
            "..%2F..%2Fetc%2Fpasswd", "%2e%2e", "%2e%2e%2f%2e%2e%2fsentinel%2fkeep.txt", "..",
            "a" * 5000, "x" * 64 + "y", good_id + ".info", good_id + "%00", "%00", "%2fetc%2fpasswd",
            ".locks", ".write-probe", "%20", "con", good_id + "%2F..", "....%2F%2F",
        ]  # fmt: skip
        for upload_id in ids:
            url = server.endpoint + upload_id
            check(f"HEAD {upload_id}", partial(c.head, url, headers=TUS))
            check(f"GET {upload_id}", partial(c.get, url))
            check(f"DELETE {upload_id}", partial(c.delete, url, headers=TUS))
            check(f"POST {upload_id}", partial(c.post, url, headers={**TUS, "Upload-Length": "1"}))
            check(f"GET range {upload_id}", partial(c.get, url, headers={"Range": "bytes=0-"}))
            check(
                f"PATCH {upload_id}",
                partial(c.patch, url, headers={**TUS, "Upload-Offset": "0", "Content-Type": OCTET}, content=b"evil"),
            )
        bad_ints = ["-1", "+5", "1e3", "0x10", "1_000", "99999999999999999999", "", "abc", "5,5", "1.0"]
        for value in bad_ints:
            check(f"POST len {value!r}", partial(c.post, server.endpoint, headers={**TUS, "Upload-Length": value}))
            check(
                f"PATCH off {value!r}",
                partial(c.patch, good, headers={**TUS, "Upload-Offset": value, "Content-Type": OCTET}, content=b"x"),
            )
            check(
                f"PATCH len {value!r}",
                partial(
                    c.patch, good, headers={**TUS, "Upload-Offset": "0", "Upload-Length": value, "Content-Type": OCTET}
                ),
            )
        bad_meta = ["a b c", "a !!!", "a YQ,a YQ==", ",", "a\tYQ==", "k" * 5000, "ké YQ==", "a YQ==,,"]
        for meta in bad_meta[:-1]:
            check(
                f"meta {meta[:20]!r}",
                partial(
                    c.post, server.endpoint, headers={**TUS, "Upload-Length": "1", "Upload-Metadata": meta.encode()}
                ),
            )  # type: ignore[dict-item]
        other = [
            {"Upload-Length": "100001"},
            {"Upload-Defer-Length": "0"},
            {"Upload-Defer-Length": "yes"},
            {"Upload-Length": "1", "Upload-Concat": "final;"},
            {"Upload-Length": "1", "Upload-Concat": "nonsense"},
            {"Upload-Concat": "final;/files/..%2F..%2Fetc /files/%2e%2e"},
            {"Upload-Concat": "final;http://other.example/files/abc"},
            {"Upload-Length": "1", "Upload-Checksum": "sha1 ###", "Content-Type": OCTET},
            {"Upload-Length": "1", "Repr-Digest": "sha-256=:nope"},
            {"Upload-Length": "1", "Tus-Resumable": "0.1"},
            {"Upload-Length": "1", "X-Huge": "h" * 20000},
            {"Upload-Length": "1", "Content-Type": "text/plain", "Content-Length": "1"},
        ]
        for headers in other:
            body = b"x" if "Content-Length" in headers or "Content-Type" in headers else None
            check(f"POST {list(headers)}", partial(c.post, server.endpoint, headers={**TUS, **headers}, content=body))
        for value in ["sha1", "sha1 a b", "md4 AAAA", "sha1 !!!!", "SHA1"]:
            check(
                f"checksum {value}",
                partial(
                    c.patch,
                    good,
                    headers={**TUS, "Upload-Offset": "0", "Content-Type": OCTET, "Upload-Checksum": value},
                    content=b"x",
                ),
            )
        for tus in ["", "1.0", "2", "1.0.0,0.2.2", "0.2.2", "x" * 100, "1.0.0.0"]:
            for method in ["POST", "HEAD", "PATCH", "DELETE"]:
                target = server.endpoint if method == "POST" else good
                headers = {"Tus-Resumable": tus, "Upload-Length": "1", "Upload-Offset": "0", "Content-Type": OCTET}
                check(f"{method} tus {tus[:10]!r}", partial(c.request, method, target, headers=headers))
        for ctype in [
            "",
            "text/plain",
            "application/octet-stream",
            "application/offset",
            "multipart/form-data",
            "application/offset+octet-stream-x",
            "*/*",
            "application/json",
        ]:
            check(
                f"ctype {ctype}",
                partial(c.patch, good, headers={**TUS, "Upload-Offset": "0", "Content-Type": ctype}, content=b"x"),
            )
            check(
                f"post ctype {ctype}",
                partial(
                    c.post, server.endpoint, headers={**TUS, "Upload-Length": "1", "Content-Type": ctype}, content=b"x"
                ),
            )
        for offset in ["1", "5", "10", "11", "9223372036854775807"]:
            check(
                f"offset {offset}",
                partial(c.patch, good, headers={**TUS, "Upload-Offset": offset, "Content-Type": OCTET}, content=b"x"),
            )
        for method in ["PUT", "TRACE", "FOO"]:
            check(f"{method}", partial(c.request, method, good, headers=TUS))
    raw_requests = [
        b"HEAD /files/..%2F..%2Fetc%2Fpasswd HTTP/1.1\r\nHost: x\r\nTus-Resumable: 1.0.0\r\n\r\n",
        b"HEAD /files/../../etc/passwd HTTP/1.1\r\nHost: x\r\nTus-Resumable: 1.0.0\r\n\r\n",
        b"GET /files/../sentinel/keep.txt HTTP/1.1\r\nHost: x\r\n\r\n",
        b"PATCH /files/%2e%2e/%2e%2e/x HTTP/1.1\r\nHost: x\r\nTus-Resumable: 1.0.0\r\nUpload-Offset: 0\r\n"
        b"Content-Type: application/offset+octet-stream\r\nContent-Length: 1\r\n\r\nx",
        b"HEAD /files/abc\x00def0123456789 HTTP/1.1\r\nHost: x\r\nTus-Resumable: 1.0.0\r\n\r\n",
        b"POST /files/ HTTP/1.1\r\nHost: x\r\nTus-Resumable: 1.0.0\r\nUpload-Length: 1\x00\r\n\r\n",
        b"POST /files/ HTTP/1.1\r\nHost: x\r\nTus-Resumable: 1.0.0\r\nUpload-Metadata: a \xff\xfe\r\n"
        b"Upload-Length: 1\r\n\r\n",
        b"POST /files/ HTTP/1.1\r\nHost: x\r\nTus-Resumable: 1.0.0\r\nUpload-Length: 5\r\n"
        b"Content-Type: application/offset+octet-stream\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        b"GARBAGE\r\n\r\n",
        b"PATCH /files/" + good_id.encode() + b" HTTP/1.1\r\nHost: x\r\nTus-Resumable: 1.0.0\r\n"
        b"Upload-Offset: 0\r\nContent-Type: application/offset+octet-stream\r\nContent-Length: -5\r\n\r\n",
    ]
    for i, raw in enumerate(raw_requests):
        statuses.append((f"raw {i}", _raw(server.port, raw)))
    assert len(statuses) > 200
    bad = [(label, status) for label, status in statuses if not 400 <= status < 500]
    assert not bad, bad
    assert _snapshot(tmp_path, server.data_dir) == before
    assert (sentinel / "keep.txt").read_text() == "untouched"
    # still healthy, and the good upload untouched by all of the above
    assert head_offset(good) == 0
    r = httpx.patch(good, headers={**TUS, "Upload-Offset": "0", "Content-Type": OCTET}, content=b"0123456789")
    assert r.status_code == 204
    assert httpx.get(good).content == b"0123456789"


def test_sigterm_is_not_blocked_by_a_stalled_client(server_factory: ServerFactory) -> None:
    server = server_factory("--shutdown-timeout", "1")
    data = os.urandom(50_000)
    url = server.create(len(data))
    sent = data[:20_000]
    sock = _half_patch(server, url, len(data), sent)
    try:
        assert server.proc is not None
        # Once the PATCH holds the upload's lock it is a request in flight, not an idle connection.
        lock_file = server.data_dir / ".locks" / (url.rsplit("/", 1)[1] + ".lock")
        wait_for(lock_file.exists, timeout=20, what="the PATCH to take the lock")
        os.killpg(server.proc.pid, signal.SIGTERM)
        wait_for(lambda: server.proc is not None and server.proc.poll() is not None, timeout=20, what="exit")
        response = sock.recv(4096)  # the cut PATCH is answered with what it stored, if the socket still listens
        assert response == b"" or response.startswith(b"HTTP/1.1 204")
    finally:
        sock.close()
    server.start()
    assert head_offset(url) == len(sent)  # the stalled PATCH's bytes were kept, not lost


def test_delete_cuts_a_stalled_patch_and_nothing_comes_back(server_factory: ServerFactory) -> None:
    server = server_factory("--lock-timeout", "5")
    url = server.create(100_000)
    upload_id = url.rsplit("/", 1)[1]
    sock = _half_patch(server, url, 100_000, b"q" * 30_000)
    try:
        lock_file = server.data_dir / ".locks" / f"{upload_id}.lock"
        wait_for(lock_file.exists, timeout=20, what="the PATCH to take the lock")
        r = httpx.delete(url, headers=TUS, timeout=15)
        assert r.status_code == 204, r.text
        assert httpx.head(url, headers=TUS).status_code == 410
        with contextlib.suppress(OSError):  # the dead PATCH's client wakes up: nothing may resurrect it
            sock.sendall(b"q" * 1000)
    finally:
        sock.close()
    assert httpx.head(url, headers=TUS).status_code == 410
    assert not (server.data_dir / upload_id).exists()
