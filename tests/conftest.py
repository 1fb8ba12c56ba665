from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support import InProcessServer, LiveServer

ServerFactory = Callable[..., LiveServer]
AppFactory = Callable[..., InProcessServer]


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


@pytest.fixture
def app_factory(tmp_path: Path) -> Iterator[AppFactory]:
    """Like `server_factory`, the app in-process (same flags, `--data-dir` and `env`): for tests at the HTTP
    level that need no socket, subprocess or uvicorn. Each app's lifespan is closed at the end of the test."""
    started: list[InProcessServer] = []

    def start(*args: str, data_dir: Path | None = None, env: dict[str, str] | None = None) -> InProcessServer:
        directory = data_dir or tmp_path / f"app{len(started)}"
        app = InProcessServer(directory, *args, env=env).start()
        started.append(app)
        return app

    yield start
    for app in started:
        app.stop()


@pytest.fixture
def app(app_factory: AppFactory) -> InProcessServer:
    """The app with default settings, in-process."""
    return app_factory()


from tests.redis_support import redis_url  # noqa: E402, F401 - fixture for every test module
from tests.s3_support import s3_server  # noqa: E402, F401 - fixture for every test module
