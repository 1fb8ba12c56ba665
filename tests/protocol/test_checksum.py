"""checksum beyond the conformance suite: on creation-with-upload, and a cut checksummed body."""

from __future__ import annotations

import base64
import hashlib
import re
import socket

import httpx
import pytest

from tests.conftest import ServerFactory
from tests.support import TUS, LiveServer, wait_for


def sha1(data: bytes) -> str:
    return "sha1 " + base64.b64encode(hashlib.sha1(data).digest()).decode()


def test_checksum_on_creation_with_upload(server: LiveServer) -> None:
    headers = {**TUS, "Upload-Length": "10", "Content-Type": "application/offset+octet-stream"}
    good = httpx.post(server.endpoint, content=b"hello", headers={**headers, "Upload-Checksum": sha1(b"hello")})
    assert good.status_code == 201 and good.headers["Upload-Offset"] == "5"
    bad = httpx.post(server.endpoint, content=b"hellO", headers={**headers, "Upload-Checksum": sha1(b"hello")})
    assert bad.status_code == 460
    assert httpx.head(bad.headers["Location"], headers=TUS).headers["Upload-Offset"] == "0"


def _received_bytes(server: LiveServer) -> float:
    match = re.search(
        r"^tusserver_request_body_bytes_total ([0-9.e+]+)$", httpx.get(f"{server.url}/metrics").text, re.M
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
