"""Concatenation with real clients: tus-js-client parallelUploads, unfinished partials, partial retention."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.conftest import ServerFactory
from tests.support import IN_CI, TUS, LiveServer, require_tool, wait_for

MiB = 1024 * 1024
NODE_DIR = Path(__file__).resolve().parents[1] / "node"
PATCH = {**TUS, "Content-Type": "application/offset+octet-stream"}


def tus_js_upload(path: Path, endpoint: str, options: dict[str, object]) -> str:
    node = require_tool("node")
    if not (NODE_DIR / "node_modules" / "tus-js-client").is_dir():
        message = "tus-js-client is not installed: run `make node-deps`"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    done = subprocess.run(
        [node, str(NODE_DIR / "upload_plain.js"), str(path), endpoint, json.dumps(options)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return str(json.loads(done.stdout.strip().splitlines()[-1])["url"])


def download_when_ready(url: str) -> bytes:
    """A final upload may still be assembling right after tus-js-client's onSuccess: 409 + Retry-After."""
    response = wait_for(lambda: (r := httpx.get(url, timeout=30)).status_code == 200 and r, what="assembled download")
    return response.content


@pytest.mark.parametrize(
    "options", [{"parallelUploads": 4}, {"chunkSize": MiB}, {"parallelUploads": 3, "chunkSize": 2 * MiB}],
    ids=["parallel-4", "chunk-1MiB", "parallel-3-chunk-2MiB"],
)  # fmt: skip
def test_tus_js_client(server: LiveServer, tmp_path: Path, options: dict[str, object]) -> None:
    data = os.urandom(20 * MiB)
    path = tmp_path / "twenty.bin"
    path.write_bytes(data)
    url = tus_js_upload(path, server.endpoint, options)
    assert hashlib.sha256(download_when_ready(url)).digest() == hashlib.sha256(data).digest()
    head = httpx.head(url, headers=TUS)
    assert head.headers["Upload-Length"] == str(len(data))
    if options.get("parallelUploads"):
        assert head.headers["Upload-Concat"].startswith("final;")
        assert len(head.headers["Upload-Concat"].split(" ")) == options["parallelUploads"]


def _partial(server: LiveServer, data: bytes, send: bool = True) -> str:
    url = server.create(len(data), {"Upload-Concat": "partial"})
    if send:
        assert httpx.patch(url, content=data, headers={**PATCH, "Upload-Offset": "0"}).status_code == 204
    return url


def test_final_before_its_parts_finish_answers_at_once(server: LiveServer) -> None:
    """concatenation-unfinished: the final POST never waits for parts; it completes when they do."""
    pieces = [os.urandom(3 * MiB), os.urandom(2 * MiB)]
    first = _partial(server, pieces[0])
    second = _partial(server, pieces[1], send=False)
    r = httpx.post(server.endpoint, headers={**TUS, "Upload-Concat": f"final;{first} {second}"})
    assert r.status_code == 201
    final = r.headers["Location"]
    head = httpx.head(final, headers=TUS)
    assert "Upload-Offset" not in head.headers
    assert head.headers["Upload-Length"] == str(5 * MiB)
    got = httpx.get(final)
    assert got.status_code == 409
    assert httpx.patch(final, content=b"x", headers={**PATCH, "Upload-Offset": "0"}).status_code == 403
    half = MiB
    assert httpx.patch(second, content=pieces[1][:half], headers={**PATCH, "Upload-Offset": "0"}).status_code == 204
    assert "Upload-Offset" not in httpx.head(final, headers=TUS).headers
    r = httpx.patch(second, content=pieces[1][half:], headers={**PATCH, "Upload-Offset": str(half)})
    assert r.status_code == 204
    wait_for(lambda: httpx.head(final, headers=TUS).headers.get("Upload-Offset") == str(5 * MiB), what="assembly")
    assert download_when_ready(final) == b"".join(pieces)


@pytest.mark.parametrize("keep", [True, False], ids=["keep-partials", "no-keep-partials"])
def test_partials_after_assembly(server_factory: ServerFactory, keep: bool) -> None:
    server = server_factory("--keep-partials" if keep else "--no-keep-partials")
    parts = [_partial(server, b"abc"), _partial(server, b"def")]
    final = httpx.post(server.endpoint, headers={**TUS, "Upload-Concat": "final;" + " ".join(parts)})
    assert download_when_ready(final.headers["Location"]) == b"abcdef"
    statuses = {httpx.head(p, headers=TUS).status_code for p in parts}
    assert statuses == ({200} if keep else {410})


def test_foreign_and_unfinished_rules(server: LiveServer) -> None:
    plain = server.create(3)
    r = httpx.post(server.endpoint, headers={**TUS, "Upload-Concat": f"final;{plain}"})
    assert r.status_code == 400 and "partial" in r.text
    r = httpx.post(
        server.endpoint, headers={**TUS, "Upload-Concat": "final;http://elsewhere/other/AAAAAAAAAAAAAAAAAAAAAA"}
    )
    assert r.status_code == 400
    r = httpx.post(server.endpoint, headers={**TUS, "Upload-Concat": "final;/files/AAAAAAAAAAAAAAAAAAAAAA"})
    assert r.status_code == 400 and "does not exist" in r.text
