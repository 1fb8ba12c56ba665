"""Dedup tests run mostly with auth off, where `--instant-upload auto` is off: turn it on for them."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import AppFactory, ServerFactory
from tests.support import InProcessServer, LiveServer

INSTANT_UPLOAD_ON = {"TUSSERVER_INSTANT_UPLOAD": "on"}


@pytest.fixture
def server_factory(server_factory: ServerFactory) -> Callable[..., LiveServer]:
    def start(*args: str, data_dir: Path | None = None, env: dict[str, str] | None = None) -> LiveServer:
        return server_factory(*args, data_dir=data_dir, env={**INSTANT_UPLOAD_ON, **(env or {})})

    return start


@pytest.fixture
def app_factory(app_factory: AppFactory) -> Callable[..., InProcessServer]:
    def start(*args: str, data_dir: Path | None = None, env: dict[str, str] | None = None) -> InProcessServer:
        return app_factory(*args, data_dir=data_dir, env={**INSTANT_UPLOAD_ON, **(env or {})})

    return start
