"""The black-box conformance suite (conformance/) through nginx in front of three instances, and the
keep-alive connection a client keeps through nginx after an early answer.

Auth is off here: the suite's own expectations (a 404 for an unknown part, say) assume no owners.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from tests.cluster.support import Cluster
from tests.support import TUS, read_http_response

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


@pytest.mark.parametrize("trailing_s", [0.0, 0.05, 0.3])
def test_an_early_answer_keeps_the_connection_through_nginx(live: Cluster, trailing_s: float) -> None:
    """A PATCH refused on its headers (an unknown checksum algorithm) whose 3-byte body comes `trailing_s`
    after them, then a HEAD on the same connection. Answered before the body reached it, an instance made
    nginx pass the 400 on as keep-alive and close the connection: the HEAD got no answer (seen once in CI
    through the conformance suite; every time here with the body 50 ms late, before the fix)."""
    url = httpx.post(live.endpoint, headers={**TUS, "Upload-Length": "3"}).headers["Location"]
    path = urlsplit(url).path
    origin = urlsplit(live.endpoint)
    with socket.create_connection((origin.hostname, origin.port), timeout=30) as sock:
        sock.sendall(
            f"PATCH {path} HTTP/1.1\r\nHost: {origin.netloc}\r\nTus-Resumable: 1.0.0\r\nUpload-Offset: 0\r\n"
            "Content-Type: application/offset+octet-stream\r\nUpload-Checksum: whirlpool-9 eHh4\r\n"
            "Content-Length: 3\r\n\r\n".encode()
        )
        time.sleep(trailing_s)  # the body trails its headers, as from a client writing them separately
        sock.sendall(b"abc")
        refused = read_http_response(sock)
        assert refused.status == 400, refused
        sock.sendall(f"HEAD {path} HTTP/1.1\r\nHost: {origin.netloc}\r\nTus-Resumable: 1.0.0\r\n\r\n".encode())
        head = read_http_response(sock, refused.rest)  # fails if nginx closed the connection instead
        assert head.status == 200 and head.headers["upload-offset"] == "0", head
