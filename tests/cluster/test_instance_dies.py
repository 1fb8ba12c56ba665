"""An instance SIGKILLed in the middle of a PATCH: the client finishes through the other two.

Auth is on with tokens that live 2 s, so the upload rides on rotated tokens (`X-New-Token`) across
instances. The dead instance held the upload's Redis lock: the lease (10 s) runs out, the client's
retries (423, 502) carry it over, and the upload ends whole, with nothing left locked.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx

from tests.client.helpers import (
    ROTATING,
    body_bytes_received,
    download_sha256,
    mint,
    random_file,
    sha256_file,
    token_command,
)
from tests.cluster.support import Cluster
from tests.support import TUS, LiveServer, wait_for

CLUSTER_FLAGS = [*ROTATING, "--expire-after", "3600"]
MiB = 1024 * 1024


def _receiving(instances: list[LiveServer], token: str) -> LiveServer | None:
    """The instance whose body-byte counter moves between two looks: the one taking the PATCH now."""
    before = [body_bytes_received(s.url, token) for s in instances]
    after = [body_bytes_received(s.url, token) for s in instances]
    moving = [s for s, b, a in zip(instances, before, after, strict=True) if a > b]
    return moving[0] if len(moving) == 1 else None


def test_sigkill_mid_patch_the_client_finishes_through_the_others(live: Cluster, tmp_path: Path) -> None:
    source = random_file(tmp_path / "sixty-four.bin", 64 * MiB)
    args = [sys.executable, "-m", "tusserver", "upload", str(source), "--endpoint", live.endpoint,
            "--token", mint(), "--token-command", token_command(), "--chunk-size", "8M", "--limit-rate", "24M",
            "--resume-file", str(tmp_path / "resume.json")]  # fmt: skip
    client = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        token = mint(ttl=600)
        wait_for(
            lambda: sum(body_bytes_received(s.url, token) for s in live.instances) >= 20 * MiB,
            timeout=60, what="a third of the file sent",
        )  # fmt: skip
        victim = wait_for(lambda: _receiving(live.instances, token), timeout=30, what="an instance mid-PATCH")
        victim.kill()
        stdout, stderr = client.communicate(timeout=120)
    finally:
        if client.poll() is None:
            client.kill()
            client.wait(10)
    assert client.returncode == 0, stderr[-3000:]
    url = stdout.strip().splitlines()[-1]
    assert url.startswith(live.endpoint)
    assert download_sha256(url, mint()) == sha256_file(source)
    survivors = [s for s in live.instances if s is not victim]
    for server in survivors:  # answered at once by each survivor: no lock outlived the dead instance
        head = httpx.head(server.url + httpx.URL(url).path, headers={**TUS, "Authorization": f"Bearer {mint()}"})
        assert head.status_code == 200 and head.headers["Upload-Offset"] == str(64 * MiB), head.headers
