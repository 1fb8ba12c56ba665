"""Checksum extension: every algorithm, 460 discards the chunk, malformed headers are 400."""

from __future__ import annotations

import base64
import hashlib
import socket
import zlib
from urllib.parse import urlsplit

import httpx
import pytest

from tests.support import TUS, LiveServer, wait_for

OCTET = {"Content-Type": "application/offset+octet-stream"}


def digest(algorithm: str, data: bytes) -> str:
    if algorithm == "crc32":
        raw = zlib.crc32(data).to_bytes(4, "big")
    else:
        raw = hashlib.new(algorithm, data).digest()
    return base64.b64encode(raw).decode()


def patch(url: str, data: bytes, offset: int, checksum: str | None) -> httpx.Response:
    headers = {**TUS, **OCTET, "Upload-Offset": str(offset)}
    if checksum is not None:
        headers["Upload-Checksum"] = checksum
    return httpx.patch(url, content=data, headers=headers)


def offset_of(url: str) -> int:
    return int(httpx.head(url, headers=TUS).headers["Upload-Offset"])


def test_options_lists_algorithms(server: LiveServer) -> None:
    r = httpx.options(server.endpoint)
    assert "checksum" in r.headers["Tus-Extension"].split(",")
    algorithms = set(r.headers["Tus-Checksum-Algorithm"].split(","))
    assert {"sha1", "md5", "sha256", "sha512", "crc32"} <= algorithms


@pytest.mark.parametrize("algorithm", ["sha1", "md5", "sha256", "sha512", "crc32"])
def test_every_algorithm_accepted_when_right(server: LiveServer, algorithm: str) -> None:
    first, second = b"first chunk " * 100, b"second chunk" * 50
    url = server.create(len(first) + len(second))
    r = patch(url, first, 0, f"{algorithm} {digest(algorithm, first)}")
    assert r.status_code == 204, r.text
    # A wrong digest of the right length for this algorithm is rejected too.
    r = patch(url, second, len(first), f"{algorithm} {digest(algorithm, second + b'x')}")
    assert r.status_code == 460, r.text
    assert offset_of(url) == len(first)
    r = patch(url, second, len(first), f"{algorithm} {digest(algorithm, second)}")
    assert r.status_code == 204, r.text
    assert httpx.get(url).content == first + second


def test_corrupted_chunk_is_discarded_then_retry_succeeds(server: LiveServer) -> None:
    good = bytes(range(256)) * 64
    corrupted = bytearray(good)
    corrupted[1000] ^= 0xFF
    url = server.create(len(good) * 2)
    assert patch(url, good, 0, f"sha256 {digest('sha256', good)}").status_code == 204
    r = patch(url, bytes(corrupted), len(good), f"sha256 {digest('sha256', good)}")
    assert r.status_code == 460
    assert r.text.strip()
    assert offset_of(url) == len(good)
    assert (server.data_dir / url.rsplit("/", 1)[1]).stat().st_size == len(good)
    r = patch(url, good, len(good), f"sha256 {digest('sha256', good)}")
    assert r.status_code == 204
    assert r.headers["Upload-Offset"] == str(2 * len(good))
    assert httpx.get(url).content == good * 2


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
def test_malformed_or_unsupported_is_400(server: LiveServer, header: str) -> None:
    url = server.create(5)
    r = patch(url, b"hello", 0, header)
    assert r.status_code == 400, (header, r.status_code, r.text)
    assert r.text.strip() and "\n" not in r.text.strip()
    assert offset_of(url) == 0


def test_checksum_on_creation_with_upload(server: LiveServer) -> None:
    body = b"created with its first chunk"
    headers = {**TUS, **OCTET, "Upload-Length": str(len(body) + 3)}
    r = httpx.post(server.endpoint, content=body, headers={**headers, "Upload-Checksum": f"md5 {digest('md5', body)}"})
    assert r.status_code == 201, r.text
    assert r.headers["Upload-Offset"] == str(len(body))

    bad = httpx.post(server.endpoint, content=body, headers={**headers, "Upload-Checksum": f"md5 {digest('md5', b'x')}"})
    assert bad.status_code == 460, bad.text
    location = bad.headers["Location"]
    assert offset_of(location) == 0
    # The upload exists and resumes from 0 with the right checksum.
    assert patch(location, body, 0, f"md5 {digest('md5', body)}").status_code == 204

    unsupported = httpx.post(server.endpoint, content=body, headers={**headers, "Upload-Checksum": "foo YWJj"})
    assert unsupported.status_code == 400


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
def test_patch_cut_mid_body(server: LiveServer, with_checksum: bool) -> None:
    """Cut mid-body: without a checksum the bytes that arrived stay; with one, nothing is kept."""
    full = b"z" * 200_000
    sent = full[:50_000]
    url = server.create(len(full))
    _send_then_disconnect(url, full, sent, f"sha1 {digest('sha1', full)}" if with_checksum else None)
    expected = 0 if with_checksum else len(sent)
    # Poll until the server has noticed the disconnect and released the upload.
    wait_for(lambda: offset_of(url) == expected, timeout=15, what=f"offset {expected}")
    assert (server.data_dir / url.rsplit("/", 1)[1]).stat().st_size == expected
    rest = full[expected:]
    assert patch(url, rest, expected, f"sha1 {digest('sha1', rest)}").status_code == 204
    assert httpx.get(url).content == full
