"""Draft requests on a raw socket, so the 104 interim responses before a final one can be seen."""

from __future__ import annotations

import json
import socket
from typing import Any

from tests.support import LiveServer, RawResponse, read_http_response

PARTIAL = "application/partial-upload"


def v8(**headers: str) -> dict[str, str]:
    """Interop 8 headers; keyword names with underscores become dashes (Upload_Complete -> Upload-Complete)."""
    return {"Upload-Draft-Interop-Version": "8", **{k.replace("_", "-"): v for k, v in headers.items()}}


def send_head(sock: socket.socket, method: str, path: str, headers: dict[str, str], version: str = "1.1") -> None:
    lines = [f"{method} {path} HTTP/{version}", "Host: 127.0.0.1", *(f"{k}: {v}" for k, v in headers.items())]
    sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())


def read_until_final(sock: socket.socket, buffered: bytes = b"") -> list[RawResponse]:
    """Every response of one request: the interim ones (1xx) and then the final one, last."""
    found: list[RawResponse] = []
    while True:
        response = read_http_response(sock, buffered)
        found.append(response)
        if not 100 <= response.status < 200:
            return found
        buffered = response.rest


def exchange(
    server: LiveServer, method: str, path: str, headers: dict[str, str], body: bytes = b"", version: str = "1.1"
) -> list[RawResponse]:
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        if body or method in ("POST", "PATCH"):
            headers = {"Content-Length": str(len(body)), **headers}
        send_head(sock, method, path, headers, version)
        sock.sendall(body)
        return read_until_final(sock)


def problem(response: RawResponse) -> dict[str, Any]:
    assert response.headers["content-type"] == "application/problem+json", response.headers
    document: dict[str, Any] = json.loads(response.body)
    assert document["status"] == response.status
    assert document["title"]
    return document
