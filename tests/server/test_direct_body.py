"""`DirectBody` (http_protocol.py + body_pump.py): the rest of a body moved socket -> file by a worker thread.

A real uvicorn with `LeanHttpToolsProtocol` over real sockets, and a probe app that hands every request's
body to `into_file` (a temporary file) and answers with what it moved, why it ended, the sha256 its hasher
saw and the sha256 of the file. Each case checks the bytes, and that the connection is still in step
afterwards: the next request on the same socket (sent right behind the body, pipelined) must be answered.
What tusserver does with it (a PATCH end to end, checksum discard, a cut body's bytes kept) is in
tests/server/test_direct_body_server.py against a real `tusserver serve`.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import json
import os
import socket
import tempfile
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import uvicorn

from tests.support import free_port, read_http_response, wait_for
from tusserver.server import body_pump
from tusserver.server.body_pump import Stopper
from tusserver.server.direct_body import DIRECT_BODY
from tusserver.server.http_protocol import DIRECT_MIN_BYTES, LeanHttpToolsProtocol, TransportLimits

LIMITS = TransportLimits(max_head_bytes=4096, read_timeout_s=1.0, body_threads=2)
MiB = 1024 * 1024
RESULTS: list[dict[str, Any]] = []  # what the app saw for a request whose answer never reaches the client
STOPPERS: dict[str, Stopper] = {}
HOLD = threading.Event()  # requests to /hold wait for it before they read: they keep a body thread busy


async def probe(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    headers = dict(scope["headers"])
    if scope["path"] == "/hold":
        await asyncio.get_running_loop().run_in_executor(None, HOLD.wait, 30)
    room = int(headers.get(b"x-room", b"%d" % (1 << 40)))
    hasher = hashlib.sha256()
    # With body threads the hasher rides along; on the loop a hashed body is declined (tested on its own).
    hashed = (CURRENT["mode"] == "threads" and b"x-no-hash" not in headers) or b"x-hash" in headers
    hashers = [hasher] if hashed else []
    direct = (scope.get("extensions") or {}).get(DIRECT_BODY)
    answer: dict[str, Any] = {"offered": direct is not None}
    with tempfile.TemporaryFile() as file:
        stopper = Stopper()
        if b"x-stop" in headers:  # the test calls stop() on it, as the locker would
            STOPPERS[headers[b"x-stop"].decode()] = stopper
        task = asyncio.current_task()
        if b"x-cancel-after" in headers and task is not None:  # as uvicorn's shutdown cancels a request
            asyncio.get_running_loop().call_later(float(headers[b"x-cancel-after"]), task.cancel)
        pumped = await direct.into_file(file.fileno(), 0, room, hashers, stopper) if direct else None
        if task is not None and task.cancelling():
            task.uncancel()
        stopper.close()
        if pumped is None:  # the fallback: the app reads the body as any ASGI app does
            while (message := await receive())["type"] == "http.request":
                file.write(message["body"])
                hasher.update(message["body"])
                if not message.get("more_body"):
                    break
            answer["used"] = False
        else:
            answer.update(used=True, moved=pumped.moved, ended=pumped.ended.value)
        file.seek(0)
        stored = file.read()
    file_sha256 = hashlib.sha256(stored).hexdigest()
    answer.update(size=len(stored), file_sha256=file_sha256, sha256=hasher.hexdigest() if hashed else file_sha256)
    RESULTS.append(answer)
    body = json.dumps(answer).encode()
    headers_out = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers_out})
    await send({"type": "http.response.body", "body": body})


CURRENT = {"mode": ""}
MODES = {"threads": LIMITS, "loop": TransportLimits(max_head_bytes=4096, read_timeout_s=1.0, body_threads=0)}


@pytest.fixture(scope="module", params=sorted(MODES))
def port(request: pytest.FixtureRequest) -> Iterator[int]:
    """A server whose direct transfers run in body threads, or (none configured) in `data_received`."""
    port = free_port()
    protocol = functools.partial(LeanHttpToolsProtocol, limits=MODES[request.param])
    CURRENT["mode"] = request.param
    config = uvicorn.Config(probe, host="127.0.0.1", port=port, http=protocol, log_level="warning")  # type: ignore[arg-type]
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_for(lambda: server.started, timeout=30, what="uvicorn with LeanHttpToolsProtocol")
    yield port
    HOLD.set()
    server.should_exit = True
    thread.join(10)


def request(length: int, path: str = "/", **headers: str) -> bytes:
    extra = b"".join(b"%s: %s\r\n" % (k.replace("_", "-").encode(), v.encode()) for k, v in headers.items())
    return b"POST %s HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n%s\r\n" % (path.encode(), length, extra)


def read_response(sock: socket.socket, buffered: bytes = b"") -> tuple[dict[str, Any], bytes]:
    """The probe's JSON answer, and what followed it (the next pipelined response)."""
    response = read_http_response(sock, buffered)
    return json.loads(response.body), response.rest


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_a_body_goes_to_the_file_whole_and_the_next_request_follows_on_the_same_connection(port: int) -> None:
    first, second = os.urandom(5 * MiB + 17), os.urandom(2 * MiB + 5)
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(request(len(first)) + first + request(len(second)) + second + request(3) + b"abc")
        one, rest = read_response(sock)
        two, rest = read_response(sock, rest)
        three, _ = read_response(sock, rest)
    assert one["used"] and one["ended"] == "complete" and one["moved"] == len(first)
    assert one["file_sha256"] == one["sha256"] == sha(first)
    assert two["used"] and two["file_sha256"] == two["sha256"] == sha(second)
    assert not three["offered"] and three["file_sha256"] == sha(b"abc")  # short bodies stay on the loop


def test_expect_100_continue_is_answered_before_the_transfer(port: int) -> None:
    data = os.urandom(2 * MiB)
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(request(len(data), expect="100-continue"))
        interim = read_http_response(sock)  # the 100 Continue
        assert interim.status == 100, interim
        sock.sendall(data)
        answer, _ = read_response(sock, interim.rest)
    assert answer["used"] and answer["file_sha256"] == sha(data)


def test_a_body_longer_than_the_room_stops_at_the_room_and_the_rest_is_dropped(port: int) -> None:
    data = os.urandom(3 * MiB)
    room = MiB + 3
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(request(len(data), x_room=str(room)) + data + request(3) + b"xyz")
        answer, rest = read_response(sock)
        after, _ = read_response(sock, rest)
    assert answer["ended"] == "limit" and answer["moved"] == answer["size"] == room
    assert answer["file_sha256"] == answer["sha256"] == sha(data[:room])
    assert after["file_sha256"] == sha(b"xyz")  # the 2 MiB nobody wanted did not reach the parser


def test_a_stopped_transfer_keeps_what_it_moved_and_the_connection_stays_in_step(port: int) -> None:
    data = os.urandom(4 * MiB)
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(request(len(data), x_stop="a") + data[:MiB])
        wait_for(lambda: "a" in STOPPERS, what="the transfer to start")
        STOPPERS.pop("a").stop()  # as the locker does when another request wants the upload
        answer, rest = read_response(sock)
        sock.sendall(data[MiB:] + request(2) + b"ok")
        after, _ = read_response(sock, rest)
    assert answer["ended"] == "stopped" and answer["moved"] == answer["size"] <= MiB
    assert answer["file_sha256"] == answer["sha256"] == sha(data[: answer["size"]])
    assert after["file_sha256"] == sha(b"ok")


def test_a_client_that_leaves_mid_body_is_eof_with_its_bytes_written(port: int) -> None:
    data = os.urandom(2 * MiB)
    RESULTS.clear()
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(request(8 * MiB) + data)
    answer = wait_for(lambda: RESULTS and RESULTS[-1], what="the app to see the end")
    assert answer["used"] and answer["ended"] == "eof" and answer["moved"] == answer["size"] == len(data)
    assert answer["file_sha256"] == answer["sha256"] == sha(data)


def test_a_client_silent_mid_body_times_out_and_is_closed(port: int) -> None:
    data = os.urandom(DIRECT_MIN_BYTES)
    RESULTS.clear()
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(request(8 * MiB) + data)
        answer = wait_for(lambda: RESULTS and RESULTS[-1], what="the read timeout", timeout=15)
        sock.settimeout(15)
        assert sock.recv(65536) == b""  # closed by the server
    assert answer["ended"] == "timeout" and answer["size"] == len(data) and answer["file_sha256"] == sha(data)


def test_a_cancelled_request_stops_the_thread_and_keeps_what_arrived(port: int) -> None:
    data = os.urandom(MiB)
    RESULTS.clear()
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(request(8 * MiB, x_cancel_after="0.3") + data)
        answer = wait_for(lambda: RESULTS and RESULTS[-1], what="the cancelled transfer to end")
    assert answer["ended"] == "cancelled" and answer["size"] == answer["moved"] == len(data)
    assert answer["file_sha256"] == sha(data)


@pytest.mark.parametrize("port", ["threads"], indirect=True)
def test_with_every_body_thread_busy_the_body_is_written_by_the_loop(port: int) -> None:
    """No thread free: `data_received` writes each read into the file (a checksummed body would use receive())."""
    data = os.urandom(MiB)
    HOLD.clear()
    held = [socket.create_connection(("127.0.0.1", port), timeout=30) for _ in range(LIMITS.body_threads)]
    try:
        for sock in held:  # each holds a body thread: its transfer waits for bytes that come later
            sock.sendall(request(len(data)) + data[:1000])
        RESULTS.clear()
        wait_for(lambda: _busy() == LIMITS.body_threads, what="both body threads busy")
        with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
            sock.sendall(request(len(data), x_no_hash="1") + data)
            answer, _ = read_response(sock)
        assert answer["used"] and answer["ended"] == "complete" and answer["file_sha256"] == sha(data)
        assert _busy() == LIMITS.body_threads  # it did not take a thread
        for sock in held:
            sock.sendall(data[1000:])
            done, _ = read_response(sock)
            assert done["used"] and done["file_sha256"] == sha(data)
    finally:
        for sock in held:
            sock.close()


def _busy() -> int:
    from tusserver.server import http_protocol

    return http_protocol._BODY_THREADS._busy


@pytest.mark.parametrize("port", ["loop"], indirect=True)
def test_on_the_loop_a_hashed_body_is_declined_and_read_through_receive(port: int) -> None:
    data = os.urandom(2 * MiB)
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(request(len(data), x_hash="1") + data)
        answer, _ = read_response(sock)
    assert answer["offered"] and not answer["used"]
    assert answer["file_sha256"] == answer["sha256"] == sha(data)


def test_a_system_without_splice_or_eventfd_is_not_offered_direct_bodies(
    port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before, only the body threads were turned off there: the loop's sink was still offered, and the
    body reader's Stopper (an eventfd) would have failed the request."""
    monkeypatch.setattr(body_pump, "AVAILABLE", False)
    data = os.urandom(MiB)
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(request(len(data)) + data)
        answer, _ = read_response(sock)
    assert not answer["offered"] and answer["file_sha256"] == sha(data)
