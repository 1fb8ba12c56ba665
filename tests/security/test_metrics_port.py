"""The `--metrics-listen` port under the slow-head and idle-socket attacks (issue #22).

Before: prometheus_client's server took a thread per connection and had no timeout, so 1,500 half-sent
requests held 1,500 threads (+39 MB) past 65 s, and 2,037 idle connections used up the descriptors until
the upload port stopped answering. Now the port is served on the event loop by the upload port's HTTP
layer: no thread per connection, a silent or dribbling request is closed after `--read-timeout`, and at
most `--metrics-max-connections` are kept open at once, the rest closed as they come.
"""

from __future__ import annotations

import socket

import httpx

from tests.conftest import ServerFactory
from tests.security.transport_support import fd_count, peer_closed, status_bytes, want_open_files
from tests.support import TUS, free_port, wait_for

HALF_SENT = 300
BOUND = 16


def _threads(pid: int) -> int:
    for line in open(f"/proc/{pid}/status").read().splitlines():  # noqa: SIM115, PTH123 - one short read
        if line.startswith("Threads:"):
            return int(line.split()[1])
    raise KeyError("Threads")


def test_half_sent_and_idle_connections_to_the_metrics_port(server_factory: ServerFactory) -> None:
    want_open_files(HALF_SENT + 100)
    metrics_port = free_port()
    server = server_factory(
        "--metrics-listen", f"127.0.0.1:{metrics_port}", "--read-timeout", "3",
        "--metrics-max-connections", str(BOUND),
    )  # fmt: skip
    assert server.proc is not None
    pid = server.proc.pid
    scraped = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=30)
    assert scraped.status_code == 200 and "tusserver_request_seconds" in scraped.text
    threads, fds, rss = _threads(pid), fd_count(pid), status_bytes(pid, "VmRSS")

    socks = []
    try:
        for _ in range(HALF_SENT):
            sock = socket.create_connection(("127.0.0.1", metrics_port), timeout=30)
            sock.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")  # the head never ends
            socks.append(sock)
        # Those beyond the bound are closed as they come: never more than the bound held, no thread for any.
        closed: set[int] = set()

        def refused() -> bool:
            closed.update(i for i, sock in enumerate(socks) if i not in closed and peer_closed(sock))
            return len(closed) >= HALF_SENT - BOUND

        wait_for(refused, timeout=60, what=f"metrics connections beyond {BOUND} closed")
        assert fd_count(pid) <= fds + BOUND + 5, f"{fd_count(pid) - fds} metrics connections held"
        assert _threads(pid) <= threads + 2, f"{_threads(pid) - threads} threads for {HALF_SENT} connections"
        # The upload port still answers while they are open.
        created = httpx.post(server.endpoint, headers={**TUS, "Upload-Length": "1"}, timeout=30)
        assert created.status_code == 201, created.text
        # The read timeout closes those it kept, with this side still holding every socket open.
        wait_for(lambda: fd_count(pid) <= fds, timeout=60, what="half-sent metrics requests closed by the server")
    finally:
        for sock in socks:
            sock.close()
    assert status_bytes(pid, "VmRSS") <= rss + 16 * 1024 * 1024
    scraped = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=30)
    assert scraped.status_code == 200 and "tusserver_request_seconds" in scraped.text
    assert "Traceback" not in server.log()
