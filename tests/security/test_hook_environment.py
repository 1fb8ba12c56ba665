"""File hooks see the server's environment minus its secrets.

Before (issue #22): `tusserver serve` copied every setting into its environment (for worker
processes), so a file hook saw `TUSSERVER_JWT_SECRET` even when the secret was given as a flag, and
the S3 credentials (`AWS_SECRET_ACCESS_KEY`). Now a hook's environment has no `TUSSERVER_*` variable
and no cloud credential, and keeps the rest (an operator's own variables, `PATH`).
"""

from __future__ import annotations

import stat
from pathlib import Path

from tests.auth.session import bearer, mint
from tests.conftest import ServerFactory
from tests.support import wait_for

SECRET = "flag-secret-" + "s" * 32


def test_file_hooks_do_not_see_secrets(server_factory: ServerFactory, tmp_path: Path) -> None:
    hooks_dir, seen = tmp_path / "hooks", tmp_path / "env.txt"
    hooks_dir.mkdir()
    script = hooks_dir / "post-create"
    script.write_text(f"#!/bin/sh\nenv > {seen}.tmp && mv {seen}.tmp {seen}\n")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    env = {
        "AWS_SECRET_ACCESS_KEY": "aws-secret",
        "AWS_SESSION_TOKEN": "aws-session",
        "AZURE_STORAGE_KEY": "azure-key",
        "TUSSERVER_TOKEN_TTL": "60",
        "OPERATOR_SETTING": "kept",
    }
    server = server_factory("--hooks-dir", str(hooks_dir), "--jwt-secret", SECRET, env=env)
    created = server.client.post(server.endpoint, headers={**bearer(mint(secret=SECRET, ttl=60)), "Upload-Length": "1"})
    assert created.status_code == 201, created.text
    text = wait_for(lambda: seen.exists() and seen.read_text(), what="the hook's environment")
    variables = dict(line.split("=", 1) for line in text.splitlines() if "=" in line)
    assert SECRET not in text and "aws-secret" not in text and "aws-session" not in text and "azure-key" not in text
    assert not [name for name in variables if name.startswith("TUSSERVER_")]
    assert variables["OPERATOR_SETTING"] == "kept" and variables["TUS_HOOK"] == "post-create" and "PATH" in variables
