"""tus-js-client under Node: parallel uploads (partials + final concatenation) and chunked streams."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.support import TUS, LiveServer, require_tool, wait_for

NODE_DIR = Path(__file__).resolve().parent.parent / "node"
SCRIPT = NODE_DIR / "upload.mjs"
MIB = 1024 * 1024


def run_js_upload(file: Path, endpoint: str, options: dict[str, object]) -> str:
    node = require_tool("node")
    if not (NODE_DIR / "node_modules" / "tus-js-client").is_dir():
        message = "tus-js-client is not installed: run `make node-deps`"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(message)
        pytest.skip(message)
    done = subprocess.run(
        [node, str(SCRIPT), str(file), endpoint, json.dumps(options)],
        cwd=NODE_DIR, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def big_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("js") / "random.bin"
    path.write_bytes(os.urandom(20 * MIB))
    return path


@pytest.mark.parametrize(
    "options",
    [{"parallelUploads": 4}, {"chunkSize": MIB}, {"chunkSize": MIB, "stream": True}],
    ids=["parallel4", "chunk1MiB", "stream-chunk1MiB"],
)
def test_tus_js_client_upload(server: LiveServer, big_file: Path, options: dict[str, object]) -> None:
    url = run_js_upload(big_file, server.endpoint, options)
    assert url.startswith(server.endpoint)
    # A parallel upload's final concatenation is assembled in the background: poll until it is.
    head = wait_for(
        lambda: (r := httpx.head(url, headers=TUS)).headers.get("Upload-Offset") == str(20 * MIB) and r,
        timeout=60, what="upload complete",
    )  # fmt: skip
    if options.get("parallelUploads"):
        assert head.headers["Upload-Concat"].startswith("final;")
        assert len(head.headers["Upload-Concat"].split(" ")) == 4
    with httpx.stream("GET", url) as got:
        assert got.status_code == 200
        assert got.headers.get("Content-Disposition", "").find("random.bin") >= 0
        received = b"".join(got.iter_bytes())
    assert received == big_file.read_bytes()
