"""A throwaway `redis-server` on a free loopback port, owned by the test (or module) that asked for it."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.support import free_port, require_tool, running_process, wait_for


def _command(binary: str, port: int, directory: Path) -> list[str]:
    """redis-server on loopback, without persistence, its files in `directory`."""
    return [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
            "--dir", str(directory)]  # fmt: skip


@contextmanager
def running_redis(directory: Path) -> Iterator[str]:
    """Start `redis-server` (no persistence, files in `directory`); yield its URL; stop it on exit."""
    binary = require_tool("redis-server")
    port = free_port()
    import redis

    client = redis.Redis(host="127.0.0.1", port=port)
    try:
        with running_process(_command(binary, port, directory), client.ping, what="redis-server", timeout=15):
            yield f"redis://127.0.0.1:{port}/0"
    finally:
        client.close()


class RedisProcess:
    """A `redis-server` on one fixed free port that a test stops and starts again (Redis going away and
    coming back), unlike `running_redis`, which lives for a whole block."""

    def __init__(self, directory: Path) -> None:
        self.binary = require_tool("redis-server")
        self.directory = directory
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisProcess:
        import redis

        self.proc = subprocess.Popen(
            _command(self.binary, self.port, self.directory), stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT
        )
        client = redis.Redis(host="127.0.0.1", port=self.port)
        try:
            wait_for(client.ping, timeout=15, what="redis-server")
        finally:
            client.close()
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        self.proc = None


@pytest.fixture
def redis_process(tmp_path: Path) -> Iterator[RedisProcess]:
    """A stopped `RedisProcess` (the test starts it), stopped again at the end."""
    process = RedisProcess(tmp_path)
    yield process
    process.stop()


@pytest.fixture
def redis_url(tmp_path: Path) -> Iterator[str]:
    with running_redis(tmp_path) as url:
        yield url
