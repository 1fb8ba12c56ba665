from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support import InProcessServer, LiveServer

# Protocol answers must not depend on the store: every in-process check runs against each one that needs
# no outside service (tests/storage holds the contract tests, S3 included).
STORES = ["file", "memory"]


@pytest.fixture(scope="module", params=STORES)
def live(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcessServer]:
    """One app per test module and store (with a small max size so 413 is cheap to provoke)."""
    app = InProcessServer(tmp_path_factory.mktemp("proto") / "data", "--store", request.param, "--max-size", "1000")
    yield app.start()
    app.stop()


@pytest.fixture(scope="module", params=STORES)
def shared(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcessServer]:
    """One default app per module and store for stateless tests (each uses its own uploads)."""
    app = InProcessServer(tmp_path_factory.mktemp("shared") / "data", "--store", request.param)
    yield app.start()
    app.stop()


@pytest.fixture(scope="module")
def real_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """One real `tusserver serve` per module, for the checks that need a socket (a body cut mid-way)."""
    server = LiveServer(tmp_path_factory.mktemp("real") / "data").start()
    yield server
    server.stop()
