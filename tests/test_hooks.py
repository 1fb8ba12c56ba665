"""HTTP hooks: a real server POSTs lifecycle events to a real HTTP endpoint run by the test."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from tests.conftest import ServerFactory
from tests.support import TUS, wait_for


@pytest.fixture
def receiver() -> Iterator[tuple[str, list[dict[str, object]]]]:
    events: list[dict[str, object]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            body = self.rfile.read(int(self.headers["Content-Length"]))
            events.append(json.loads(body))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            return

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/hook", events
    httpd.shutdown()
    httpd.server_close()


def test_events_are_posted(server_factory: ServerFactory, receiver: tuple[str, list[dict[str, object]]]) -> None:
    url_hook, events = receiver
    server = server_factory("--hooks-url", url_hook)
    url = server.create(3, {"Upload-Metadata": "filename YS50eHQ="})
    headers = {**TUS, "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"}
    assert httpx.patch(url, content=b"abc", headers=headers).status_code == 204
    assert httpx.delete(url, headers=TUS).status_code == 204
    wait_for(lambda: len(events) >= 3, what="three hook events")
    assert [e["event"] for e in events] == ["post-create", "post-finish", "post-terminate"]
    upload = events[1]["upload"]
    assert isinstance(upload, dict)
    assert upload["id"] == url.rsplit("/", 1)[1] and upload["offset"] == 3
    assert upload["metadata"] == {"filename": "YS50eHQ="}


def test_a_dead_hook_endpoint_never_stops_uploads(server_factory: ServerFactory) -> None:
    server = server_factory("--hooks-url", "http://127.0.0.1:9/unreachable")
    url = server.create(3)
    headers = {**TUS, "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"}
    assert httpx.patch(url, content=b"abc", headers=headers).status_code == 204
    assert httpx.get(url).content == b"abc"
