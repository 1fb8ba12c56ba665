"""tus-js-client 4.3 speaking the draft (`protocol: 'ietf-draft-03'` sends interop 5, `'ietf-draft-05'`
interop 6) under Node: 20 MiB in 4 MiB chunks, aborted in the middle and resumed on the same URL, with
tokens rotating on every response; the stored bytes must be the file's."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.auth.session import ROTATING, mint
from tests.conftest import ServerFactory
from tests.support import NODE_DIR, require_node_package

MiB = 1024 * 1024
SIZE = 20 * MiB


@pytest.mark.parametrize(("protocol", "interop"), [("ietf-draft-03", "5"), ("ietf-draft-05", "6")])
def test_tus_js_client_uploads_aborts_and_resumes(
    server_factory: ServerFactory, tmp_path: Path, protocol: str, interop: str
) -> None:
    node = require_node_package("tus-js-client")
    server = server_factory(*ROTATING, "--token-ttl", "30")
    path = tmp_path / "twenty.bin"
    data = os.urandom(SIZE)
    path.write_bytes(data)
    env = {**os.environ, "PROTOCOL": protocol, "CHUNK_SIZE": str(4 * MiB), "ABORT_AT": str(10 * MiB)}
    env["TUS_TOKEN"] = mint("js-user", ttl=30)
    proc = subprocess.run(
        [node, str(NODE_DIR / "upload_ietf.js"), str(path), server.endpoint],
        capture_output=True,
        text=True,
        timeout=240,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr + server.log()
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    requests = result["requests"]
    assert {interop_seen for _, _, interop_seen in requests} == {interop}  # every answer spoke the draft
    assert 0 < result["abortedAt"] < SIZE
    assert 0 < result["resumedFrom"] < SIZE  # resumed where the server was, not from byte 0
    assert result["rotations"] == len(requests)  # an X-New-Token on every answer, the draft's too
    methods = [method for method, _, _ in requests]
    assert methods.count("POST") == 1 and "HEAD" in methods
    assert all(200 <= status < 300 for _, status, _ in requests), requests
    token = mint("js-user", ttl=30)
    stored = httpx.get(result["url"], headers={"Authorization": f"Bearer {token}"}, timeout=60).content
    assert hashlib.sha256(stored).digest() == hashlib.sha256(data).digest()
