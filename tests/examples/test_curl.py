"""examples/curl: with auth on and off, killed mid-way and run again, each finishes the same upload."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.client.helpers import MiB
from tests.examples.support import EXAMPLES, Mode, kill_then_resume
from tests.support import require_tool


def _env(token: str | None, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("TOKEN", "UPLOAD_URL", "STATE_FILE")}
    env.update(extra)
    if token:
        env["TOKEN"] = token
    return env


@pytest.mark.parametrize("script", ["upload.sh", "parallel-upload.sh"])
def test_killed_and_resumed(mode: Mode, source: Path, tmp_path: Path, script: str) -> None:
    require_tool("curl")

    def command(token: str | None) -> tuple[list[str], dict[str, str]]:
        extra = str(MiB) if script == "upload.sh" else "3"
        # LIMIT_RATE is the whole upload's: the three parts share it
        return ["bash", str(EXAMPLES / "curl" / script), str(source), mode.server.endpoint, extra], _env(
            token, LIMIT_RATE="1500K"
        )

    second = kill_then_resume(mode, source, command, tmp_path, kill_at=3 * MiB)
    assert "resum" in second.stderr


def test_upload_sh_sends_the_file_name_without_a_newline(modes: dict[str, Mode], tmp_path: Path) -> None:
    require_tool("curl")
    mode = modes["open"]
    source = tmp_path / "notes.txt"
    source.write_bytes(b"hello")
    done = subprocess.run(["bash", str(EXAMPLES / "curl" / "upload.sh"), str(source), mode.server.endpoint],
                          capture_output=True, text=True, cwd=tmp_path, env=_env(None), timeout=60)  # fmt: skip
    assert done.returncode == 0, done.stderr
    import httpx

    url = done.stdout.strip().splitlines()[-1]
    assert httpx.get(url).headers["content-disposition"].endswith("filename*=UTF-8''notes.txt")


def test_upload_sh_says_why_on_a_missing_token(modes: dict[str, Mode], source: Path, tmp_path: Path) -> None:
    require_tool("curl")
    done = subprocess.run(["bash", str(EXAMPLES / "curl" / "upload.sh"), str(source), modes["auth"].server.endpoint],
                          capture_output=True, text=True, cwd=tmp_path, env=_env(None), timeout=60)  # fmt: skip
    assert done.returncode == 3
    assert "needs a valid token" in done.stderr
