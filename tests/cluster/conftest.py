"""One cluster per test module (three instances and nginx, flags from the module's `CLUSTER_FLAGS`).

moto and redis-server are started once per session (moto alone takes seconds to start); each
module's cluster gets its own bucket and Redis database, so no module sees another's uploads.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.client.helpers import mint
from tests.cluster.support import Backends, Cluster, running_backends, running_cluster


@pytest.fixture(scope="module")
def auth() -> dict[str, str]:
    """A token of the owner every case uses, valid for the whole module (rotation applies to the ones it begets)."""
    return {"Authorization": f"Bearer {mint(ttl=600)}"}


@pytest.fixture(scope="session")
def cluster_backends(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Backends]:
    with running_backends(tmp_path_factory.mktemp("cluster-backends")) as backends:
        yield backends


@pytest.fixture(scope="module")
def cluster(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, cluster_backends: Backends
) -> Iterator[Cluster]:
    flags: list[str] = getattr(request.module, "CLUSTER_FLAGS", [])
    with running_cluster(tmp_path_factory.mktemp("cluster"), cluster_backends, *flags) as started:
        yield started


@pytest.fixture
def live(cluster: Cluster) -> Iterator[Cluster]:
    """The module's cluster with three instances running, and no server-side errors logged by the test."""
    cluster.ensure_running()
    before = len(cluster.errors_in_logs())
    yield cluster
    assert cluster.errors_in_logs()[before:] == []
