"""A tiny tus client for the conformance suite: plain httpx, every header explicit."""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass, field

import httpx

TUS = {"Tus-Resumable": "1.0.0"}
OCTET = "application/offset+octet-stream"


@dataclass
class Tus:
    endpoint: str
    headers: dict[str, str] = field(default_factory=dict)  # e.g. Authorization for a server that needs it
    http: httpx.Client = field(default_factory=lambda: httpx.Client(timeout=30))

    _extensions: set[str] | None = None

    @property
    def extensions(self) -> set[str]:
        if self._extensions is None:
            r = self.http.options(self.endpoint, headers=self.headers)
            self._extensions = {e.strip() for e in r.headers.get("Tus-Extension", "").split(",") if e.strip()}
        return self._extensions

    def h(self, **extra: str) -> dict[str, str]:
        return {**TUS, **self.headers, **{k.replace("_", "-"): v for k, v in extra.items()}}

    def options(self) -> httpx.Response:
        return self.http.options(self.endpoint, headers=self.headers)

    def post(self, headers: dict[str, str] | None = None, body: bytes | None = None) -> httpx.Response:
        return self.http.post(self.endpoint, headers={**TUS, **self.headers, **(headers or {})}, content=body)

    def create(self, length: int | None = None, headers: dict[str, str] | None = None) -> str:
        h = dict(headers or {})
        if length is not None:
            h["Upload-Length"] = str(length)
        r = self.post(h)
        assert r.status_code == 201, (r.status_code, r.text)
        return str(httpx.URL(self.endpoint).join(r.headers["Location"]))

    def head(self, url: str, headers: dict[str, str] | None = None) -> httpx.Response:
        return self.http.head(url, headers={**TUS, **self.headers, **(headers or {})})

    def patch(self, url: str, offset: int, body: bytes, headers: dict[str, str] | None = None) -> httpx.Response:
        h = {**TUS, **self.headers, "Upload-Offset": str(offset), "Content-Type": OCTET, **(headers or {})}
        return self.http.patch(url, headers=h, content=body)

    def delete(self, url: str) -> httpx.Response:
        return self.http.delete(url, headers={**TUS, **self.headers})

    def upload(self, data: bytes, headers: dict[str, str] | None = None) -> str:
        url = self.create(len(data), headers)
        if data:
            r = self.patch(url, 0, data)
            assert r.status_code == 204, (r.status_code, r.text)
        return url


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def checksum_header(algorithm: str, data: bytes) -> str:
    import zlib

    if algorithm == "crc32":
        digest = zlib.crc32(data).to_bytes(4, "big")
    else:
        digest = hashlib.new(algorithm, data).digest()
    return f"{algorithm} {b64(digest)}"
