"""checksum beyond the conformance suite: all algorithms, 460 then retry, bad headers, creation, cut bodies."""

from __future__ import annotations

import base64
import hashlib
import os
import re
import socket
import zlib
from urllib.parse import urlsplit

import httpx
import pytest

from tests.conftest import ServerFactory
from tests.support import OCTET, TUS, InProcessServer, LiveServer, wait_for


def sha1(data: bytes) -> str:
    return "sha1 " + base64.b64encode(hashlib.sha1(data).digest()).decode()


def test_checksum_on_creation_with_upload(app: InProcessServer) -> None:
    server = app
    headers = {**TUS, "Upload-Length": "10", "Content-Type": OCTET}
    good = server.client.post(server.endpoint, content=b"hello", headers={**headers, "Upload-Checksum": sha1(b"hello")})
    assert good.status_code == 201 and good.headers["Upload-Offset"] == "5"
    bad = server.client.post(server.endpoint, content=b"hellO", headers={**headers, "Upload-Checksum": sha1(b"hello")})
    assert bad.status_code == 460
    assert server.client.head(bad.headers["Location"], headers=TUS).headers["Upload-Offset"] == "0"


def _received_bytes(server: LiveServer) -> float:
    match = re.search(
        r"^tusserver_request_body_bytes_total ([0-9.e+]+)$", server.client.get(f"{server.url}/metrics").text, re.M
    )
    return float(match.group(1)) if match else 0.0


@pytest.mark.parametrize(("checksum", "kept"), [(True, 0), (False, 700)], ids=["checksummed", "control"])
def test_cut_patch(server_factory: ServerFactory, checksum: bool, kept: int) -> None:
    """Half a checksummed body cannot be verified, so none of it is kept; without a checksum it is."""
    server = server_factory("--metrics")
    url = server.create(2000)
    data = b"q" * 2000
    lines = [
        f"PATCH {httpx.URL(url).path} HTTP/1.1", "Host: x", "Tus-Resumable: 1.0.0", "Upload-Offset: 0",
        "Content-Type: application/offset+octet-stream", "Content-Length: 2000",
    ]  # fmt: skip
    if checksum:
        lines.append(f"Upload-Checksum: {sha1(data)}")
    sock = socket.create_connection(("127.0.0.1", server.port))
    try:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + data[:700])
        # The server has the 700 bytes in hand (and holds the upload's lock) before we resume.
        wait_for(lambda: _received_bytes(server) >= 700, what="server to receive 700 bytes")
        head = httpx.head(url, headers=TUS, timeout=15)  # cuts the stale PATCH through a release request
        assert head.status_code == 200
        assert head.headers["Upload-Offset"] == str(kept)
    finally:
        sock.close()


def digest(algorithm: str, data: bytes) -> str:
    if algorithm == "crc32":
        raw = zlib.crc32(data).to_bytes(4, "big")
    else:
        raw = hashlib.new(algorithm, data).digest()
    return base64.b64encode(raw).decode()


def patch(http: httpx.Client, url: str, data: bytes, offset: int, checksum: str | None) -> httpx.Response:
    headers = {**TUS, "Content-Type": OCTET, "Upload-Offset": str(offset)}
    if checksum is not None:
        headers["Upload-Checksum"] = checksum
    return http.patch(url, content=data, headers=headers)


def offset_of(http: httpx.Client, url: str) -> int:
    return int(http.head(url, headers=TUS).headers["Upload-Offset"])


@pytest.mark.parametrize("algorithm", ["sha1", "md5", "sha256", "sha512", "crc32"])
def test_every_algorithm_accepted_when_right(shared: InProcessServer, algorithm: str) -> None:
    first, second = b"first chunk " * 100, b"second chunk" * 50
    url = shared.create(len(first) + len(second))
    r = patch(shared.client, url, first, 0, f"{algorithm} {digest(algorithm, first)}")
    assert r.status_code == 204, r.text
    # A wrong digest of the right length for this algorithm is rejected too.
    r = patch(shared.client, url, second, len(first), f"{algorithm} {digest(algorithm, second + b'x')}")
    assert r.status_code == 460, r.text
    assert offset_of(shared.client, url) == len(first)
    r = patch(shared.client, url, second, len(first), f"{algorithm} {digest(algorithm, second)}")
    assert r.status_code == 204, r.text
    assert shared.client.get(url).content == first + second


def test_corrupted_chunk_is_discarded_then_retry_succeeds(shared: InProcessServer) -> None:
    good = bytes(range(256)) * 64
    corrupted = bytearray(good)
    corrupted[1000] ^= 0xFF
    url = shared.create(len(good) * 2)
    assert patch(shared.client, url, good, 0, f"sha256 {digest('sha256', good)}").status_code == 204
    r = patch(shared.client, url, bytes(corrupted), len(good), f"sha256 {digest('sha256', good)}")
    assert r.status_code == 460
    assert r.text.strip()
    assert offset_of(shared.client, url) == len(good)
    if shared.settings.store == "file":  # the rejected chunk left nothing on disk either
        assert (shared.data_dir / url.rsplit("/", 1)[1]).stat().st_size == len(good)
    r = patch(shared.client, url, good, len(good), f"sha256 {digest('sha256', good)}")
    assert r.status_code == 204
    assert r.headers["Upload-Offset"] == str(2 * len(good))
    assert shared.client.get(url).content == good * 2


@pytest.mark.parametrize(
    "header",
    [
        "sha256",  # no digest
        "sha256 !!!notbase64!!!",
        "sha256 a b",
        "",
        "whirlpool " + base64.b64encode(b"x" * 64).decode(),  # unsupported algorithm
        "sha3-256 " + base64.b64encode(b"x" * 32).decode(),
    ],
)
def test_malformed_or_unsupported_is_400(shared: InProcessServer, header: str) -> None:
    url = shared.create(5)
    r = patch(shared.client, url, b"hello", 0, header)
    assert r.status_code == 400, (header, r.status_code, r.text)
    assert r.text.strip() and "\n" not in r.text.strip()
    assert offset_of(shared.client, url) == 0


def _send_then_disconnect(url: str, total: bytes, sent: bytes, checksum: str | None) -> None:
    parts = urlsplit(url)
    assert parts.hostname is not None and parts.port is not None
    head = (
        f"PATCH {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\nTus-Resumable: 1.0.0\r\n"
        "Content-Type: application/offset+octet-stream\r\nUpload-Offset: 0\r\n"
        + (f"Upload-Checksum: {checksum}\r\n" if checksum else "")
        + f"Content-Length: {len(total)}\r\n\r\n"
    )
    with socket.create_connection((parts.hostname, parts.port)) as sock:
        sock.sendall(head.encode() + sent)


@pytest.mark.parametrize("with_checksum", [True, False])
def test_patch_disconnected_mid_body(real_server: LiveServer, with_checksum: bool) -> None:
    shared = real_server
    """Client gone mid-body: without a checksum the bytes that arrived stay; with one, nothing is kept."""
    full = b"z" * 200_000
    sent = full[:50_000]
    url = shared.create(len(full))
    _send_then_disconnect(url, full, sent, f"sha1 {digest('sha1', full)}" if with_checksum else None)
    expected = 0 if with_checksum else len(sent)
    # Poll until the server has noticed the disconnect and released the upload.
    wait_for(lambda: offset_of(shared.client, url) == expected, timeout=15, what=f"offset {expected}")
    assert (shared.data_dir / url.rsplit("/", 1)[1]).stat().st_size == expected
    rest = full[expected:]
    assert patch(shared.client, url, rest, expected, f"sha1 {digest('sha1', rest)}").status_code == 204
    assert shared.client.get(url).content == full


def test_server_killed_mid_checksummed_patch_keeps_no_unverified_bytes(server_factory: ServerFactory) -> None:
    """kill -9 while a checksummed chunk is half on disk: after restart the offset is where it was.

    The second PATCH rewrites the marker the first one left (blank) in place: the on-disk point a
    kill must find right."""
    server = server_factory("--write-buffer", "65536")
    head_part = b"h" * 1000
    url = server.create(1000 + 300_000)
    assert patch(server.client, url, head_part, 0, f"md5 {digest('md5', head_part)}").status_code == 204
    chunk = os.urandom(300_000)
    data_file = server.data_dir / url.rsplit("/", 1)[1]
    parts = urlsplit(url)
    assert parts.hostname is not None and parts.port is not None
    request = (
        f"PATCH {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\nTus-Resumable: 1.0.0\r\n"
        "Content-Type: application/offset+octet-stream\r\nUpload-Offset: 1000\r\n"
        f"Upload-Checksum: sha256 {digest('sha256', chunk)}\r\nContent-Length: {len(chunk)}\r\n\r\n"
    ).encode()
    with socket.create_connection((parts.hostname, parts.port)) as sock:
        sock.sendall(request + chunk[:150_000])
        # Part of the unverified chunk is on disk when the server dies.
        wait_for(lambda: data_file.stat().st_size > 1000, what="unverified bytes written")
        server.kill()
    server.start()
    assert offset_of(server.client, url) == 1000
    assert patch(server.client, url, chunk, 1000, f"sha256 {digest('sha256', chunk)}").status_code == 204
    assert server.client.get(url).content == head_part + chunk
    assert data_file.stat().st_size == 1000 + len(chunk)
    # The marker, kept blank between checksummed PATCHes (the first one made it, the killed one rewrote
    # it in place), goes with the upload's last byte.
    assert not data_file.with_name(data_file.name + ".unverified").exists()
