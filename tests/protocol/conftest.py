from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support import LiveServer


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """One server per test module (with a small max size so 413 is cheap to provoke)."""
    server = LiveServer(tmp_path_factory.mktemp("proto") / "data", "--max-size", "1000").start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """One default server per module for stateless tests (each uses its own uploads): saves start-ups."""
    server = LiveServer(tmp_path_factory.mktemp("shared") / "data").start()
    yield server
    server.stop()
