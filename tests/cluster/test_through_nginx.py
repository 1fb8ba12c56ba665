"""Three instances behind nginx, no stickiness: every request may land on any instance.

Uploads live in moto's S3 and locks in Redis; nothing else is shared, so each case fails if an
instance keeps upload state (an instant-upload index entry, a running digest, a waiting final) in
its own memory. Cases that need a given instance address it directly with nginx's `Host`. Auth is
on, with rotated tokens that live 2 s (instant upload is on with auth); the last case kills an
instance, so it runs last and the cluster is started once for the module.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx

from tests.client.helpers import (
    ROTATING,
    MiB,
    body_bytes_received,
    download_sha256,
    mint,
    random_file,
    sha256_file,
    token_command,
)
from tests.cluster.support import Cluster, create_upload, final_of_partials, patch_upload, path_of, sha256_digest
from tests.support import TUS, LiveServer, wait_for

CLUSTER_FLAGS = [*ROTATING, "--expire-after", "3600"]


def test_instant_upload_across_instances(live: Cluster, auth: dict[str, str]) -> None:
    """A file stored through instance 0 is instantly complete when announced on instances 1 and 2."""
    data = os.urandom(300_000)
    with live.on(0, auth) as zero:
        first = create_upload(zero, len(data), **{"Repr-Digest": sha256_digest(data)})
        assert patch_upload(zero, first, 0, data).status_code == 204
    for index in (1, 2):
        with live.on(index, auth) as other:
            r = other.post("/files/", headers={"Upload-Length": str(len(data)), "Repr-Digest": sha256_digest(data)})
        assert r.status_code == 201, r.text
        assert r.headers.get("Upload-Offset") == str(len(data)), f"instance {index} did not find the first upload"
        assert httpx.get(r.headers["Location"], headers=auth, timeout=30).content == data


def test_partials_on_two_instances_final_on_a_third(live: Cluster, auth: dict[str, str]) -> None:
    a, b = os.urandom(5 * 1024 * 1024 + 17), os.urandom(3 * 1024 * 1024 + 5)
    with live.on(0, auth) as zero, live.on(1, auth) as one, live.on(2, auth) as two:
        final = final_of_partials(zero, one, two, a, b)
        for http in (zero, one, two):
            head = http.head(path_of(final))
            assert head.headers.get("Upload-Offset") == str(len(a) + len(b)), head.headers
            assert http.get(path_of(final)).content == a + b
    assert httpx.get(final, headers=auth, timeout=60).content == a + b  # and through nginx


def test_final_waiting_on_a_part_is_assembled_by_the_instance_that_finishes_it(
    live: Cluster, auth: dict[str, str]
) -> None:
    """concatenation-unfinished: the final is made on 2, its last part finishes on 0; nobody asks for it.

    The final's bytes must appear in S3 without a HEAD or GET on the final: the part's last PATCH
    wakes it through the store-backed `finals_of_part` set, whichever instance parked it.
    """
    a, b = os.urandom(1024 * 1024), os.urandom(700_000)
    with live.on(0, auth) as zero, live.on(1, auth) as one, live.on(2, auth) as two:
        part_a = create_upload(zero, len(a), **{"Upload-Concat": "partial"})
        part_b = create_upload(one, len(b), **{"Upload-Concat": "partial"})
        assert patch_upload(zero, part_a, 0, a).status_code == 204
        assert patch_upload(one, part_b, 0, b[:300_000]).status_code == 204
        r = two.post("/files/", headers={"Upload-Concat": f"final;{part_a} {part_b}"})
        assert r.status_code == 201, r.text
        final = r.headers["Location"]
        assert patch_upload(zero, part_b, 300_000, b[300_000:]).status_code == 204
    s3 = live.s3.client()

    def final_object_size() -> int | None:
        try:
            head = s3.head_object(Bucket=live.s3.bucket, Key=path_of(final).rsplit("/", 1)[-1])  # type: ignore[attr-defined]
        except Exception:  # noqa: BLE001 - not there yet
            return None
        return int(head["ContentLength"])

    wait_for(lambda: final_object_size() == len(a) + len(b), timeout=20, what="the final assembled in S3")
    for index in range(3):
        assert httpx.get(live.instance_url(index, final), headers=auth, timeout=60).content == a + b


def test_repr_digest_verified_with_patches_on_alternating_instances(live: Cluster, auth: dict[str, str]) -> None:
    data = os.urandom(4 * 1024 * 1024 + 11)
    clients = [live.on(i, auth) for i in range(3)]
    try:
        url = create_upload(clients[0], len(data), **{"Repr-Digest": sha256_digest(data)})
        cuts = [0, 1_000_000, 2_000_000, 3_500_000, len(data)]
        for n, (start, end) in enumerate(zip(cuts, cuts[1:], strict=False)):
            r = patch_upload(clients[n % 3], url, start, data[start:end])
            assert r.status_code == 204, (n, r.status_code, r.text)
    finally:
        for http in clients:
            http.close()
    assert httpx.get(url, headers=auth, timeout=60).content == data


def test_repr_digest_mismatch_found_with_patches_on_alternating_instances(live: Cluster, auth: dict[str, str]) -> None:
    data = os.urandom(2 * 1024 * 1024)
    with live.on(0, auth) as zero, live.on(1, auth) as one, live.on(2, auth) as two:
        url = create_upload(one, len(data), **{"Repr-Digest": sha256_digest(data[::-1])})
        assert patch_upload(one, url, 0, data[:700_000]).status_code == 204
        assert patch_upload(two, url, 700_000, data[700_000:1_500_000]).status_code == 204
        r = patch_upload(zero, url, 1_500_000, data[1_500_000:])
        assert r.status_code == 460, (r.status_code, r.text)
        assert one.head(path_of(url)).status_code in (404, 410)


class _MidPatch:
    """Polled: the instance whose body-byte counter moved since the last look, while the file is far from done."""

    def __init__(self, instances: list[LiveServer], token: str) -> None:
        self.instances, self.token = instances, token
        self.last = self._counts()

    def _counts(self) -> list[float]:
        return [body_bytes_received(s.url, self.token) for s in self.instances]

    def __call__(self) -> LiveServer | None:
        now = self._counts()
        moving = [s for s, a, b in zip(self.instances, self.last, now, strict=True) if b > a]
        self.last = now
        if not 12 * MiB <= sum(now) <= 40 * MiB:  # not the last PATCH: this case is about resuming
            return None
        return moving[0] if len(moving) == 1 else None


def test_sigkill_mid_patch_the_client_finishes_through_the_others(live: Cluster, tmp_path: Path) -> None:
    source = random_file(tmp_path / "sixty-four.bin", 64 * MiB)
    args = [sys.executable, "-m", "tusserver", "upload", str(source), "--endpoint", live.endpoint,
            "--token", mint(), "--token-command", token_command(), "--chunk-size", "4M", "--limit-rate", "8M",
            "--resume-file", str(tmp_path / "resume.json")]  # fmt: skip
    # Minted before the client starts (a subprocess: seconds on a busy machine, while the upload runs), and
    # at 8 MB/s the upload lasts ~8 s: a poll still finds it between 12 and 40 MiB on a loaded machine.
    token = mint(ttl=600)
    client = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        victim = wait_for(_MidPatch(live.instances, token), timeout=60, interval=0.1, what="an instance mid-PATCH")
        victim.kill()
        stdout, stderr = client.communicate(timeout=120)
    finally:
        if client.poll() is None:
            client.kill()
            client.wait(10)
    upload_id = next((w.rsplit("/", 1)[-1] for w in stderr.split() if "/files/" in w), "?")
    assert client.returncode == 0, stderr[-3000:] + f"\nvictim {victim.port}\n" + live.diagnose(upload_id)
    url = stdout.strip().splitlines()[-1]
    assert url.startswith(live.endpoint)
    assert download_sha256(url, mint()) == sha256_file(source)
    survivors = [s for s in live.instances if s is not victim]
    for server in survivors:  # answered at once by each survivor: no lock outlived the dead instance
        head = httpx.head(server.url + httpx.URL(url).path, headers={**TUS, "Authorization": f"Bearer {mint()}"})
        assert head.status_code == 200 and head.headers["Upload-Offset"] == str(64 * MiB), head.headers
