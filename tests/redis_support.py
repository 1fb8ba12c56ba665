"""A throwaway `redis-server` on a free loopback port, owned by the test (or module) that asked for it."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.support import free_port, require_tool, wait_for


@contextmanager
def running_redis(directory: Path) -> Iterator[str]:
    """Start `redis-server` (no persistence, files in `directory`); yield its URL; stop it on exit."""
    binary = require_tool("redis-server")
    port = free_port()
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", str(directory)],
        stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
    )  # fmt: skip
    import redis

    client = redis.Redis(host="127.0.0.1", port=port)
    try:
        wait_for(client.ping, timeout=15, what="redis-server")
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        client.close()
        proc.terminate()
        proc.wait(10)


@pytest.fixture
def redis_url(tmp_path: Path) -> Iterator[str]:
    with running_redis(tmp_path) as url:
        yield url
