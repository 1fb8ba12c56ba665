"""The black-box conformance suite (conformance/) through nginx in front of three instances.

Auth is off here: the suite's own expectations (a 404 for an unknown part, say) assume no owners.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.cluster.support import Cluster

CLUSTER_FLAGS = ["--expire-after", "3600"]
REPO = Path(__file__).resolve().parents[2]


def test_conformance_suite_through_nginx(live: Cluster) -> None:
    """The black-box tus 1.0.0 suite, every request round-robined over the three instances."""
    env = {**os.environ, "TUS_ENDPOINT": live.endpoint}
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "conformance", "-q", "-p", "no:cacheprovider", "-o", "addopts=", "-x"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    if run.returncode != 0:  # what nginx saw: a dropped client connection shows in its error log, not ours
        error_log = live.nginx_dir / "error.log"
        nginx_errors = error_log.read_text(errors="replace")[-3000:] if error_log.exists() else ""
        access = "\n".join((live.nginx_dir / "access.log").read_text(errors="replace").splitlines()[-30:])
        raise AssertionError(
            f"{run.stdout[-4000:]}{run.stderr[-2000:]}\n--- nginx error.log:\n{nginx_errors}"
            f"\n--- nginx access.log (last 30):\n{access}"
        )
    assert " passed" in run.stdout and "failed" not in run.stdout
