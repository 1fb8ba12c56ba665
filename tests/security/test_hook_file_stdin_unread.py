"""A file hook that answers without reading its input (`exit 0`, `echo '{}'`) is a normal hook.

Before (issue #22): the server wrote the hook JSON to a process that had already exited, the write
failed (`WriteUnixTransport closed`), pre-create answered 500 with a traceback on 4 of 30 creates and
39 of 40 post-create events were dropped without retry. The request head here is padded past a
pipe's buffer, so the hook's input can never fit before the hook exits: the old code failed every time.
"""

from __future__ import annotations

import stat
from pathlib import Path

import httpx

from tests.conftest import ServerFactory
from tests.support import TUS, wait_for

CREATES = 30
PAD = "x" * 70_000  # more than a pipe buffer (64 KiB) of hook JSON


def hook(path: Path, text: str) -> None:
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)


def test_file_hooks_that_never_read_stdin(server_factory: ServerFactory, tmp_path: Path) -> None:
    hooks_dir, out = tmp_path / "hooks", tmp_path / "out"
    hooks_dir.mkdir()
    out.mkdir()
    hook(hooks_dir / "pre-create", "#!/bin/sh\necho '{}'\n")
    hook(hooks_dir / "post-create", f"#!/bin/sh\n: > {out}/$$\nexit 0\n")
    server = server_factory(
        "--hooks-dir", str(hooks_dir), "--hooks-enabled", "pre-create,post-create", "--max-header", "200000",
        "--hooks-backoff", "0.05", "--log-level", "info",
    )  # fmt: skip
    with httpx.Client(timeout=60) as client:
        statuses = [
            client.post(server.endpoint, headers={**TUS, "Upload-Length": "1", "X-Pad": PAD}).status_code
            for _ in range(CREATES)
        ]
    assert statuses == [201] * CREATES
    wait_for(lambda: len(list(out.iterdir())) >= CREATES, timeout=60, what=f"{CREATES} post-create hooks run")
    assert len(list(out.iterdir())) == CREATES
    log = server.log()
    assert "Traceback" not in log and "dropped" not in log
