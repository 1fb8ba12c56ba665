"""`GuardedHttpToolsProtocol` and `LeanHttpToolsProtocol` (`--lean-http`, on by default) under a real
uvicorn, over real sockets.

Both replace uvicorn's `data_received` (the head cap) and add a read timer; the lean one also swaps
uvicorn's body buffering for its own. So these drive every path that touches: a Content-Length body, a
chunked body, `Expect: 100-continue`, two requests on one connection, a client that goes away mid-body,
a head over the cap, a silent client, and an app that makes the client wait (which must not count as
the client's silence). A probe app echoes what it received (size, sha256, and which cycle class
answered `receive`), so a wrong byte or a silently stock protocol fails here. The attacks on a real
`tusserver serve` are in tests/security/.
"""

from __future__ import annotations

import asyncio
import functools
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

from tests.support import free_port, read_http_response, wait_for
from tusserver.constants import INFORMATIONAL
from tusserver.server.http_protocol import GuardedHttpToolsProtocol, LeanHttpToolsProtocol, TransportLimits, supported

received_disconnect = threading.Event()
LIMITS = TransportLimits(max_head_bytes=4096, read_timeout_s=1.0)


async def probe(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    if scope["path"] == "/late":  # the app makes the client wait (a lock, a slow disk) before it reads
        await asyncio.sleep(LIMITS.read_timeout_s * 3)
    if scope["path"] == "/interim":  # the draft's 104, twice
        for n in (1, 2):
            await scope["extensions"][INFORMATIONAL].send(104, [(b"upload-offset", b"%d" % n)])
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
    echo = {"size": size, "sha256": digest.hexdigest(), "cycle": cycle_class}
    if scope["path"] == "/interim-late":  # the echo's head is out: a 1xx now would break the framing
        length = len(json.dumps({**echo, "late_interim_sent": 0}))  # 0 or 1: the same length
        head = [(b"content-type", b"application/json"), (b"content-length", str(length).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": head})
        echo["late_interim_sent"] = int(await scope["extensions"][INFORMATIONAL].send(104, []))
        await send({"type": "http.response.body", "body": json.dumps(echo).encode()})
        return
    body = json.dumps(echo).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


KINDS = {"lean": (LeanHttpToolsProtocol, "_PiecesCycle"), "guarded": (GuardedHttpToolsProtocol, "_KeptBodyCycle")}
CYCLE: dict[str, str] = {}


@pytest.fixture(scope="module", params=sorted(KINDS))
def base_url(request: pytest.FixtureRequest) -> Iterator[str]:
    assert supported(), "the installed uvicorn lacks what the tusserver protocols rely on"
    kind, cycle = KINDS[request.param]
    port = free_port()
    protocol = functools.partial(kind, limits=LIMITS)
    config = uvicorn.Config(probe, host="127.0.0.1", port=port, http=protocol, log_level="warning")  # type: ignore[arg-type]
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_for(lambda: server.started, timeout=30, what=f"uvicorn with {kind.__name__}")
    CYCLE["expected"] = cycle
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


def expect(echo: dict[str, Any], data: bytes) -> None:
    assert echo["cycle"] == CYCLE["expected"]
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
    """One response's body, and what followed it."""
    response = read_http_response(sock, buffered)
    return response.body, response.rest


def test_expect_100_continue(base_url: str) -> None:
    data = os.urandom(2 * 1024 * 1024)
    port = int(base_url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: %d\r\n\r\n" % len(data))
        interim = read_http_response(sock)  # the 100 Continue
        assert interim.status == 100, interim
        sock.sendall(data)
        body, _ = _read_response(sock, interim.rest)
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


def _port(base_url: str) -> int:
    return int(base_url.rsplit(":", 1)[1])


def _closed(sock: socket.socket) -> bytes | None:
    """Everything the server sent before closing, or None while the connection is still open."""
    sock.settimeout(0.2)
    received = b""
    try:
        while chunk := sock.recv(65536):
            received += chunk
    except TimeoutError:
        return None
    except ConnectionResetError:
        pass
    return received or b"closed"


def test_a_head_over_the_cap_gets_431_and_the_connection_closes(base_url: str) -> None:
    with socket.create_connection(("127.0.0.1", _port(base_url)), timeout=30) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 6000)  # never finished
        answer = wait_for(lambda: _closed(sock), timeout=15, what="431 and close")
    assert answer.startswith(b"HTTP/1.1 431 "), answer[:60]
    assert answer.endswith(b"\r\n\r\nrequest headers exceed 4096 bytes\n")


def test_a_head_just_under_the_cap_and_a_body_in_the_same_read_pass(base_url: str) -> None:
    head = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\nX-Pad: "
    data = os.urandom(200_000)
    start = head % len(data)
    padded = start + b"p" * (4096 - len(start) - 4) + b"\r\n\r\n"
    assert len(padded) == 4096
    with socket.create_connection(("127.0.0.1", _port(base_url)), timeout=30) as sock:
        sock.sendall(padded + data)
        body, _ = _read_response(sock)
    expect(json.loads(body), data)


def test_a_silent_connection_is_closed(base_url: str) -> None:
    with socket.create_connection(("127.0.0.1", _port(base_url)), timeout=30) as sock:
        assert wait_for(lambda: _closed(sock), timeout=15, what="silent connection closed") == b"closed"


def test_a_head_dribbled_faster_than_the_timeout_is_still_closed(base_url: str) -> None:
    with socket.create_connection(("127.0.0.1", _port(base_url)), timeout=30) as sock:

        def dribble_until_closed() -> bool:
            try:
                sock.sendall(b"X-Slow: 1\r\n"[:1])
            except OSError:
                return True
            return _closed(sock) is not None

        sock.sendall(b"GET / HTTP/1.1\r\n")
        wait_for(dribble_until_closed, timeout=20, interval=0.1, what="dribbled head closed")


def test_a_body_that_stops_is_a_disconnect_in_the_app(base_url: str) -> None:
    received_disconnect.clear()
    with socket.create_connection(("127.0.0.1", _port(base_url)), timeout=30) as sock:
        sock.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n" + b"x" * 100_000)
        wait_for(received_disconnect.is_set, timeout=15, what="http.disconnect after the client went silent")
        assert wait_for(lambda: _closed(sock), timeout=15, what="connection closed") == b"closed"


def test_waiting_for_the_app_is_not_the_clients_silence(base_url: str) -> None:
    """The app sleeps 3x the timeout before reading: a big body (reading paused) and 100-continue wait."""
    data = os.urandom(2 * 1024 * 1024)
    expect(httpx.post(base_url + "/late", content=data, timeout=30).json(), data)
    with socket.create_connection(("127.0.0.1", _port(base_url)), timeout=30) as sock:
        sock.sendall(b"POST /late HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n")
        interim = read_http_response(sock)  # the 100 Continue
        assert interim.status == 100, interim
        sock.sendall(b"hello")
        body, _ = _read_response(sock, interim.rest)
    expect(json.loads(body), b"hello")


@pytest.mark.parametrize("lean", [True, False])
def test_serve_always_gets_the_guards_and_lean_http_only_adds_the_body_hand_over(lean: bool) -> None:
    import pickle

    from tusserver.config import Settings
    from tusserver.server.http_protocol import protocol_for

    settings = Settings(lean_http=lean, max_header_bytes=1234, read_timeout_s=7.0)
    protocol = protocol_for(settings)
    assert isinstance(protocol, functools.partial)
    assert protocol.func is (LeanHttpToolsProtocol if lean else GuardedHttpToolsProtocol)
    limits = TransportLimits(max_head_bytes=1234, read_timeout_s=7.0, body_threads=settings.body_threads)
    assert settings.body_threads > 0 and protocol.keywords == {"limits": limits}
    copy = pickle.loads(pickle.dumps(protocol))  # uvicorn --workers sends its config to spawned processes
    assert copy.func is protocol.func and copy.keywords == protocol.keywords


def test_an_untested_uvicorn_release_falls_back(monkeypatch: pytest.MonkeyPatch) -> None:
    """The protocols reuse uvicorn's private attributes: a release they were not tested with gets stock uvicorn."""
    assert supported()
    monkeypatch.setattr(uvicorn, "__version__", "0.99.0")
    assert not supported()


@pytest.mark.parametrize(("version", "interim"), [("1.1", [104, 104]), ("1.0", [])])
def test_informational_responses_come_before_the_final_one(base_url: str, version: str, interim: list[int]) -> None:
    """The app's 1xx responses (scope extension INFORMATIONAL) are written before its final response; never
    to an HTTP/1.0 client, which RFC 9110 forbids; never once the response started."""
    port = int(base_url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(f"POST /interim HTTP/{version}\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc".encode())
        seen, rest = [], b""
        while True:
            response = read_http_response(sock, rest)
            rest = response.rest
            if response.status != 104:
                break
            seen.append((response.status, response.headers["upload-offset"]))
    assert [status for status, _ in seen] == interim
    assert [offset for _, offset in seen] == [str(n + 1) for n in range(len(interim))]
    assert response.status == 200
    expect(json.loads(response.body), b"abc")


def test_no_informational_response_once_the_response_started(base_url: str) -> None:
    port = int(base_url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(b"POST /interim-late HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc")
        response = read_http_response(sock)
    assert response.status == 200
    assert json.loads(response.body)["late_interim_sent"] == 0
