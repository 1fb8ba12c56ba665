from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest

from tests.support import InProcessServer, LiveServer

ServerFactory = Callable[..., LiveServer]
AppFactory = Callable[..., InProcessServer]
T = TypeVar("T", LiveServer, InProcessServer)


def _factory(tmp_path: Path, kind: type[T], prefix: str) -> Iterator[Callable[..., T]]:
    """Start servers of `kind` with extra `serve` flags; every one is stopped at the end of the test."""
    started: list[T] = []

    def start(*args: str, data_dir: Path | None = None, env: dict[str, str] | None = None) -> T:
        server = kind(data_dir or tmp_path / f"{prefix}{len(started)}", *args, env=env).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def server_factory(tmp_path: Path) -> Iterator[ServerFactory]:
    """Start real servers with extra `serve` flags; all are stopped at the end of the test."""
    yield from _factory(tmp_path, LiveServer, "data")


@pytest.fixture
def server(server_factory: ServerFactory) -> LiveServer:
    return server_factory()


@pytest.fixture
def app_factory(tmp_path: Path) -> Iterator[AppFactory]:
    """Like `server_factory`, the app in-process (same flags, `--data-dir` and `env`): for tests at the HTTP
    level that need no socket, subprocess or uvicorn. Each app's lifespan is closed at the end of the test."""
    yield from _factory(tmp_path, InProcessServer, "app")


@pytest.fixture
def app(app_factory: AppFactory) -> InProcessServer:
    """The app with default settings, in-process."""
    return app_factory()


from tests.cloud_support import azure_server, gcs_server  # noqa: E402, F401 - fixtures for every test module
from tests.redis_support import redis_process, redis_url  # noqa: E402, F401 - fixtures for every test module
from tests.s3_support import s3_server  # noqa: E402, F401 - fixture for every test module
