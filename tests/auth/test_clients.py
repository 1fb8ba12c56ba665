"""Real tus clients that rotate: tus-js-client under Node and tuspy, both uploading 20 MiB with TTL 2 s.

Both are throttled (1 MiB chunks with a pause before each request) so each upload lasts several token
lifetimes; the two run side by side to keep the test short.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
from tusclient import client as tus_client

from tests.auth.session import ROTATING, SECRET, TokenChain, bearer, mint, sha256_file
from tests.conftest import ServerFactory
from tests.support import NODE_DIR, LiveServer, require_node_package

MiB = 1024 * 1024
SIZE = 20 * MiB
DELAY_S = 0.4  # 20 chunks x 0.4 s: about 8 s, well past the ~3 s a token lives


def _node_script() -> list[str]:
    node = require_node_package("tus-js-client")
    return [node, str(NODE_DIR / "upload_rotating.js")]


def _tuspy_upload(server: LiveServer, path: Path, token: str) -> tuple[str, int]:
    """tuspy with the chunk loop driven here, so the newest X-New-Token goes into the client's headers."""
    client = tus_client.TusClient(server.endpoint, headers={"Authorization": f"Bearer {token}"})
    uploader = client.uploader(file_path=str(path), chunk_size=MiB, metadata={"filename": path.name})
    uploader.set_url(uploader.create_url())
    rotations = 0
    while uploader.offset < SIZE:
        time.sleep(DELAY_S)  # client-side throttle
        uploader.upload_chunk()
        fresh = uploader.request.response_headers.get("x-new-token")
        assert fresh, uploader.request.response_headers
        if fresh != client.headers["Authorization"].removeprefix("Bearer "):
            rotations += 1
        client.headers["Authorization"] = f"Bearer {fresh}"
    return uploader.url, rotations


def test_tus_js_client_and_tuspy_rotate_through_a_slow_upload(server_factory: ServerFactory, tmp_path: Path) -> None:
    command = _node_script()
    server = server_factory(*ROTATING)
    path = tmp_path / "twenty.bin"
    path.write_bytes(os.urandom(SIZE))
    # 4 s initial tokens leave room for Node to start on a busy machine; the uploads last >= 8 s regardless.
    js_token, py_token = mint("js-user", ttl=4), mint("py-user", ttl=4)
    env = {**os.environ, "TUS_TOKEN": js_token, "CHUNK_SIZE": str(MiB), "DELAY_MS": str(int(DELAY_S * 1000))}
    node = subprocess.Popen(
        [*command, str(path), server.endpoint], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    try:
        py_url, py_rotations = _tuspy_upload(server, path, py_token)
        out, err = node.communicate(timeout=120)
    finally:
        if node.poll() is None:
            node.kill()
            node.wait()
    assert node.returncode == 0, err
    result = json.loads(out.strip().splitlines()[-1])
    assert js_token not in out + err  # the script never prints a token

    expected = sha256_file(path)
    for sub, url, first, rotations in (
        ("js-user", result["url"], js_token, result["rotations"]),
        ("py-user", py_url, py_token, py_rotations),
    ):
        assert rotations >= 4, (sub, rotations)
        # The upload outlived the token it started with...
        assert httpx.head(url, headers=bearer(first)).status_code == 401
        # ...and every byte arrived (download with a fresh token for that user).
        chain = TokenChain(mint(sub, ttl=5))
        assert chain.download_sha256(url) == expected, sub
        chain.close()


def test_tus_js_client_gets_a_new_token_after_expiry_and_resumes(server_factory: ServerFactory, tmp_path: Path) -> None:
    """The README's tus-js-client recipe: on 401, fetch a new token (here `tusserver token`) and resume."""
    command = _node_script()
    server = server_factory(*ROTATING)
    path = tmp_path / "three.bin"
    path.write_bytes(os.urandom(3 * MiB))
    token_command = [
        sys.executable,
        "-m",
        "tusserver",
        "token",
        "--sub",
        "js-late",
        "--ttl",
        "2",
        "--jwt-secret",
        SECRET,
    ]
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("TUSSERVER_")},
        "TUS_TOKEN": mint("js-late", ttl=4),
        "CHUNK_SIZE": str(MiB),
        "TOKEN_COMMAND": json.dumps(token_command),
        "STALL_AT": "3",  # POST, PATCH, then idle until the held token is refused
    }
    done = subprocess.run([*command, str(path), server.endpoint], capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["refreshes"] == 1
    chain = TokenChain(mint("js-late", ttl=5))
    assert chain.download_sha256(result["url"]) == sha256_file(path)
    chain.close()
