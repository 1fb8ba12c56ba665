from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.hooks.receiver import Receiver, running_receiver
from tests.s3_support import CREDENTIALS, S3Server


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with running_receiver() as running:
        yield running


@pytest.fixture(params=["file", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[list[str], dict[str, str]]]:
    """The `serve` flags and environment of each store the hook tests run against (S3: a moto server)."""
    if request.param == "file":
        yield [], {}
    else:
        s3: S3Server = request.getfixturevalue("s3_server")
        yield list(s3.serve_flags), dict(CREDENTIALS)
