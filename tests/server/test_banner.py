"""The start-up banner of a real `tusserver serve`, and unknown `TUSSERVER_*` variables refused at start."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import ServerFactory
from tests.support import free_port

SECRET = "banner-test-secret-" + "s" * 24


def _banner_lines(log: str) -> list[str]:
    lines = log.splitlines()
    start = next(i for i, line in enumerate(lines) if "starting" in line and "tusserver" in line)
    block = [lines[start]]
    for line in lines[start + 1 :]:
        if not line.startswith("  "):
            break
        block.append(line)
    return block


def test_text_banner_says_how_the_server_is_set_up(server_factory: ServerFactory, tmp_path: Path) -> None:
    server = server_factory(
        "--log-level", "info", "--base-path", "/api/up/", "--max-size", "2G", "--metrics",
        "--hooks-url", "http://hookuser:hookpass@127.0.0.1:9/hook?key=hookkey", "--jwt-issuer", "https://idp.example",
        env={"TUSSERVER_JWT_SECRET": SECRET},
    )  # fmt: skip
    block = "\n".join(_banner_lines(server.log()))
    assert f"127.0.0.1:{server.port}" in block
    assert f"http://127.0.0.1:{server.port}/api/up/" in block
    assert f"file {server.data_dir.resolve()}" in block
    assert "HS256" in block and "issuer https://idp.example" in block and "token_ttl 30 s" in block
    assert "max_size 2G" in block
    assert "/metrics" in block
    assert "http://hookuser:***@127.0.0.1:9/hook?***" in block
    assert "expiry" in block and "demo" in block
    # Secrets never printed: not the JWT secret, not a password in a URL.
    assert SECRET not in server.log() and "hookpass" not in server.log() and "hookkey" not in server.log()


def test_json_banner_is_one_record(server_factory: ServerFactory) -> None:
    server = server_factory("--log-level", "info", "--log-format", "json", "--store", "memory")
    records = [json.loads(line) for line in server.log().splitlines() if line.startswith("{")]
    banners = [r for r in records if r.get("event") == "tusserver starting"]
    assert len(banners) == 1
    config = banners[0]["config"]
    assert config["store"].startswith("memory")
    assert config["auth"]["mode"] == "off"
    assert config["locker"] == "memory"
    assert config["upload_url"] == f"http://127.0.0.1:{server.port}/files/"
    assert config["instant_upload"].startswith("off")


def test_unknown_environment_variable_is_a_start_up_error(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TUSSERVER_")}
    env["TUSSERVER_JWT_SECERT"] = SECRET
    result = subprocess.run(
        [sys.executable, "-m", "tusserver", "serve", "--port", str(free_port()), "--data-dir", str(tmp_path)],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 2
    assert "TUSSERVER_JWT_SECERT" in result.stderr and "did you mean TUSSERVER_JWT_SECRET" in result.stderr
    assert SECRET not in result.stderr
    assert "Traceback" not in result.stderr
