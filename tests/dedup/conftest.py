"""Dedup tests run mostly with auth off, where `--instant-upload auto` is off: turn it on for them."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import ServerFactory
from tests.support import LiveServer


@pytest.fixture
def server_factory(server_factory: ServerFactory) -> Callable[..., LiveServer]:
    def start(*args: str, data_dir: Path | None = None, env: dict[str, str] | None = None) -> LiveServer:
        return server_factory(*args, data_dir=data_dir, env={"TUSSERVER_INSTANT_UPLOAD": "on", **(env or {})})

    return start
