"""Run the conformance suite against any tus server: `TUS_ENDPOINT=http://host:port/files/ pytest conformance`.

Without TUS_ENDPOINT a tusserver is started on a free port. `TUS_HEADERS` may add headers to every
request (for example `Authorization: Bearer …`), one `Name: value` per line.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from conformance.support import Tus


@pytest.fixture(scope="session")
def endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    given = os.environ.get("TUS_ENDPOINT")
    if given:
        yield given
        return
    from tests.support import LiveServer

    server = LiveServer(Path(tmp_path_factory.mktemp("conformance")) / "data", "--expire-after", "3600").start()
    try:
        yield server.endpoint
    finally:
        server.stop()


@pytest.fixture
def tus(endpoint: str) -> Iterator[Tus]:
    extra: dict[str, str] = {}
    for line in os.environ.get("TUS_HEADERS", "").splitlines():
        name, _, value = line.partition(":")
        if value:
            extra[name.strip()] = value.strip()
    client = Tus(endpoint, extra)
    yield client
    client.http.close()


def require(tus: Tus, extension: str) -> None:
    if extension not in tus.extensions:
        pytest.skip(f"server does not advertise {extension}")
