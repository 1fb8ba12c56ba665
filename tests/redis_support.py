"""A throwaway `redis-server` on a free loopback port, owned by the test (or module) that asked for it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.support import free_port, require_tool, running_process


@contextmanager
def running_redis(directory: Path) -> Iterator[str]:
    """Start `redis-server` (no persistence, files in `directory`); yield its URL; stop it on exit."""
    binary = require_tool("redis-server")
    port = free_port()
    import redis

    client = redis.Redis(host="127.0.0.1", port=port)
    command = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
               "--dir", str(directory)]  # fmt: skip
    try:
        with running_process(command, client.ping, what="redis-server", timeout=15):
            yield f"redis://127.0.0.1:{port}/0"
    finally:
        client.close()


@pytest.fixture
def redis_url(tmp_path: Path) -> Iterator[str]:
    with running_redis(tmp_path) as url:
        yield url
