from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from tusserver import cli


@pytest.fixture
def runs(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    import uvicorn

    calls: list[dict[str, Any]] = []

    def fake_run(app: Any, **kwargs: Any) -> None:
        calls.append({"app": app, **kwargs})

    monkeypatch.setattr(uvicorn, "run", fake_run)
    # `serve` exports its settings for worker processes: keep that out of the other tests.
    monkeypatch.setattr(os, "environ", {k: v for k, v in os.environ.items() if not k.startswith("TUSSERVER_")})
    return calls


def test_serve_defaults(runs: list[dict[str, Any]]) -> None:
    assert cli.main(["serve"]) == 0
    (call,) = runs
    assert (call["host"], call["port"], call["workers"]) == ("127.0.0.1", 1080, 1)
    assert call["proxy_headers"] is False
    assert call["factory"] is True
    assert call["timeout_graceful_shutdown"] == 5  # a stalled client must not block SIGTERM


def test_serve_flags_reach_uvicorn_and_workers_env(runs: list[dict[str, Any]], tmp_path: Path) -> None:
    argv = ["serve", "--host", "0.0.0.0", "--port", "8081", "--data-dir", str(tmp_path), "--workers", "3"]
    assert cli.main([*argv, "--behind-proxy", "--base-path", "up"]) == 0
    (call,) = runs
    assert (call["host"], call["port"], call["workers"], call["proxy_headers"]) == ("0.0.0.0", 8081, 3, True)
    # worker processes rebuild settings from the environment
    assert os.environ["TUSSERVER_DATA_DIR"] == str(tmp_path)
    assert os.environ["TUSSERVER_BASE_PATH"] == "/up/"
    assert os.environ["TUSSERVER_BEHIND_PROXY"] == "1"


def test_env_is_used_and_flag_wins(runs: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TUSSERVER_PORT", "7000")
    monkeypatch.setenv("TUSSERVER_HOST", "::1")
    assert cli.main(["serve", "--port", "7001"]) == 0
    assert (runs[0]["host"], runs[0]["port"]) == ("::1", 7001)


def test_bad_value_exits_2_naming_the_option(runs: list[dict[str, Any]], capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["serve", "--port", "zero"]) == 2
    assert "--port" in capsys.readouterr().err
    assert cli.main(["serve", "--store", "memory", "--workers", "2"]) == 2
    assert "--workers" in capsys.readouterr().err
    assert runs == []


def test_help_lists_every_option(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli.main(["serve", "--help"])
    out = capsys.readouterr().out
    for flag in ("--host", "--port", "--base-path", "--data-dir", "--store", "--behind-proxy", "--token-ttl"):
        assert flag in out
    assert "TUSSERVER_TOKEN_TTL" in out
