"""Huge request heads: header lines, a request line, or a flood of small headers, sent as fast as the socket
allows.

Before (issue #11): httptools joins each header's pieces in memory and uvicorn's 431 (our middleware) came
only after the whole head was parsed: four 64 MiB header lines took the server from 54 to 315 MB RSS.
Now at most `--max-header` bytes of a head are parsed, the answer is 431 with a one-line reason, and the
connection is closed with the rest unread, so memory barely moves and the sender is stopped early.
"""

from __future__ import annotations

import socket
import threading

import httpx
import pytest

from tests.conftest import ServerFactory
from tests.security.transport_support import PROTOCOLS, fd_count, peer_closed, status_bytes
from tests.support import TUS, wait_for

MiB = 1024 * 1024
HUGE = 64 * MiB
GROWTH_LIMIT = 4 * MiB  # RSS the four attacks together may add (each may have one read buffered, 256 KiB)


def _attack(port: int, head_start: bytes, filler: bytes, outcome: dict[str, object]) -> None:
    """Send `head_start` then 64 MiB of `filler`, never ending the head; note what came back and how much went."""
    sent = 0
    block = memoryview(filler * (MiB // len(filler)))
    with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
        try:
            sock.sendall(head_start)
            while sent < HUGE:
                sock.sendall(block)
                sent += len(block)
        except OSError:
            pass
        answer = b""
        try:
            while chunk := sock.recv(65536):
                answer += chunk
        except OSError:
            pass
    outcome["sent"], outcome["answer"] = sent, answer


@PROTOCOLS
def test_four_64_mib_header_lines_are_cut_early_and_memory_stays_flat(
    server_factory: ServerFactory, flags: tuple[str, ...]
) -> None:
    server = server_factory(*flags)
    assert server.proc is not None
    pid = server.proc.pid
    assert server.create(10)  # warm: the first request allocates what every request needs
    baseline_fds, hwm_before = fd_count(pid), status_bytes(pid, "VmHWM")
    outcomes: list[dict[str, object]] = [{} for _ in range(4)]
    threads = [
        threading.Thread(target=_attack, args=(server.port, b"GET /files/ HTTP/1.1\r\nHost: x\r\nX-Huge-%d: " % i,
                                               b"a", outcomes[i]))
        for i in range(4)
    ]  # fmt: skip
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    for outcome in outcomes:
        assert outcome, "an attacking thread did not finish"
        assert outcome["sent"] < HUGE, "the server read a whole 64 MiB header line"
        answer = outcome["answer"]
        assert answer == b"" or answer.startswith(b"HTTP/1.1 431 "), answer[:80]  # type: ignore[union-attr]
    growth = status_bytes(pid, "VmHWM") - hwm_before
    assert growth < GROWTH_LIMIT, f"peak RSS grew by {growth / MiB:.1f} MiB"
    wait_for(lambda: fd_count(pid) <= baseline_fds, timeout=30, what="server descriptors back")
    assert httpx.post(server.endpoint, headers={**TUS, "Upload-Length": "5"}).status_code == 201
    assert "Traceback" not in server.log()


HEADS = {
    "one long header": (b"GET /files/ HTTP/1.1\r\nHost: x\r\nX-Long: ", b"a"),
    "a long request line": (b"GET /files/", b"a"),
    "many small headers": (b"GET /files/ HTTP/1.1\r\nHost: x\r\n", b"X-A: b\r\n"),
}


@PROTOCOLS
@pytest.mark.parametrize("shape", sorted(HEADS))
def test_a_head_over_the_cap_gets_431_with_a_reason(
    server_factory: ServerFactory, flags: tuple[str, ...], shape: str
) -> None:
    server = server_factory("--max-header", "8192", *flags)
    start, filler = HEADS[shape]
    head = start + filler * (12_000 // len(filler))  # over 8 KiB, one write: nothing left unread at the close
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        sock.sendall(head)
        answer = b""
        try:
            while chunk := sock.recv(65536):
                answer += chunk
        except ConnectionResetError:
            pass
        assert peer_closed(sock)
    assert answer.startswith(b"HTTP/1.1 431 "), answer[:80]
    assert answer.endswith(b"\r\n\r\nrequest headers exceed 8192 bytes\n"), answer[-80:]
    ok = httpx.post(server.endpoint, headers={**TUS, "Upload-Length": "5", "X-Pad": "p" * 7000})
    assert ok.status_code == 201, ok.text  # a head under the cap still works
