"""`TusHttpToolsProtocol` (`--lean-http`, on by default) under a real uvicorn, over real sockets.

It swaps uvicorn's body buffering for its own, so these drive every path that buffering touches:
a Content-Length body, a chunked body, `Expect: 100-continue`, two requests on one connection, and a
client that goes away mid-body. A probe app echoes what it received (size, sha256, and which cycle
class answered `receive`), so a wrong byte or a silently stock protocol fails here.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import uvicorn

from tests.support import free_port, wait_for
from tusserver.http_protocol import TusHttpToolsProtocol, supported

received_disconnect = threading.Event()


async def probe(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    digest, size = hashlib.sha256(), 0
    cycle_class = type(getattr(receive, "__self__", None)).__name__
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            received_disconnect.set()
            return
        digest.update(message["body"])
        size += len(message["body"])
        if not message.get("more_body"):
            break
    body = json.dumps({"size": size, "sha256": digest.hexdigest(), "cycle": cycle_class}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    assert supported(), "the installed uvicorn lacks what TusHttpToolsProtocol relies on"
    port = free_port()
    config = uvicorn.Config(probe, host="127.0.0.1", port=port, http=TusHttpToolsProtocol, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_for(lambda: server.started, timeout=30, what="uvicorn with TusHttpToolsProtocol")
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


def expect(echo: dict[str, Any], data: bytes) -> None:
    assert echo["cycle"] == "_PiecesCycle"
    assert echo["size"] == len(data)
    assert echo["sha256"] == hashlib.sha256(data).hexdigest()


def test_content_length_body_arrives_whole(base_url: str) -> None:
    data = os.urandom(5 * 1024 * 1024 + 123)
    expect(httpx.post(base_url, content=data, timeout=30).json(), data)


def test_chunked_body_arrives_whole(base_url: str) -> None:
    data = os.urandom(3 * 1024 * 1024 + 7)

    def pieces() -> Iterator[bytes]:
        for i in range(0, len(data), 100_000):
            yield data[i : i + 100_000]

    expect(httpx.post(base_url, content=pieces(), timeout=30).json(), data)


def _read_response(sock: socket.socket, buffered: bytes = b"") -> tuple[bytes, bytes]:
    """One HTTP response (headers + Content-Length body) from the socket; returns (body, leftover)."""
    data = buffered
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536)
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    length = next(int(line.split(b":")[1]) for line in lines if line.lower().startswith(b"content-length"))
    while len(rest) < length:
        rest += sock.recv(65536)
    return rest[:length], rest[length:]


def test_expect_100_continue(base_url: str) -> None:
    data = os.urandom(2 * 1024 * 1024)
    port = int(base_url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: %d\r\n\r\n" % len(data))
        interim = b""
        while b"\r\n\r\n" not in interim:
            interim += sock.recv(65536)
        assert interim.startswith(b"HTTP/1.1 100 Continue"), interim[:40]
        sock.sendall(data)
        body, _ = _read_response(sock, interim.split(b"\r\n\r\n", 1)[1])
    expect(json.loads(body), data)


def test_two_requests_pipelined_on_one_connection(base_url: str) -> None:
    first, second = os.urandom(300_000), os.urandom(70_000)
    port = int(base_url.rsplit(":", 1)[1])
    request = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n"
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(request % len(first) + first + request % len(second) + second)
        body1, rest = _read_response(sock)
        body2, _ = _read_response(sock, rest)
    expect(json.loads(body1), first)
    expect(json.loads(body2), second)


def test_client_leaving_mid_body_is_a_disconnect_and_the_server_goes_on(base_url: str) -> None:
    received_disconnect.clear()
    port = int(base_url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10000000\r\n\r\n" + b"x" * 500_000)
    wait_for(received_disconnect.is_set, timeout=10, what="http.disconnect in the app")
    data = os.urandom(1000)
    expect(httpx.post(base_url, content=data, timeout=30).json(), data)
