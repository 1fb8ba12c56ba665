"""A real hook receiver for tests: an HTTP server in a thread that records every hook and answers
as the test's `decide` function says (tusd's response JSON, or a status to fail with)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Decision = tuple[int, dict[str, Any] | None]
Decide = Callable[[dict[str, Any]], Decision]


class Receiver:
    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []  # hooks answered with 2xx
        self.attempts: list[dict[str, Any]] = []  # every POST, failed ones included
        self.delay_s = 0.0
        self.decide: Decide = lambda hook: (200, {})
        self.lock = threading.Lock()
        self.url = ""

    def answer(self, hook: dict[str, Any]) -> Decision:
        """What every transport does with a hook: wait `delay_s`, record it, and ask `decide`."""
        if self.delay_s:
            time.sleep(self.delay_s)  # a slow receiver, as the test asked for
        with self.lock:
            self.attempts.append(hook)
            status, answer = self.decide(hook)
            if 200 <= status < 300:
                self.requests.append(hook)
        return status, answer

    def of_type(self, hook_type: str) -> list[dict[str, Any]]:
        with self.lock:
            return [r for r in self.requests if r["Type"] == hook_type]

    def types(self) -> list[str]:
        with self.lock:
            return [r["Type"] for r in self.requests]


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256


@contextmanager
def running_receiver() -> Iterator[Receiver]:
    receiver = Receiver()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            status, answer = receiver.answer(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            body = json.dumps(answer).encode() if answer is not None else b""
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            return

    httpd = _Server(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    receiver.url = f"http://127.0.0.1:{httpd.server_address[1]}/hooks"
    try:
        yield receiver
    finally:
        httpd.shutdown()
        httpd.server_close()
