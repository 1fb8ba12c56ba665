"""Headers a hook puts in its `HTTPResponse` can never break the response's framing or the connection.

Before (issue #22): a hook's `Content-Length: 0` cut the body the client got, `Transfer-Encoding`
went out beside `Content-Length`, a value outside latin-1 made a 500, and a space in a header name
closed the connection. Now framing and hop-by-hop headers are dropped, invalid names and values are
refused with a log line, and the client gets the hook's status and body with the headers that are fine.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import ServerFactory
from tests.hooks.receiver import Decision, Receiver, running_receiver
from tests.support import TUS, read_http_response

BAD_HEADERS: dict[str, dict[str, str]] = {
    "content-length": {"Content-Length": "0"},
    "transfer-encoding": {"Transfer-Encoding": "chunked"},
    "hop-by-hop": {"Connection": "close", "Keep-Alive": "timeout=1", "Upgrade": "h2c", "Trailer": "X"},
    "not-latin-1": {"X-Name": "日本語"},
    "control-character": {"X-Name": "a\x01b"},
    "space-in-name": {"Bad Name": "x"},
    "empty-name": {"": "x"},
    "protocol-headers": {"Tus-Resumable": "0.2", "Upload-Offset": "99", "Location": "http://evil.example/"},
}


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with running_receiver() as running:
        yield running


@pytest.mark.parametrize("case", sorted(BAD_HEADERS))
def test_hook_headers_never_break_the_response(server_factory: ServerFactory, receiver: Receiver, case: str) -> None:
    def refuse(hook: dict[str, Any]) -> Decision:
        headers = {"X-Reason": "quota", **BAD_HEADERS[case]}
        answer = {"StatusCode": 422, "Body": "hook says no", "Header": headers}
        return 200, {"RejectUpload": True, "HTTPResponse": answer}

    receiver.decide = refuse
    server = server_factory("--hooks-url", receiver.url, "--hooks-enabled", "pre-create", "--log-level", "info")
    request = (
        f"POST /files/ HTTP/1.1\r\nHost: x\r\nTus-Resumable: {TUS['Tus-Resumable']}\r\nUpload-Length: 3\r\n"
        "Content-Length: 0\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        for _ in range(2):  # the connection stays usable after the refusal
            sock.sendall(request)
            response = read_http_response(sock)
            headers = response.lines
            assert (response.status, response.body) == (422, b"hook says no\n")
            names = [name for name, _ in headers]
            assert names.count("content-length") == 1 and names.count("tus-resumable") == 1
            assert not {"transfer-encoding", "connection", "keep-alive", "upgrade", "trailer", "location"} & set(names)
            assert ("x-reason", "quota") in headers and ("tus-resumable", TUS["Tus-Resumable"]) in headers
            assert "upload-offset" not in names
    assert "Traceback" not in server.log()
    assert "hook header" in server.log()
