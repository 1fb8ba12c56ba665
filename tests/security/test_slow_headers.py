"""Slowloris: many sockets send a request head a byte at a time, each byte well within the read timeout.

Before (issue #11): uvicorn had no header timeout, so 500 such sockets stayed open as long as the
attacker liked, each holding a descriptor. Now a head must arrive whole within `--read-timeout` of its
first byte, so every one is closed and the server's descriptors return to where they were.
"""

from __future__ import annotations

import socket

import httpx

from tests.conftest import ServerFactory
from tests.security.transport_support import PROTOCOLS, fd_count, peer_closed, want_open_files
from tests.support import TUS, wait_for

SOCKETS = 300


@PROTOCOLS
def test_slowloris_heads_are_all_closed_and_descriptors_come_back(
    server_factory: ServerFactory, flags: tuple[str, ...]
) -> None:
    want_open_files(SOCKETS + 100)
    server = server_factory("--read-timeout", "2", *flags)
    assert server.proc is not None
    pid = server.proc.pid
    assert httpx.options(server.endpoint).status_code == 204
    baseline = fd_count(pid)
    sockets = [socket.create_connection(("127.0.0.1", server.port), timeout=30) for _ in range(SOCKETS)]
    try:
        for sock in sockets:
            sock.sendall(b"PATCH /files/x HTTP/1.1\r\nHost: x\r\n")
        open_ = list(sockets)

        def dribble() -> bool:
            # one more byte of a never-ending header on every socket still open, every ~0.2 s
            for sock in list(open_):
                if peer_closed(sock):
                    open_.remove(sock)
                    continue
                try:
                    sock.send(b"X")
                except OSError:
                    open_.remove(sock)
            return not open_

        wait_for(dribble, timeout=90, interval=0.2, what=f"all {SOCKETS} dribbling sockets closed by the server")
    finally:
        for sock in sockets:
            sock.close()
    wait_for(lambda: fd_count(pid) <= baseline, timeout=30, what=f"server descriptors back to {baseline}")
    response = httpx.post(server.endpoint, headers={**TUS, "Upload-Length": "5"})
    assert response.status_code == 201, response.text
    assert "Traceback" not in server.log()
