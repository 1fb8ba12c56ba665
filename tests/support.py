"""Test helpers: a real `tusserver serve` on a free loopback port, tools that must exist under CI, polling."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import httpx
import pytest

T = TypeVar("T")
TUS = {"Tus-Resumable": "1.0.0"}
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def require_tool(name: str) -> str:
    """The path of an external tool; a skip locally when missing, a failure under CI=true."""
    path = shutil.which(name)
    if path is None:
        message = f"{name} is not installed (see README: system packages)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return path


NODE_DIR = Path(__file__).resolve().parent / "node"


def require_node_package(package: str = "tus-js-client") -> str:
    """The path of `node` once `package` is installed in tests/node; a skip locally, a failure under CI=true."""
    node = require_tool("node")
    if not (NODE_DIR / "node_modules" / package).is_dir():
        message = f"{package} is not installed: run `make node-deps` (npm install in {NODE_DIR})"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return node


def wait_for(
    check: Callable[[], T | None], timeout: float = 15.0, interval: float = 0.05, what: str = "condition"
) -> T:
    """Poll `check` until it returns something truthy, or fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            result = check()
            if result:
                return result
        except Exception as exc:  # noqa: BLE001 - polling swallows errors until the deadline
            last_error = exc
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what}" + (f": {last_error!r}" if last_error else ""))


class LiveServer:
    """`python -m tusserver serve` in a subprocess, talking real HTTP on 127.0.0.1."""

    def __init__(self, data_dir: Path, *args: str, env: dict[str, str] | None = None) -> None:
        self.data_dir = data_dir
        self.args = list(args)
        self.extra_env = env or {}
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = data_dir.parent / f"server-{self.port}.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def endpoint(self) -> str:
        return f"{self.url}/files/"

    def start(self) -> LiveServer:
        env = {k: v for k, v in os.environ.items() if not k.startswith("TUSSERVER_")}
        env.update(self.extra_env)
        cmd = [
            sys.executable, "-m", "tusserver", "serve",
            "--port", str(self.port), "--data-dir", str(self.data_dir), "--log-level", "warning",
            *self.args,
        ]  # fmt: skip
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(cmd, stdout=self._log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        wait_for(self._ready, timeout=30, what=f"server on port {self.port}")
        return self

    def _ready(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(f"server exited with {self.proc.returncode}: {self.log()}")
        try:
            return httpx.options(self.endpoint, timeout=1).status_code < 500  # any answer: it is serving
        except httpx.TransportError:
            return False

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:] if self.log_path.exists() else ""

    def kill(self) -> None:
        """SIGKILL: no clean-up code runs, like a crash or an OOM kill."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        if hasattr(self, "_log"):
            self._log.close()

    def restart(self) -> LiveServer:
        self.stop()
        return self.start()

    def create(self, length: int | None, headers: dict[str, str] | None = None) -> str:
        """POST a new upload and return its absolute URL."""
        h = {**TUS, **(headers or {})}
        if length is not None:
            h["Upload-Length"] = str(length)
        response = httpx.post(self.endpoint, headers=h)
        assert response.status_code == 201, response.text
        return response.headers["Location"]
