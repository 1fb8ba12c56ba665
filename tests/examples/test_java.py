"""examples/java/TusUpload.java: with auth on and off, sequential and parallel, killed mid-way and run again."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.client.helpers import MiB, random_file, sha256_file
from tests.examples.support import EXAMPLES, Mode, kill_then_resume
from tests.support import require_tool, wait_for

JAVA_FILE = EXAMPLES / "java" / "TusUpload.java"


@pytest.fixture(scope="module")
def java(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """`java TusUpload.java` as the README runs it, compiled once here: the JVM then starts in a second, not ten."""
    java = require_tool("java")
    javac = require_tool("javac")
    classes = tmp_path_factory.mktemp("classes")
    subprocess.run([javac, "-d", str(classes), str(JAVA_FILE)], check=True, capture_output=True, timeout=180)
    return [java, "-cp", str(classes), "TusUpload"]


Command = Callable[[str | None], tuple[list[str], dict[str, str]]]


def _command(java: list[str], source: Path, endpoint: str, *extra: str) -> Command:
    def command(token: str | None) -> tuple[list[str], dict[str, str]]:
        env = {k: v for k, v in os.environ.items() if k != "TUS_TOKEN"}
        if token:
            env["TUS_TOKEN"] = token  # not --token: flags show in ps
        return [*java, str(source), endpoint, "--chunk-size", str(MiB), *extra], env

    return command


@pytest.mark.parametrize("parallel", ["1", "3"], ids=["sequential", "parallel"])
def test_killed_and_resumed(java: list[str], mode: Mode, source: Path, tmp_path: Path, parallel: str) -> None:
    # --limit-rate is the whole upload's, all parts together: ~5 s for 8 MiB either way
    command = _command(java, source, mode.server.endpoint, "--parallel", parallel, "--limit-rate", str(1536 * 1024))
    second = kill_then_resume(mode, source, command, tmp_path, kill_at=3 * MiB)
    assert "resuming at" in second.stderr
    assert "stored 8388613 of 8388613 bytes (100%)" in second.stderr  # the progress summary


def test_head_retries_through_a_server_outage(java: list[str], modes: dict[str, Mode], tmp_path: Path) -> None:
    """The server dies mid-upload and stays down until the client has failed to reach it: HEAD is retried
    with back-off (before: "upload failed: null" on the first failed HEAD), and the upload finishes."""
    mode = modes["open"]
    source = random_file(tmp_path / "six.bin", 6 * MiB)
    args, env = _command(java, source, mode.server.endpoint, "--limit-rate", str(MiB))(None)
    before = mode.received()
    log = tmp_path / "stderr.txt"
    with log.open("w") as stderr:
        client = subprocess.Popen(args, env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=stderr, text=True)
        try:
            wait_for(lambda: mode.received() - before >= 2 * MiB, timeout=120, what="2 MiB sent")
            mode.server.kill()
            wait_for(lambda: "cannot reach the server" in log.read_text(), timeout=60, what="a failed HEAD")
            mode.server.start()
            out, _ = client.communicate(timeout=180)
        finally:
            if client.poll() is None:
                client.kill()
                client.wait(10)
    err = log.read_text()
    assert client.returncode == 0, err
    assert "retrying in" in err
    assert mode.download_sha256(out.strip().splitlines()[-1]) == sha256_file(source)


def test_missing_token_exits_3_with_a_reason(
    java: list[str], modes: dict[str, Mode], source: Path, tmp_path: Path
) -> None:
    args, env = _command(java, source, modes["auth"].server.endpoint)(None)
    done = subprocess.run(args, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 3
    assert "needs a token" in done.stderr
