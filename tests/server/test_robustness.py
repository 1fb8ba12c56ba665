"""The server under stress a user would cause: crashes, dropped connections, workers, hostile input."""

from __future__ import annotations

import contextlib
import hashlib
import os
import signal
import socket
import threading
from pathlib import Path

import httpx
import pytest
from tusclient import client as tus_client

from tests.conftest import ServerFactory
from tests.support import PATCH, TUS, LiveServer, half_patch, upload_locked, wait_for

MiB = 1024 * 1024


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_tuspy_upload_survives_sigkill_and_restart(server_factory: ServerFactory, tmp_path: Path) -> None:
    """20 MiB in 1 MiB chunks; the server is SIGKILLed midway, restarted, and tuspy resumes from HEAD."""
    data = os.urandom(20 * MiB)
    source = tmp_path / "video.bin"
    source.write_bytes(data)
    server = server_factory()
    uploader = tus_client.TusClient(server.endpoint).uploader(
        str(source), chunk_size=MiB, metadata={"filename": "video.bin"}
    )
    while uploader.offset < 8 * MiB:
        uploader.upload_chunk()
    server.kill()
    server.start()  # same port, same data dir
    head = httpx.head(uploader.url, headers=TUS)
    assert head.status_code == 200
    assert int(head.headers["Upload-Offset"]) == uploader.offset  # exactly the bytes on disk, nothing lost

    resumed = tus_client.TusClient(server.endpoint).uploader(str(source), chunk_size=MiB, url=uploader.url)
    assert resumed.offset == uploader.offset  # tuspy asked the server with HEAD
    resumed.upload()
    assert sha256(httpx.get(uploader.url).content) == sha256(data)


@pytest.mark.parametrize("close_socket", [False, True], ids=["silent-open-connection", "closed-connection"])
def test_resume_right_after_a_dead_patch(server: LiveServer, close_socket: bool) -> None:
    """The client's earlier PATCH still holds the lock (silent TCP) or just died: resuming works at once."""
    data = os.urandom(3 * MiB)
    url = server.create(len(data))
    sent = data[: MiB + 12345]
    sock = half_patch(server, url, sent, promised=len(data))
    try:
        if close_socket:
            sock.close()
        # A HEAD asks the stale PATCH to let go; its bytes are saved and counted.
        head = wait_for(
            lambda: (
                (h := httpx.head(url, headers=TUS, timeout=20)).status_code == 200
                and int(h.headers["Upload-Offset"]) == len(sent)
                and h
            ),
            timeout=20,
            what="HEAD to report the bytes of the dead PATCH",
        )
        offset = int(head.headers["Upload-Offset"])
        r = httpx.patch(url, content=data[offset:], headers={**PATCH, "Upload-Offset": str(offset)}, timeout=20)
        assert r.status_code == 204, r.text
        assert sha256(httpx.get(url).content) == sha256(data)
    finally:
        sock.close()


def test_workers_with_concurrent_uploads(server_factory: ServerFactory) -> None:
    """--workers 4, 16 uploads at once in 256 KiB PATCHes: every file byte-identical."""
    server = server_factory("--workers", "4")
    payloads = [os.urandom(MiB + i * 4099) for i in range(16)]
    results: dict[int, str] = {}
    errors: list[BaseException] = []

    def upload(index: int) -> None:
        try:
            data = payloads[index]
            with httpx.Client(timeout=30) as http:
                r = http.post(server.endpoint, headers={**TUS, "Upload-Length": str(len(data))})
                assert r.status_code == 201, r.text
                url = r.headers["Location"]
                for offset in range(0, len(data), 256 * 1024):
                    chunk = data[offset : offset + 256 * 1024]
                    r = http.patch(url, content=chunk, headers={**PATCH, "Upload-Offset": str(offset)})
                    assert r.status_code == 204, r.text
                results[index] = sha256(http.get(url).content)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=upload, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, (errors, server.log())
    assert results == {i: sha256(p) for i, p in enumerate(payloads)}


def test_two_patches_at_once_never_interleave(server_factory: ServerFactory) -> None:
    """Two clients PATCH the same offset at the same time: one wins, the other is refused or cut, the file is right.

    Both bodies are on the wire at once, and the first disk write comes only after 1 MiB, so without the
    lock both pass the offset check and both answer 204 (checked with the lock broken: 5 failures in 5).
    The stored bytes are read from the data file (a GET of an unfinished upload answers 409, whose body
    says nothing about them) and again through GET once the upload is finished with the winner's byte.
    """
    server = server_factory("--workers", "2")
    size = 2 * MiB
    url = server.create(size)
    upload_id = url.rsplit("/", 1)[1]
    bodies = {"a": b"a" * size, "b": b"b" * size}
    statuses: dict[str, int] = {}
    barrier = threading.Barrier(2)
    both_sending = threading.Barrier(2)

    def send(name: str) -> None:
        def slow_body() -> object:
            for i in range(0, size, 64 * 1024):
                yield bodies[name][i : i + 64 * 1024]
                if i == 0:
                    # Both requests are on the wire before either body goes on: their bodies overlap in time.
                    with contextlib.suppress(threading.BrokenBarrierError):
                        both_sending.wait(timeout=10)

        barrier.wait()
        try:
            r = httpx.patch(url, content=slow_body(), headers={**PATCH, "Upload-Offset": "0"}, timeout=30)
            statuses[name] = r.status_code
        except httpx.TransportError:
            statuses[name] = -1

    threads = [threading.Thread(target=send, args=(n,)) for n in bodies]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    # 400: cut by the other request's lock release request; 409: it found the other's bytes first.
    assert set(statuses.values()) <= {204, 400, 409, 423, -1}, statuses
    assert list(statuses.values()).count(204) <= 1, statuses  # both from offset 0: one wrote over the other
    head = httpx.head(url, headers=TUS)
    offset = int(head.headers["Upload-Offset"])
    stored = (server.data_dir / upload_id).read_bytes()
    assert len(stored) == offset
    letters = set(stored)
    assert len(letters) <= 1, f"bytes of both PATCHes in one file: {sorted(letters)}"
    winner = bytes(letters) or b"a"
    if offset < size:
        r = httpx.patch(url, content=winner * (size - offset), headers={**PATCH, "Upload-Offset": str(offset)})
        assert r.status_code == 204, r.text
    assert httpx.get(url).content == winner * size


BAD_REQUESTS: list[tuple[str, str, dict[str, str], bytes]] = []


def raw_request(port: int, method: str, path: str, headers: dict[str, str], body: bytes) -> int:
    """Send bytes exactly as given (httpx refuses some of these headers) and return the status code."""
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", "Connection: close"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    if body:
        lines.append(f"Content-Length: {len(body)}")
    raw = ("\r\n".join(lines) + "\r\n\r\n").encode() + body
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(raw)
        response = b""
        while b"\r\n" not in response:
            chunk = sock.recv(4096)
            if not chunk:
                break
            response += chunk
    return int(response.split(b" ", 2)[1])


def _build_bad_requests() -> None:
    paths = [
        "/files/..%2F..%2Fetc%2Fpasswd", "/files/%2e%2e/%2e%2e/etc/passwd", "/files/....//....//etc",
        "/files/" + "a" * 300, "/files/abc%00def", "/files/%00", "/files/.info", "/files/x.info",
        "/files/..", "/files/.", "/files/%2F", "/files/AAAAAAAAAAAAAAAAAAAAAA/../../x",
    ]  # fmt: skip
    for path in paths:
        for method in ("HEAD", "PATCH", "DELETE", "GET", "OPTIONS"):
            BAD_REQUESTS.append((method, path, {**PATCH, "Upload-Offset": "0"}, b"evil"))
    # (" 5" is not here: HTTP strips whitespace around header values, so it arrives as "5".)
    bad_ints = ["-1", "+5", "5 5", "1e3", "0x10", "1_000", "99999999999999999999999", "", "abc", "1.0"]
    for value in bad_ints:
        BAD_REQUESTS.append(("POST", "/files/", {**TUS, "Upload-Length": value}, b""))
    bad_metadata = ["k v v", "k !!!", "k a,k b", " ,", "k\u00e9 dg==", "a" * 5000 + " dg==", "k dg=", ","]
    for value in bad_metadata:
        BAD_REQUESTS.append(("POST", "/files/", {**TUS, "Upload-Length": "1", "Upload-Metadata": value}, b""))
    odd_headers = [
        {"Upload-Length": "1"},
        {**TUS, "Upload-Length": "1", "Upload-Defer-Length": "1"},
        {**TUS, "Upload-Defer-Length": "2"},
        {**TUS},
        {**TUS, "Upload-Length": "1", "Upload-Concat": "weird"},
        {**TUS, "Upload-Concat": "final;"},
        {**TUS, "Upload-Concat": "final;/files/nope /files/../x"},
        {**TUS, "Upload-Concat": "final;http://elsewhere/files/AAAAAAAAAAAAAAAAAAAAAA"},
        {**TUS, "Upload-Length": "4", "Content-Type": "text/plain"},
        {**TUS, "Upload-Length": "1", "Repr-Digest": "sha-256=:notbase64!:"},
        {**TUS, "Upload-Length": "1", "Repr-Digest": "sha-256=:AAAA:"},
        {**TUS, "Upload-Length": "1", "X-Huge": "x" * 20000},
        {"Tus-Resumable": "0.2.2", "Upload-Length": "1"},
        {**TUS, "Upload-Length": "1", "Upload-Checksum": "sha1 x", "Content-Type": "application/offset+octet-stream"},
    ]
    for headers in odd_headers:
        BAD_REQUESTS.append(("POST", "/files/", headers, b"body"))


_build_bad_requests()


def test_malformed_requests_get_4xx_and_write_nothing_outside(server_factory: ServerFactory, tmp_path: Path) -> None:
    sentinel = tmp_path / "outside"
    sentinel.mkdir()
    server = server_factory(data_dir=tmp_path / "data")
    url = server.create(10)
    upload_path = httpx.URL(url).path
    per_upload = [
        ("PATCH", upload_path, {**TUS, "Upload-Offset": "0", "Content-Type": "text/plain"}, b"x"),
        ("PATCH", upload_path, {**PATCH}, b"x"),
        ("PATCH", upload_path, {**PATCH, "Upload-Offset": "5"}, b"x"),
        ("PATCH", upload_path, {**PATCH, "Upload-Offset": "-0"}, b"x"),
        ("PATCH", upload_path, {**PATCH, "Upload-Offset": "0"}, b"x" * 11),
        ("PATCH", upload_path, {**PATCH, "Upload-Offset": "0", "Upload-Length": "12"}, b"x"),
        ("PATCH", upload_path, {**PATCH, "Upload-Offset": "0", "Upload-Checksum": "sha1"}, b"x"),
        ("PATCH", upload_path, {**PATCH, "Upload-Offset": "0", "Upload-Checksum": "whirlpool AAAA"}, b"x"),
        ("PATCH", upload_path, {"Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"}, b"x"),
        ("GET", upload_path, {"Range": "bytes=0-1"}, b""),
        ("POST", upload_path, {**TUS}, b""),
    ]
    statuses = [
        (method, path[:60], raw_request(server.port, method, path, headers, body))
        for method, path, headers, body in BAD_REQUESTS + per_upload
    ]
    assert len(statuses) > 100
    server_errors = [s for s in statuses if s[2] >= 500]
    assert not server_errors, server_errors
    bad = [s for s in statuses if not (400 <= s[2] < 500) and s[0] != "OPTIONS"]
    assert not bad, bad
    assert list(sentinel.iterdir()) == []
    assert not Path("/etc/passwd.info").exists()
    # Nothing was stored in the valid upload by the bad PATCHes, and the server is still healthy.
    assert httpx.head(url, headers=TUS).headers["Upload-Offset"] == "0"
    ok = httpx.patch(url, content=b"0123456789", headers={**PATCH, "Upload-Offset": "0"})
    assert ok.status_code == 204
    assert "Traceback" not in server.log()


def test_body_with_h2c_upgrade_is_refused_not_lost(server: LiveServer) -> None:
    """uvicorn drops the body of an unsupported upgrade; we must say so (400), never answer 204 for nothing."""
    url = server.create(100)
    status = raw_request(
        server.port, "PATCH", httpx.URL(url).path,
        {**PATCH, "Upload-Offset": "0", "Connection": "Upgrade, HTTP2-Settings", "Upgrade": "h2c",
         "HTTP2-Settings": "AAMAAABkAAQCAAAAAAIAAAAA"},
        b"x" * 100,
    )  # fmt: skip
    assert status == 400
    assert httpx.head(url, headers=TUS).headers["Upload-Offset"] == "0"


@pytest.mark.parametrize("size, sent_size", [(50_000, 20_000), (4 << 20, 600 << 10)], ids=["loop", "direct"])
def test_sigterm_is_not_blocked_by_a_stalled_client(server_factory: ServerFactory, size: int, sent_size: int) -> None:
    """A silent client kept the server from stopping on SIGTERM forever; now --shutdown-timeout cuts it.

    With a large body the rest is moved by a body thread blocked in poll (read timeout 60 s): the
    shutdown's cancellation must stop it, not wait for it."""
    server = server_factory("--shutdown-timeout", "1")
    data = os.urandom(size)
    url = server.create(len(data))
    sent = data[:sent_size]
    sock = half_patch(server, url, sent, promised=len(data))
    try:
        assert server.proc is not None
        # Once the PATCH holds the upload's lock it is a request in flight, not an idle connection.
        wait_for(lambda: upload_locked(server.data_dir, url), timeout=20, what="the PATCH to take the lock")
        os.killpg(server.proc.pid, signal.SIGTERM)
        wait_for(lambda: server.proc is not None and server.proc.poll() is not None, timeout=20, what="exit")
        response = sock.recv(4096)
        assert response == b"" or response.startswith(b"HTTP/1.1 204")
    finally:
        sock.close()
    server.start()
    assert int(httpx.head(url, headers=TUS).headers["Upload-Offset"]) == len(
        sent
    )  # the stalled PATCH's bytes were kept, not lost
