"""tus-js-client, Uppy and the --demo page in a real Chromium against a real server, tokens rotating.

Each case runs `harness.mjs` (playwright-core driving Debian's /usr/bin/chromium; everything on loopback)
and checks what matters to a user: the bytes on the server's disk are the file chosen in the page, the
upload kept one URL (no restart from byte 0 after a pause or a reload), and what the network saw.
The README's browser code blocks are what runs: the harness reads them from README.md.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ServerFactory
from tests.support import IN_CI, LiveServer, require_tool

ROOT = Path(__file__).resolve().parents[2]
HARNESS = Path(__file__).with_name("harness.mjs")
NODE_MODULES = ROOT / "tests" / "node" / "node_modules"
SECRET = "browser-test-secret-of-32-bytes!"
TTL_S = 3
LEEWAY_S = 1
AUTH = ("--jwt-secret", SECRET, "--token-ttl", str(TTL_S), "--jwt-leeway", str(LEEWAY_S))
KiB = 1024
ENDPOINT_IN_README = "http://127.0.0.1:1080/files/"
CHUNK_IN_README = "8 * 1024 * 1024"


@pytest.fixture(scope="module")
def tools() -> dict[str, str]:
    node = require_tool("node")
    chromium = require_tool("chromium")
    for package in ("playwright-core", "esbuild", "tus-js-client", "@uppy/core", "@uppy/tus"):
        if not (NODE_MODULES / package).is_dir():
            message = f"{package} is not installed: run `make node-deps`"
            if IN_CI:
                pytest.fail(message)
            pytest.skip(message)
    return {"node": node, "chromium": chromium}


def make_file(tmp_path: Path, size: int) -> Path:
    path = tmp_path / "upload" / "holiday.bin"
    path.parent.mkdir()
    path.write_bytes(os.urandom(size))
    return path


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def run_case(tools: dict[str, str], server: LiveServer, tmp_path: Path, **job: Any) -> dict[str, Any]:
    screenshots = tmp_path / "screenshots"
    job = {
        "server": server.url,
        "secret": SECRET,
        "chromium": tools["chromium"],
        "screenshots": str(screenshots),
        "workDir": str(tmp_path),
        **job,
    }
    proc = subprocess.run(
        [tools["node"], str(HARNESS), json.dumps(job)], capture_output=True, text=True, timeout=180, cwd=ROOT
    )
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        pytest.fail(f"harness crashed ({proc.returncode}): {proc.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(lines[-1])
    if result.get("error"):
        pytest.fail(
            f"{job['case']}: {result['error']}\nscreenshot of the page: {result.get('screenshot')} "
            f"(folder {screenshots})\npage console: {result['console']}\nserver log: {server.log()}"
        )
    return result


def stored(server: LiveServer, url: str) -> Path:
    assert url.startswith(server.endpoint), url
    return server.data_dir / url.rsplit("/", 1)[1]


def events(result: dict[str, Any], method: str, phase: str | None = None) -> list[dict[str, Any]]:
    return [e for e in result["events"] if e["method"] == method and (phase is None or e["phase"] == phase)]


def sent_bytes(result: dict[str, Any], phase: str | None = None) -> int:
    """Bytes the server took from PATCHes that were answered (an aborted one's share shows in the next HEAD)."""
    return sum(e["resOffset"] - e["reqOffset"] for e in events(result, "PATCH", phase) if e["status"] == 204)


def check_rotation(result: dict[str, Any]) -> None:
    """The upload outlived several tokens and carried on with the rotated ones, not with new platform tokens."""
    requests = [e for e in result["events"] if e["status"] and e["method"] in ("POST", "HEAD", "PATCH")]
    assert all(e["status"] != 401 for e in requests), [e["status"] for e in requests]
    assert (requests[-1]["t"] - requests[0]["t"]) / 1000 > 2 * TTL_S, "not paced past two token lifetimes"
    assert len({e["token"] for e in requests}) >= 3  # a new token on most requests
    assert result["tokensMinted"] == 1  # the platform was asked once: rotation did the rest


def test_tus_js_client_single_upload_outlives_several_tokens(
    tools: dict[str, str], server_factory: ServerFactory, tmp_path: Path
) -> None:
    server = server_factory(*AUTH)
    upload = make_file(tmp_path, 640 * KiB)
    result = run_case(
        tools, server, tmp_path, case="single", block="single", file=str(upload), uploadBytesPerS=80 * KiB,
        replace=[[ENDPOINT_IN_README, server.endpoint], [CHUNK_IN_README, "64 * 1024"]],
    )  # fmt: skip
    assert sha256(stored(server, result["url"])) == sha256(upload)
    assert len(events(result, "POST")) == 1
    check_rotation(result)


def test_uppy_with_the_helper_outlives_several_tokens(
    tools: dict[str, str], server_factory: ServerFactory, tmp_path: Path
) -> None:
    server = server_factory(*AUTH)
    upload = make_file(tmp_path, 640 * KiB)
    result = run_case(
        tools, server, tmp_path, case="uppy", block="uppy", file=str(upload), uploadBytesPerS=80 * KiB,
        replace=[[ENDPOINT_IN_README, server.endpoint], [CHUNK_IN_README, "64 * 1024"]],
    )  # fmt: skip
    assert sha256(stored(server, result["url"])) == sha256(upload)
    assert len(events(result, "POST")) == 1
    check_rotation(result)


def test_parallel_uploads_share_one_token_and_download_right_after_success(
    tools: dict[str, str], server_factory: ServerFactory, tmp_path: Path
) -> None:
    server = server_factory(*AUTH)
    upload = make_file(tmp_path, 3 * 1024 * KiB)
    result = run_case(
        tools, server, tmp_path, case="parallel", block="parallel", file=str(upload),
        replace=[[ENDPOINT_IN_README, server.endpoint]],
    )  # fmt: skip
    posts = events(result, "POST")
    assert len(posts) == 5 and all(e["status"] == 201 for e in posts)  # 4 partial uploads + the final
    final = posts[-1]
    assert final["url"] == server.endpoint and final["resOffset"] == upload.stat().st_size  # assembled
    assert sha256(stored(server, result["url"])) == sha256(upload)
    # The download in onSuccess, the moment the final POST answered: the whole file, not a 409.
    assert result["downloadLine"].startswith(f"log: downloaded 200 {upload.stat().st_size} bytes")
    assert [e["status"] for e in events(result, "GET")] == [200]
    assert result["tokensMinted"] == 1


@pytest.mark.parametrize("clock", ["right", "slow"])
def test_pause_longer_than_a_token_resumes_on_the_same_url(
    tools: dict[str, str], server_factory: ServerFactory, tmp_path: Path, clock: str
) -> None:
    """Paused until the server refuses the token held, then resumed: HEAD on the same URL, not a new POST.

    "right": the helper sees the held token expired and gets a new one before the HEAD. "slow": the
    page's clock is an hour behind, so it sends the dead token, the HEAD gets 401, and that 401 (which
    tus-js-client takes for "upload gone") must turn into a new token and a retried HEAD on the same URL.
    """
    server = server_factory(*AUTH)
    size = 640 * KiB
    upload = make_file(tmp_path, size)
    result = run_case(
        tools, server, tmp_path, case="pause", block="single", file=str(upload), uploadBytesPerS=160 * KiB,
        stopAt=0.3, clockSlowS=3600 if clock == "slow" else 0,
        replace=[[ENDPOINT_IN_README, server.endpoint], [CHUNK_IN_README, "64 * 1024"]],
    )  # fmt: skip
    assert result["url"] == result["urlBefore"]
    assert sha256(stored(server, result["url"])) == sha256(upload)
    assert len(events(result, "POST")) == 1  # never started again
    heads = events(result, "HEAD", "after")
    assert heads and all(e["url"] == result["url"] for e in heads)
    assert heads[-1]["status"] == 200
    if clock == "slow":
        assert heads[0]["status"] == 401
    assert sent_bytes(result, "after") < 0.75 * size
    assert result["tokensMinted"] == 2  # the first, and one after the pause


def test_uppy_through_an_outage_longer_than_a_token_resumes_on_the_same_url(
    tools: dict[str, str], server_factory: ServerFactory, tmp_path: Path
) -> None:
    """Offline (Chromium's network emulation) until the server refuses the token held, then online: Uppy
    retries with the token it set before waiting for the network, gets 401 on HEAD, and the helper makes
    that a new token and a retried HEAD on the same URL, not a new upload."""
    server = server_factory(*AUTH)
    size = 640 * KiB
    upload = make_file(tmp_path, size)
    result = run_case(
        tools, server, tmp_path, case="outage", block="uppy", file=str(upload), uploadBytesPerS=160 * KiB,
        stopAt=0.3, replace=[[ENDPOINT_IN_README, server.endpoint], [CHUNK_IN_README, "64 * 1024"]],
    )  # fmt: skip
    assert result["url"] == result["urlBefore"]
    assert sha256(stored(server, result["url"])) == sha256(upload)
    assert len(events(result, "POST")) == 1
    heads = [e for e in events(result, "HEAD", "after") if e["status"]]
    assert heads and all(e["url"] == result["url"] for e in heads) and heads[-1]["status"] == 200
    assert sent_bytes(result, "after") < 0.75 * size


def test_reload_at_40_percent_resumes_on_the_same_url(
    tools: dict[str, str], server_factory: ServerFactory, tmp_path: Path
) -> None:
    server = server_factory(*AUTH)
    size = 640 * KiB
    upload = make_file(tmp_path, size)
    result = run_case(
        tools, server, tmp_path, case="reload", block="single", file=str(upload), uploadBytesPerS=160 * KiB,
        stopAt=0.4, replace=[[ENDPOINT_IN_README, server.endpoint], [CHUNK_IN_README, "64 * 1024"]],
    )  # fmt: skip
    assert result["url"] == result["urlBefore"]
    assert sha256(stored(server, result["url"])) == sha256(upload)
    assert len(events(result, "POST")) == 1
    assert [e["status"] for e in events(result, "HEAD", "after")][-1:] == [200]
    assert sent_bytes(result, "after") < 0.75 * size


@pytest.mark.parametrize("auth", ["on", "off"])
def test_demo_page_uploads_the_chosen_file(
    tools: dict[str, str], server_factory: ServerFactory, tmp_path: Path, auth: str
) -> None:
    """With auth on, the upload is also paused with the page's button until the server refuses the
    token the page holds, then resumed with its button: same URL, a second token from /demo/token."""
    server = server_factory("--demo", *(AUTH if auth == "on" else ()))
    upload = make_file(tmp_path, 2 * 1024 * KiB + 123)
    pause = {"uploadBytesPerS": 512 * KiB, "pauseAtBytes": 1024 * KiB} if auth == "on" else {}
    result = run_case(tools, server, tmp_path, case="demo", file=str(upload), **pause)
    assert result["href"] == result["url"]
    assert sha256(stored(server, result["url"])) == sha256(upload)
    assert result["download"]["sha256"] == sha256(upload)
    assert result["download"]["name"] == "holiday.bin"
    tus = [e for e in result["events"] if e["url"].startswith(server.endpoint)]
    assert [e["method"] for e in tus][:2] == ["POST", "PATCH"]  # (a plain-link download shows no response)
    assert all(e["status"] in (200, 201, 204) for e in tus if e["status"]), tus  # 0: the PATCH paused
    assert all(e["newToken"] == (auth == "on") for e in tus if e["status"])  # with auth on, every answer rotated
    if auth == "on":
        assert result["urlBefore"] == result["url"] and [e["method"] for e in tus].count("POST") == 1
        assert [e["status"] for e in events(result, "HEAD", "after")] == [200]  # resumed where it stood
        assert len([e for e in events(result, "POST") if e["url"].endswith("/demo/token")]) == 2
