"""Shared helpers for the black-box tus conformance suite (core, creation, termination, and later others).

Everything goes through HTTP to `TUS_ENDPOINT`; nothing here knows which server is on the other end.
Extra request headers (for a server that needs auth) come from `TUS_EXTRA_HEADERS` as `Name: value` lines.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from urllib.parse import urljoin

import httpx
import pytest

TUS = {"Tus-Resumable": "1.0.0"}
OCTET = "application/offset+octet-stream"


def extra_headers() -> dict[str, str]:
    raw = os.environ.get("TUS_EXTRA_HEADERS", "")
    pairs = (line.split(":", 1) for line in raw.splitlines() if ":" in line)
    return {name.strip(): value.strip() for name, value in pairs}


@dataclass
class Tus:
    """A tus endpoint under test, with helpers that assert only what every request needs."""

    endpoint: str
    headers: dict[str, str] = field(default_factory=extra_headers)

    def __post_init__(self) -> None:
        self.client = httpx.Client(timeout=30, headers=self.headers)

    def close(self) -> None:
        self.client.close()

    def request(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str] | None = None,
        body: bytes | None = None,
        tus: bool = True,
    ) -> httpx.Response:
        merged = {**(TUS if tus else {}), **(headers or {})}
        return self.client.request(method, url, headers=merged, content=body)

    @cached_property
    def options(self) -> httpx.Response:
        return self.client.options(self.endpoint)

    @cached_property
    def extensions(self) -> set[str]:
        value = self.options.headers.get("Tus-Extension", "")
        return {e.strip() for e in value.split(",") if e.strip()}

    @property
    def max_size(self) -> int | None:
        value = self.options.headers.get("Tus-Max-Size")
        return int(value) if value else None

    def require(self, *extensions: str) -> None:
        missing = [e for e in extensions if e not in self.extensions]
        if missing:
            pytest.skip(f"server does not advertise {', '.join(missing)}")

    def post(self, headers: Mapping[str, str], body: bytes | None = None) -> httpx.Response:
        return self.request("POST", self.endpoint, headers, body)

    def create(self, length: int | None, headers: Mapping[str, str] | None = None) -> str:
        """A new upload's absolute URL (needs the creation extension)."""
        self.require("creation")
        h = dict(headers or {})
        if length is None:
            h["Upload-Defer-Length"] = "1"
        else:
            h["Upload-Length"] = str(length)
        r = self.post(h)
        assert r.status_code == 201, (r.status_code, r.text)
        return self.location(r)

    def location(self, response: httpx.Response) -> str:
        assert "Location" in response.headers, "201 Created MUST carry Location"
        return urljoin(self.endpoint, response.headers["Location"])

    def head(self, url: str, **headers: str) -> httpx.Response:
        return self.request("HEAD", url, headers)

    def patch(self, url: str, offset: int, body: bytes, **headers: str) -> httpx.Response:
        return self.request("PATCH", url, {"Upload-Offset": str(offset), "Content-Type": OCTET, **headers}, body)

    def delete(self, url: str) -> httpx.Response:
        return self.request("DELETE", url)

    def offset(self, url: str) -> int:
        r = self.head(url)
        assert r.status_code == 200, r.status_code
        return int(r.headers["Upload-Offset"])

    def unknown_url(self) -> str:
        return self.endpoint.rstrip("/") + "/conformance0unknown0upload0id00"


def assert_tus_resumable(response: httpx.Response) -> None:
    assert response.headers.get("Tus-Resumable") == "1.0.0", (
        f"{response.request.method} response {response.status_code} lacks Tus-Resumable: 1.0.0"
    )


def assert_gone(response: httpx.Response) -> None:
    assert response.status_code in (404, 410), response.status_code


class OwnServer:
    """`python -m tusserver serve` on a free port, used when TUS_ENDPOINT is not set."""

    def __init__(self, data_dir: Path, *args: str) -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.data_dir = data_dir
        self.args = args
        self.endpoint = f"http://127.0.0.1:{self.port}/files/"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> OwnServer:
        env = {k: v for k, v in os.environ.items() if not k.startswith("TUSSERVER_")}
        cmd = [sys.executable, "-m", "tusserver", "serve", "--port", str(self.port), "--data-dir", str(self.data_dir)]
        self.proc = subprocess.Popen(
            [*cmd, "--log-level", "warning", *self.args],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"tusserver exited with {self.proc.returncode}")
            try:
                if httpx.options(self.endpoint, timeout=1).status_code in (200, 204):
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        raise RuntimeError("tusserver did not start within 30 s")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
