"""A hook's answer is capped while it is read: a receiver sending 200 MB costs the server 1 MiB, not 200 MB.

Before (issue #22): the 1 MiB cap was checked after the whole answer was buffered; an HTTP receiver's
200 MB answer was read whole (RSS +250 MB) and a file hook printing 200 MB cost +207 MB. Now the
answer is read up to the cap and the delivery fails there (a pre-create fails closed: 503).
"""

from __future__ import annotations

import stat
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx

from tests.conftest import ServerFactory
from tests.support import TUS, LiveServer

ANSWER = 200 * 1024 * 1024
MIB = 1024 * 1024


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


@contextmanager
def flooding_receiver() -> Iterator[tuple[str, list[int]]]:
    """Answers every hook with 200 MB of JSON-looking bytes; records how many bytes it got out."""
    sent: list[int] = []

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(ANSWER))
            self.end_headers()
            block, total = b"x" * MIB, 0
            try:
                while total < ANSWER:
                    self.wfile.write(block)
                    total += len(block)
            except OSError:
                pass
            sent.append(total)

        def log_message(self, *args: object) -> None:
            return

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/hooks", sent
    finally:
        httpd.shutdown()
        httpd.server_close()


def refused_without_growing(server: LiveServer) -> None:
    """A creation whose pre-create hook answers `ANSWER` bytes: refused (503), the server grown by less than
    64 MiB, and the cap named in the log."""
    assert server.proc is not None
    before = rss_bytes(server.proc.pid)
    refused = httpx.post(server.endpoint, headers={**TUS, "Upload-Length": "1"}, timeout=60)
    assert refused.status_code == 503, refused.text
    grown = rss_bytes(server.proc.pid) - before
    assert grown < 64 * MIB, f"server grew {grown // MIB} MiB reading a hook's answer"
    assert "more than" in server.log()


def test_http_hook_answer_is_capped_while_read(server_factory: ServerFactory) -> None:
    with flooding_receiver() as (url, sent):
        server = server_factory("--hooks-url", url, "--hooks-retry", "0", "--hooks-enabled", "pre-create")
        refused_without_growing(server)


def test_file_hook_answer_is_capped_while_read(server_factory: ServerFactory, tmp_path: Path) -> None:
    hooks_dir = tmp_path / "hooks"
    hooks_dir.mkdir()
    script = hooks_dir / "pre-create"
    script.write_text(f"#!/bin/sh\nhead -c {ANSWER} /dev/zero | tr '\\0' x\n")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    refused_without_growing(
        server_factory("--hooks-dir", str(hooks_dir), "--hooks-retry", "0", "--hooks-enabled", "pre-create")
    )
