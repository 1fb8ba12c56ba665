"""Downloads whose clients never read (the stalled-download attack of issue #22).

Before: 1,000 GETs of one 8 MiB upload that were never read took the server from 39 MB to 2,439 MB RSS
(each held a 1 MiB piece in uvicorn's write buffer and the next one read ahead of it), stayed open past
65 s, and 1,081 MB stayed after they closed. Now the next piece is read from the store only once the
socket has drained to the transport's low-water mark, a piece is at most `READ_PIECE_BYTES` (256 KiB), and a
connection that makes no write progress for `--write-timeout` seconds is closed. What one such connection
can hold is a piece plus the transport's write buffer, so the bound below is computed from those, far
below the old 2.4 MB each.
"""

from __future__ import annotations

import select
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

import httpx

from tests.conftest import ServerFactory
from tests.security.transport_support import PROTOCOLS, fd_count, status_bytes, want_open_files
from tests.support import PATCH, wait_for
from tusserver.server.http_protocol import WRITE_HIGH_WATER
from tusserver.storage.base import READ_PIECE_BYTES

CLIENTS = 200
SIZE = 8 * 1024 * 1024
# What one stalled download may hold in the server: one piece read from the store, and the transport's
# write buffer above its high-water mark (one more write of at most a piece). The rest of what the
# client did not read sits in the kernel's socket buffers, which are not the server's RSS.
PER_CONNECTION = 2 * READ_PIECE_BYTES + WRITE_HIGH_WATER
SLACK = 48 * 1024 * 1024  # interpreter, allocator and 200 connections' own state (~20 KiB each)
WARM = 8
# Kept after they close: the pieces are read by the store's threads, from their own malloc arenas, whose
# top glibc trims only past the trim threshold (16 MiB with --tune-malloc); a few such arenas. The old
# code kept about 1 MiB per connection (200: 210 MB), so this is far from it and does not grow with them.
KEPT = 96 * 1024 * 1024


def _stalled_get(port: int, path: bytes) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # a receive window that fills at once
    sock.settimeout(30)
    sock.connect(("127.0.0.1", port))
    sock.sendall(b"GET " + path + b" HTTP/1.1\r\nHost: x\r\n\r\n")
    return sock


def _has_answer(sock: socket.socket) -> bool:
    """The response head has arrived (peeked: the socket's bytes stay unread)."""
    try:
        return sock.recv(16, socket.MSG_PEEK | socket.MSG_DONTWAIT).startswith(b"HTTP/1.1 200")
    except BlockingIOError:
        return False


@PROTOCOLS
def test_stalled_downloads_hold_a_bounded_buffer_and_are_closed(
    server_factory: ServerFactory, flags: tuple[str, ...]
) -> None:
    want_open_files(CLIENTS + 100)
    server = server_factory("--write-timeout", "3", *flags)
    assert server.proc is not None
    pid = server.proc.pid
    url = server.create(SIZE)
    done = httpx.patch(url, content=b"d" * SIZE, headers={**PATCH, "Upload-Offset": "0"}, timeout=60)
    assert done.status_code == 204, done.text
    # Downloads read to the end, several at once: the warm path (and the store's reader threads, with their
    # malloc arenas, which keep up to the trim threshold each) is in the baseline.
    with ThreadPoolExecutor(WARM) as pool:
        sizes = list(pool.map(lambda _: len(httpx.get(url, timeout=60).content), range(WARM * 2)))
    assert sizes == [SIZE] * (WARM * 2)
    baseline_fds = fd_count(pid)
    baseline = status_bytes(pid, "VmRSS")
    path = urlsplit(url).path.encode()

    socks = [_stalled_get(server.port, path) for _ in range(CLIENTS)]
    try:
        wait_for(lambda: all(_has_answer(sock) for sock in socks), timeout=120, what="every GET answered")
        # Closed by the write timeout, while this side still holds every socket open and unread.
        wait_for(lambda: fd_count(pid) <= baseline_fds, timeout=120, what="stalled downloads closed by the server")
        peak = status_bytes(pid, "VmHWM")
    finally:
        for sock in socks:
            sock.close()
    bound = baseline + CLIENTS * PER_CONNECTION + SLACK
    assert peak <= bound, (
        f"{CLIENTS} stalled downloads took RSS from {baseline >> 20} MiB to a peak of {peak >> 20} MiB "
        f"(bound {bound >> 20} MiB: {PER_CONNECTION >> 10} KiB each)"
    )
    # Nothing is kept once they are gone: the idle server collects the cancelled requests' garbage cycles and
    # hands the freed pages back (old code: 200 of them left 210 MB behind).
    seen: list[int] = []

    def settled() -> bool:
        seen.append(status_bytes(pid, "VmRSS"))
        return seen[-1] <= baseline + KEPT

    try:
        wait_for(settled, timeout=60, what="RSS back near the baseline after the stalled downloads closed")
    except AssertionError as exc:
        raise AssertionError(f"{exc}: RSS {seen[-1] >> 20} MiB, baseline {baseline >> 20} MiB") from None
    again = httpx.get(url, timeout=60)  # and the server still serves whole downloads
    assert again.status_code == 200 and again.content == b"d" * SIZE
    assert "Traceback" not in server.log()


def test_a_slow_reader_is_not_a_stalled_one(server_factory: ServerFactory) -> None:
    """A client taking 4 KiB every 20 ms gets the whole file, though it takes longer than the write timeout:
    the timeout is for no progress at all, not for a slow download."""
    server = server_factory("--write-timeout", "2")
    size = 512 * 1024
    url = server.create(size)
    body = bytes(range(256)) * (size // 256)
    done = httpx.patch(url, content=body, headers={**PATCH, "Upload-Offset": "0"}, timeout=60)
    assert done.status_code == 204, done.text
    sock = _stalled_get(server.port, urlsplit(url).path.encode())
    received = bytearray()
    started = time.monotonic()
    with sock:
        while b"\r\n\r\n" not in received or len(received.partition(b"\r\n\r\n")[2]) < size:
            wait_for(lambda: select.select([sock], [], [], 0.2)[0], timeout=30, what="more of the download")
            piece = sock.recv(4096)
            assert piece, f"closed after {len(received)} bytes"
            received += piece
            time.sleep(0.02)  # the client's pace, not a wait for the server
    head, _, got = bytes(received).partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200") and got == body
    assert time.monotonic() - started > 2  # it did outlast the write timeout (the test's premise)
