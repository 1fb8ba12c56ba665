"""Three instances on Azure (Azurite) or GCS (fake-gcs-server) with `--locker redis`, nginx round-robin in front.

As tests/cluster/test_through_nginx.py does for S3: nothing is shared but the container/bucket and Redis, so
each case fails if an instance keeps upload state in its own memory.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.client.helpers import ROTATING, body_bytes_received
from tests.cloud_support import AzureServer, GCSServer, running_azurite, running_fake_gcs
from tests.cluster.support import (
    create_upload,
    final_of_partials,
    patch_upload,
    path_of,
    running_nginx,
    sha256_digest,
    start_all,
)
from tests.redis_support import running_redis
from tests.support import OCTET, TUS, LiveServer, half_patch, wait_for

MiB = 1024 * 1024


@dataclass
class CloudCluster:
    url: str
    instances: list[LiveServer]
    cloud: AzureServer | GCSServer

    def on(self, index: int, headers: dict[str, str]) -> httpx.Client:
        host = httpx.URL(self.url).netloc.decode()
        return httpx.Client(base_url=self.instances[index].url, headers={**TUS, **headers, "Host": host}, timeout=60)

    def stored(self, upload_id: str) -> bytes:
        if isinstance(self.cloud, AzureServer):
            container: Any = self.cloud.container_client()
            return bytes(container.get_blob_client(upload_id).download_blob().readall())
        client: Any = self.cloud.client()
        return bytes(client.bucket(self.cloud.bucket).blob(upload_id).download_as_bytes())


@pytest.fixture(scope="module", params=["azure", "gcs"])
def cluster(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[CloudCluster]:
    directory = tmp_path_factory.mktemp(f"cluster-{request.param}")
    with ExitStack() as stack:
        emulator = running_azurite if request.param == "azure" else running_fake_gcs
        cloud = stack.enter_context(emulator(directory))
        redis_url = stack.enter_context(running_redis(directory))
        args = [*cloud.serve_flags, "--locker", "redis", "--redis-url", redis_url, "--behind-proxy", *ROTATING]
        servers = [LiveServer(directory / f"data{i}", *args, env=cloud.env) for i in range(3)]
        for server in servers:
            stack.callback(server.stop)
        start_all(servers)
        url = stack.enter_context(running_nginx(directory / "nginx", [s.port for s in servers]))
        yield CloudCluster(url, servers, cloud)


def test_partials_on_two_instances_final_on_a_third(cluster: CloudCluster, auth: dict[str, str]) -> None:
    a, b = os.urandom(9 * MiB + 17), os.urandom(3 * MiB + 5)
    with cluster.on(0, auth) as zero, cluster.on(1, auth) as one, cluster.on(2, auth) as two:
        final = final_of_partials(zero, one, two, a, b, refer=path_of)
        for http in (zero, one, two):
            assert http.head(path_of(final)).headers.get("Upload-Offset") == str(len(a) + len(b))
    assert httpx.get(final, headers=auth, timeout=60).content == a + b  # through nginx
    assert cluster.stored(path_of(final).rsplit("/", 1)[1]) == a + b


def test_instant_upload_across_instances(cluster: CloudCluster, auth: dict[str, str]) -> None:
    data = os.urandom(300_000)
    digest = sha256_digest(data)
    with cluster.on(0, auth) as zero:
        first = create_upload(zero, len(data), **{"Repr-Digest": digest})
        assert patch_upload(zero, first, 0, data).status_code == 204
    with cluster.on(2, auth) as two:
        r = two.post("/files/", headers={"Upload-Length": str(len(data)), "Repr-Digest": digest})
    assert r.status_code == 201, r.text
    assert r.headers.get("Upload-Offset") == str(len(data))
    assert httpx.get(r.headers["Location"], headers=auth, timeout=30).content == data


def test_dropped_patch_on_one_instance_resumed_through_nginx(cluster: CloudCluster, auth: dict[str, str]) -> None:
    data = os.urandom(12 * MiB)
    sent = 9 * MiB + 3
    with cluster.on(0, auth) as zero:
        url = create_upload(zero, len(data))
    token = auth["Authorization"].split()[1]
    before = body_bytes_received(cluster.instances[0].url, token)
    half_patch(cluster.instances[0], url, data[:sent], promised=len(data), auth=token).close()
    # No HEAD before instance 0 has read the body: a HEAD asks the PATCH to stop reading at once.
    wait_for(
        lambda: body_bytes_received(cluster.instances[0].url, token) >= before + sent,
        timeout=60,
        what="instance 0 reading the body",
    )
    with cluster.on(1, auth) as one:
        wait_for(
            lambda: one.head(path_of(url)).headers.get("Upload-Offset") == str(sent),
            timeout=60,
            what="instance 1 counting the bytes instance 0 received",
        )
    headers = {**TUS, **auth, "Upload-Offset": str(sent), "Content-Type": OCTET}
    r = httpx.patch(url, content=data[sent:], headers=headers, timeout=60)
    assert r.status_code == 204, r.text
    assert cluster.stored(path_of(url).rsplit("/", 1)[1]) == data


def test_repr_digest_across_instances(cluster: CloudCluster, auth: dict[str, str]) -> None:
    """PATCHes on alternating instances: verified at the end (204), and a wrong digest found (460)."""
    data = os.urandom(4 * MiB + 11)
    with cluster.on(0, auth) as zero, cluster.on(1, auth) as one, cluster.on(2, auth) as two:
        clients = [zero, one, two]
        cuts = [0, 1_000_000, 2_000_000, 3_500_000, len(data)]
        good = create_upload(zero, len(data), **{"Repr-Digest": sha256_digest(data)})
        bad = create_upload(one, len(data), **{"Repr-Digest": sha256_digest(data[::-1])})
        for n, (begin, end) in enumerate(itertools.pairwise(cuts)):
            assert patch_upload(clients[n % 3], good, begin, data[begin:end]).status_code == 204
            r = patch_upload(clients[(n + 1) % 3], bad, begin, data[begin:end])
            assert r.status_code == (460 if end == len(data) else 204), (n, r.status_code, r.text)
        assert one.head(path_of(bad)).status_code in (404, 410)
    assert httpx.get(good, headers=auth, timeout=60).content == data
