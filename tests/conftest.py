from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support import LiveServer

ServerFactory = Callable[..., LiveServer]


@pytest.fixture
def server_factory(tmp_path: Path) -> Iterator[ServerFactory]:
    """Start real servers with extra `serve` flags; all are stopped at the end of the test."""
    started: list[LiveServer] = []

    def start(*args: str, data_dir: Path | None = None, env: dict[str, str] | None = None) -> LiveServer:
        directory = data_dir or tmp_path / f"data{len(started)}"
        server = LiveServer(directory, *args, env=env).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def server(server_factory: ServerFactory) -> LiveServer:
    return server_factory()


from tests.redis_support import redis_url  # noqa: E402, F401 - fixture for every test module
from tests.s3_support import s3_server  # noqa: E402, F401 - fixture for every test module
