"""Fixtures of the client tests."""

from __future__ import annotations

import pytest

from tests.client.helpers import ROTATING
from tests.conftest import ServerFactory
from tests.support import LiveServer


@pytest.fixture
def rotating(server_factory: ServerFactory) -> LiveServer:
    """A server whose tokens live 2 s: an upload outlives many of them."""
    return server_factory(*ROTATING)
