"""`TUS_ENDPOINT=http://host/files/ pytest conformance` tests any tus server; unset, it starts our own."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from .support import OwnServer, Tus


@pytest.fixture(scope="session")
def endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    url = os.environ.get("TUS_ENDPOINT")
    if url:
        yield url
        return
    server = OwnServer(tmp_path_factory.mktemp("conformance") / "data", "--max-size", "1048576").start()
    try:
        yield server.endpoint
    finally:
        server.stop()


@pytest.fixture
def tus(endpoint: str) -> Iterator[Tus]:
    client = Tus(endpoint)
    yield client
    client.close()
