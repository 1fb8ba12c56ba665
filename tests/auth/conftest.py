from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.auth.session import ROTATING
from tests.support import LiveServer


@pytest.fixture(scope="module")
def auth_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """One HS256 server per test module (TTL 2 s, leeway 1 s), logging at info so the logs can be checked."""
    server = LiveServer(tmp_path_factory.mktemp("auth") / "data", *ROTATING, "--log-level", "info").start()
    yield server
    server.stop()
