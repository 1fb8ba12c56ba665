"""Refused requests never take an upload's lock, so they can never cut a PATCH that is running on it.

Waiting for an upload's lock asks its holder to let go (that is how a client's HEAD cuts its own stale PATCH).
Before the fix, PATCH and DELETE took the lock and only then checked who was asking: anyone with a valid
token for ANY `sub` could cut Alice's upload at will (her PATCH answered 400 half-way), just by naming it.

Alice streams one PATCH over a raw socket and stops half-way, holding the lock; the half already written is
seen on disk. Mallory (another `sub`) and a token of Alice's that the platform restricted to another upload
then PATCH, DELETE and HEAD her upload: each gets 403 (with a fresh token: the token itself was valid), and
Alice's PATCH, resumed afterwards, completes with 204 and the full offset.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

import httpx

from tests.auth.session import PATCH_HEADERS, ROTATING, TokenChain, bearer, decode, mint
from tests.conftest import ServerFactory
from tests.support import read_http_response, wait_for

SIZE = 256 * 1024
HALF = SIZE // 2


def _start_patch(port: int, path: str, token: str, first: bytes) -> socket.socket:
    """Send a PATCH's head and the first part of its body; the rest follows later on the same socket."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=60)
    head = (
        f"PATCH {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nTus-Resumable: 1.0.0\r\n"
        f"Authorization: Bearer {token}\r\nContent-Type: application/offset+octet-stream\r\n"
        f"Upload-Offset: 0\r\nContent-Length: {SIZE}\r\n\r\n"
    )
    sock.sendall(head.encode() + first)
    return sock


def _read_response(sock: socket.socket) -> tuple[int, dict[str, str]]:
    response = read_http_response(sock)
    return response.status, response.headers


def test_refused_requests_do_not_cut_a_running_patch(server_factory: ServerFactory) -> None:
    # A small write buffer, so the bytes of the first half reach the disk while the PATCH is still running.
    # Tokens live 30 s here: this test is about the lock, not about expiry, and the machine may be slow.
    server = server_factory(*ROTATING, "--token-ttl", "30", "--write-buffer", "4096", "--lock-timeout", "30")
    data = os.urandom(SIZE)
    alice = TokenChain(mint("alice", ttl=30))
    url = alice.create(server.endpoint, SIZE)
    other = alice.create(server.endpoint, 10)  # another upload of Alice's
    upload_id = url.rsplit("/", 1)[1]
    data_file = Path(server.data_dir) / upload_id

    sock = _start_patch(server.port, f"/files/{upload_id}", alice.token, data[:HALF])
    try:
        # The PATCH holds the lock and is writing: its first bytes are on disk.
        wait_for(lambda: data_file.stat().st_size > 0, timeout=30, what="the PATCH to start writing")

        mallory = mint("mallory", ttl=30)
        restricted = mint("alice", ttl=30, upload_id=other.rsplit("/", 1)[1])
        for name, token in (("mallory", mallory), ("restricted", restricted)):
            for method, headers, body in (
                ("PATCH", {**PATCH_HEADERS, "Upload-Offset": "0"}, b"evil"),
                ("DELETE", {}, b""),
                ("HEAD", {}, b""),
            ):
                response = httpx.request(method, url, headers={**bearer(token), **headers}, content=body, timeout=60)
                assert response.status_code == 403, (name, method, response.status_code, response.text)
                assert decode(response.headers["X-New-Token"])["sub"] == ("mallory" if name == "mallory" else "alice")

        sock.sendall(data[HALF:])
        status, headers = _read_response(sock)
    finally:
        sock.close()
    assert status == 204, (status, headers)
    assert headers["upload-offset"] == str(SIZE)
    assert alice.request("HEAD", url).headers["Upload-Offset"] == str(SIZE)
    assert alice.request("GET", url).content == data
    alice.close()
