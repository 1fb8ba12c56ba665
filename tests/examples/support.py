"""Running an example client against a real server, killing it mid-way and running it again."""

from __future__ import annotations

import functools
import os
import signal
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.client.helpers import ROTATING, body_bytes_received, download_sha256, mint, sha256_file
from tests.support import LiveServer, wait_for

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"


@dataclass
class Mode:
    """A server with auth on (tokens live 2 s, so a client must rotate) or off."""

    name: str
    server: LiveServer

    @property
    def auth(self) -> bool:
        return self.name == "auth"

    def token(self, ttl: int = 20) -> str | None:
        # Long enough for a JVM to start on a busy machine; every token after it lives 2 s.
        return mint(ttl=ttl) if self.auth else None

    @functools.cached_property
    def _checker_token(self) -> str | None:
        """The test's own token, minted once: minting is a subprocess, seconds per poll on a busy machine."""
        return mint(ttl=3600) if self.auth else None

    def received(self) -> float:
        return body_bytes_received(self.server.url, self._checker_token)

    def download_sha256(self, url: str) -> str:
        return download_sha256(url, self._checker_token)


def modes_fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Mode]]:
    open_server = LiveServer(tmp_path_factory.mktemp("open") / "data", "--metrics").start()
    auth_server = LiveServer(tmp_path_factory.mktemp("auth") / "data", *ROTATING).start()
    yield {"open": Mode("open", open_server), "auth": Mode("auth", auth_server)}
    open_server.stop()
    auth_server.stop()


def kill_then_resume(
    mode: Mode,
    source: Path,
    command: Callable[[str | None], tuple[list[str], dict[str, str]]],
    cwd: Path,
    kill_at: int,
) -> subprocess.CompletedProcess[str]:
    """Run `command(token)` until the server has `kill_at` more body bytes, SIGKILL it (children too),
    run it again with a new token, and check it finished the same upload without sending much twice."""
    before = mode.received()
    args, env = command(mode.token())
    first = subprocess.Popen(args, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             start_new_session=True)  # fmt: skip
    try:
        wait_for(lambda: mode.received() - before >= kill_at or first.poll() is not None, timeout=120,
                 what=f"{kill_at} bytes sent")  # fmt: skip
        assert first.poll() is None, f"finished before it could be killed: {first.communicate()}"
    finally:
        if first.poll() is None:
            os.killpg(first.pid, signal.SIGKILL)
        first.communicate(timeout=30)
    assert any(p.name.startswith(".tus-resume") for p in cwd.iterdir()), "no resume state was left behind"
    args, env = command(mode.token())
    second = subprocess.run(args, env=env, cwd=cwd, capture_output=True, text=True, timeout=240)
    assert second.returncode == 0, second.stderr[-3000:]
    url = second.stdout.strip().splitlines()[-1]
    assert mode.download_sha256(url) == sha256_file(source)
    sent = mode.received() - before
    size = source.stat().st_size
    assert sent < 1.5 * size, f"sent {sent / size:.2f}x the file: the second run did not resume"
    assert not any(p.name.startswith(".tus-resume") for p in cwd.iterdir()), "resume state not removed"
    return second
