"""The black-box conformance suite (conformance/) against a real tusserver with auth on.

The suite sends one long-lived platform token (TUS_HEADERS); with owners, an unknown part in a final
is 400 as without them (it was 403, which the README and the suite did not expect)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.auth.session import SECRET, mint
from tests.conftest import ServerFactory

REPO = Path(__file__).resolve().parents[2]


def test_conformance_suite_with_auth_on(server_factory: ServerFactory) -> None:
    server = server_factory("--jwt-secret", SECRET, "--expire-after", "3600")
    token = mint("conformance", ttl=600)
    env = {**os.environ, "TUS_ENDPOINT": server.endpoint, "TUS_HEADERS": f"Authorization: Bearer {token}"}
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "conformance", "-q", "-p", "no:cacheprovider", "-o", "addopts=", "-x"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert " passed" in run.stdout and "failed" not in run.stdout
