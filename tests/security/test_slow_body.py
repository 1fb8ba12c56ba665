"""A PATCH whose body stops midway and whose socket stays open, silent (the slow-body attack and also a
client whose network died without a FIN).

Before (issue #11): no read timeout, so the request, its lock on the upload and its descriptor were held
forever. Now after `--read-timeout` seconds of silence the connection is closed, the body reader sees the
same disconnect as when a client leaves, the bytes received are kept and the next HEAD reports them.
"""

from __future__ import annotations

import socket
from urllib.parse import urlsplit

import httpx
import pytest

from tests.conftest import ServerFactory
from tests.security.transport_support import fd_count, peer_closed
from tests.support import TUS, wait_for

SENT = 300_000


@pytest.mark.parametrize(
    "flags",
    [(), ("--body-threads", "0"), ("--no-lean-http",)],
    ids=["body-thread", "written-by-the-loop", "no-lean-http"],
)
def test_a_body_that_stops_is_cut_and_its_bytes_are_kept(server_factory: ServerFactory, flags: tuple[str, ...]) -> None:
    """With lean HTTP the 700 KB still unread go to a direct transfer: a body thread's poll times out, or
    (no thread) the loop's read timer ends its sink; without it, uvicorn's receive() path."""
    server = server_factory("--read-timeout", "2", *flags)
    assert server.proc is not None
    url = server.create(1_000_000)
    baseline = fd_count(server.proc.pid)
    path = urlsplit(url).path.encode()
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        sock.sendall(
            b"PATCH " + path + b" HTTP/1.1\r\nHost: x\r\nTus-Resumable: 1.0.0\r\nUpload-Offset: 0\r\n"
            b"Content-Type: application/offset+octet-stream\r\nContent-Length: 1000000\r\n\r\n" + b"b" * SENT
        )
        wait_for(lambda: peer_closed(sock), timeout=30, what="the silent PATCH closed by the server")

    def offset() -> str | None:
        response = httpx.head(url, headers=TUS)
        return response.headers.get("Upload-Offset") if response.status_code == 200 else None

    assert wait_for(lambda: offset() == str(SENT) and offset(), timeout=30, what=f"HEAD reports {SENT}") == str(SENT)
    wait_for(lambda: fd_count(server.proc.pid) <= baseline, timeout=30, what="server descriptors back")  # type: ignore[union-attr]
    resumed = httpx.patch(
        url,
        content=b"b" * (1_000_000 - SENT),
        headers={**TUS, "Upload-Offset": str(SENT), "Content-Type": "application/offset+octet-stream"},
    )
    assert resumed.status_code == 204, resumed.text
    assert resumed.headers["Upload-Offset"] == "1000000"
    assert "Traceback" not in server.log()
