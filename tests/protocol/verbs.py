"""One table-style helper for protocol tests: (method, headers, body) → expected status, headers, body."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import httpx

from tests.support import OCTET, TUS

ABSENT = object()


@dataclass
class Case:
    method: str
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""
    status: int = 200
    expect: Mapping[str, object] = field(default_factory=dict)  # header -> value, or ABSENT
    text: str | None = None  # a substring of the body
    tus: bool = True  # send Tus-Resumable: 1.0.0
    content: bytes | None = None  # the exact body expected


def run(http: httpx.Client, url: str, case: Case) -> httpx.Response:
    """Send `case` with `http` (a server's `client`, in-process or real) and check every expectation."""
    headers = {**(TUS if case.tus else {}), **case.headers}
    response = http.request(case.method, url, headers=headers, content=case.body or None, timeout=10)
    assert response.status_code == case.status, (case, response.status_code, response.text)
    for name, value in case.expect.items():
        if value is ABSENT:
            assert name not in response.headers, (name, response.headers)
        else:
            assert response.headers.get(name) == value, (name, response.headers.get(name), value)
    if case.text is not None:
        assert case.text in response.text, response.text
    if case.content is not None:
        assert response.content == case.content
    if case.status >= 400 and case.method != "HEAD":
        assert response.text.endswith("\n") and response.text.count("\n") == 1, "one-line reason"
    if case.method != "OPTIONS":
        assert response.headers.get("Tus-Resumable") == "1.0.0", "every non-OPTIONS response carries Tus-Resumable"
    return response


def patch(http: httpx.Client, url: str, offset: int, body: bytes, **extra: str) -> httpx.Response:
    headers = {**TUS, "Upload-Offset": str(offset), "Content-Type": OCTET, **extra}
    return http.patch(url, headers=headers, content=body, timeout=10)
