"""The recipes in examples/ against a server whose tokens live 2 s: Java, curl scripts, Postman via newman.

Each client is paced so that it runs for several token lifetimes and must rotate to finish.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.client.helpers import ROTATING, MiB, download_sha256, mint, random_file, sha256_file
from tests.support import IN_CI, LiveServer, require_tool

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
NEWMAN = ROOT / "tests" / "node" / "node_modules" / ".bin" / "newman"


@pytest.fixture(scope="module")
def rotating(tmp_path_factory: pytest.TempPathFactory) -> LiveServer:
    server = LiveServer(tmp_path_factory.mktemp("recipes") / "data", *ROTATING).start()
    yield server  # type: ignore[misc]
    server.stop()


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return random_file(tmp_path_factory.mktemp("src") / "twelve.bin", 12 * MiB + 5)


@pytest.mark.parametrize("parallel", ["1", "4"], ids=["sequential", "parallel"])
def test_java(rotating: LiveServer, source: Path, parallel: str) -> None:
    """The first token outlives JVM start-up (6 s + 1 s leeway); the paced upload (~8 s after it) needs rotated ones."""
    java = require_tool("java")
    done = subprocess.run(
        [java, str(EXAMPLES / "java" / "TusUpload.java"), str(source), rotating.endpoint, "--token", mint(ttl=6),
         "--parallel", parallel, "--chunk-size", str(MiB), "--limit-rate", str(3 * MiB // (2 * int(parallel)))],
        capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    url = done.stdout.strip().splitlines()[-1]
    assert download_sha256(url, mint()) == sha256_file(source)


@pytest.mark.parametrize("script", ["upload.sh", "parallel-upload.sh"])
def test_curl_scripts(rotating: LiveServer, source: Path, script: str) -> None:
    require_tool("curl")
    args = [str(EXAMPLES / "curl" / script), str(source), rotating.endpoint]
    args.append(str(MiB) if script == "upload.sh" else "3")
    # the rate is per curl process: the three parallel parts together go as fast as the sequential upload
    env = {**os.environ, "TOKEN": mint(ttl=3), "LIMIT_RATE": "2M" if script == "upload.sh" else "700K"}
    done = subprocess.run(["bash", *args], capture_output=True, text=True, timeout=180, env=env)
    assert done.returncode == 0, done.stderr
    url = done.stdout.strip().splitlines()[-1]
    assert download_sha256(url, mint()) == sha256_file(source)


def test_postman_collection_with_newman(rotating: LiveServer, tmp_path: Path) -> None:
    require_tool("node")
    if not NEWMAN.exists():
        message = "newman is not installed: run `make node-deps`"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    report = tmp_path / "report.json"
    done = subprocess.run(
        [str(NEWMAN), "run", str(EXAMPLES / "postman" / "tusserver.postman_collection.json"),
         "--env-var", f"endpoint={rotating.endpoint}", "--env-var", f"token={mint(ttl=3)}",
         "--delay-request", "800", "--reporters", "cli,json", "--reporter-json-export", str(report)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:]
    stats = json.loads(report.read_text())["run"]["stats"]
    assert stats["assertions"]["failed"] == 0 and stats["assertions"]["total"] >= 11
    assert stats["requests"]["total"] == 8
    timings = json.loads(report.read_text())["run"]["timings"]
    assert timings["completed"] - timings["started"] > 3000  # longer than a token lives: it had to rotate
