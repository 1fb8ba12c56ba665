"""TLS connections that never finish the handshake (issue #22).

Before: the handshake ran before the HTTP protocol (and its read timer) saw the connection, and uvicorn
gives the loop no handshake timeout, so a client that opened a TCP connection to a TLS server and sent
nothing, or the start of a ClientHello, was closed only at the loop's default of 60 s whatever
`--read-timeout` said. Now the handshake must finish within `--read-timeout`.
"""

from __future__ import annotations

import socket
from pathlib import Path

import httpx

from tests.security.transport_support import fd_count, peer_closed
from tests.support import TUS, TlsServer, self_signed_certificate, wait_for

READ_TIMEOUT = 2


def test_a_handshake_that_never_finishes_is_cut_at_the_read_timeout(tmp_path: Path) -> None:
    cert, key = self_signed_certificate(tmp_path)
    server = TlsServer(tmp_path / "data", cert, key, "--read-timeout", str(READ_TIMEOUT))
    server.start()
    try:
        assert server.proc is not None
        pid = server.proc.pid
        baseline = fd_count(pid)
        silent = socket.create_connection(("127.0.0.1", server.port), timeout=30)
        started = socket.create_connection(("127.0.0.1", server.port), timeout=30)
        started.sendall(b"\x16\x03\x01\x02\x00\x01")  # a TLS record header and the start of a ClientHello
        with silent, started:
            # Far below the loop's 60 s default, which is what closed them before.
            wait_for(lambda: peer_closed(silent), timeout=30, what="a silent TLS connection closed")
            wait_for(lambda: peer_closed(started), timeout=30, what="a half-sent ClientHello closed")
        wait_for(lambda: fd_count(pid) <= baseline, timeout=30, what="server descriptors back")
        created = httpx.post(server.endpoint, headers={**TUS, "Upload-Length": "0"}, verify=server.context)
        assert created.status_code == 201, created.text
        assert created.headers["Location"].startswith("https://")
        assert "Traceback" not in server.log()
    finally:
        server.stop()
