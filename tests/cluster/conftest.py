"""One cluster per test module (started once: about five seconds of processes), flags from `CLUSTER_FLAGS`."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.cluster.support import Cluster, running_cluster


@pytest.fixture(scope="module")
def cluster(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    flags: list[str] = getattr(request.module, "CLUSTER_FLAGS", [])
    with running_cluster(tmp_path_factory.mktemp("cluster"), *flags) as started:
        yield started


@pytest.fixture
def live(cluster: Cluster) -> Iterator[Cluster]:
    """The module's cluster with three instances running, and no server-side errors logged by the test."""
    cluster.ensure_running()
    before = len(cluster.errors_in_logs())
    yield cluster
    assert cluster.errors_in_logs()[before:] == []
