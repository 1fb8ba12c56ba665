"""One table-style helper: (method, path, headers, body) → expected status, headers, body."""

from __future__ import annotations

from dataclasses import dataclass, field

import httpx


@dataclass
class Case:
    method: str
    path: str  # relative to the server URL; "{upload}" is replaced by the upload's path
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | None = None
    status: int = 200
    expect_headers: dict[str, str | None] = field(default_factory=dict)  # None: must be absent
    expect_body: bytes | None = None

    def run(self, base_url: str, upload_path: str = "") -> httpx.Response:
        url = base_url + self.path.replace("{upload}", upload_path)
        r = httpx.request(self.method, url, headers=self.headers, content=self.body, timeout=10)
        assert r.status_code == self.status, (self.method, self.path, r.status_code, r.text)
        for name, value in self.expect_headers.items():
            if value is None:
                assert name not in r.headers, (name, r.headers.get(name))
            else:
                assert r.headers.get(name) == value, (name, r.headers.get(name), value)
        if self.expect_body is not None:
            assert r.content == self.expect_body
        return r
