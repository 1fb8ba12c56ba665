from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.client.helpers import MiB, random_file
from tests.examples.support import Mode, modes_fixture


@pytest.fixture(scope="package")
def modes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Mode]]:
    yield from modes_fixture(tmp_path_factory)


@pytest.fixture(params=["open", "auth"])
def mode(request: pytest.FixtureRequest, modes: dict[str, Mode]) -> Mode:
    return modes[request.param]


@pytest.fixture(scope="package")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return random_file(tmp_path_factory.mktemp("src") / "eight.bin", 8 * MiB + 5)
