"""Settings: contract defaults, TUSSERVER_* environment, validation messages that name the option."""

from __future__ import annotations

from pathlib import Path
from unittest import mock

import pytest

from tusserver import Settings
from tusserver.cli import build_parser, main, settings_from_args, settings_to_env
from tusserver.config import SettingsError
from tusserver.wiring import check


def test_contract_defaults() -> None:
    s = Settings().validate()
    assert (s.host, s.port, s.base_path, s.data_dir, s.store) == ("127.0.0.1", 1080, "/files/", Path("data"), "file")
    assert not s.auth_enabled
    assert s.token_ttl_s == 30 and s.jwt_leeway_s == 5


def test_environment_names_follow_the_flags() -> None:
    env = {"TUSSERVER_TOKEN_TTL": "7", "TUSSERVER_EXPIRE_AFTER": "0", "TUSSERVER_BEHIND_PROXY": "true",
           "TUSSERVER_MAX_SIZE": "1000", "TUSSERVER_BASE_PATH": "uploads"}  # fmt: skip
    s = Settings.from_env(env).validate()
    assert s.token_ttl_s == 7 and s.expire_after_s == 0 and s.behind_proxy and s.max_size_bytes == 1000
    assert s.base_path == "/uploads/"


def test_flag_beats_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TUSSERVER_PORT", "2000")
    monkeypatch.setenv("TUSSERVER_HOST", "0.0.0.0")
    args = build_parser().parse_args(["serve", "--port", "3000"])
    s = settings_from_args(args)
    assert s.port == 3000 and s.host == "0.0.0.0"


def test_settings_survive_the_trip_to_worker_processes() -> None:
    original = Settings(port=1234, jwt_secret="s", behind_proxy=True, expire_after_s=5.5).validate()
    assert Settings.from_env(settings_to_env(original)).validate() == original


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"port": 0}, "--port"),
        ({"lock_timeout_s": 0}, "--lock-timeout"),
        ({"expire_after_s": -1}, "--expire-after"),
        ({"store": "ftp"}, "--store"),
        ({"store": "s3"}, "--s3-bucket"),
        ({"store": "memory", "workers": 2}, "--workers"),
        ({"jwt_public_key": Path("/nonexistent.pem")}, "--jwt-public-key"),
    ],
)
def test_validation_names_the_option(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        check(Settings(**kwargs))  # type: ignore[arg-type]


def test_bad_environment_value_names_the_variable() -> None:
    with pytest.raises(SettingsError, match="TUSSERVER_PORT"):
        Settings.from_env({"TUSSERVER_PORT": "eighty"})


def test_serve_runs_uvicorn_with_the_settings(capsys: pytest.CaptureFixture[str]) -> None:
    with mock.patch("uvicorn.run") as run:
        assert main(["serve", "--port", "4321", "--host", "0.0.0.0", "--workers", "3"]) == 0
    kwargs = run.call_args.kwargs
    assert (kwargs["port"], kwargs["host"], kwargs["workers"], kwargs["factory"]) == (4321, "0.0.0.0", 3, True)


def test_serve_rejects_bad_flags_with_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with mock.patch("uvicorn.run") as run:
        assert main(["serve", "--store", "memory", "--workers", "2"]) == 2
    run.assert_not_called()
    assert "--workers" in capsys.readouterr().err


def test_help_lists_flags_with_env_names(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["serve", "--help"])
    out = capsys.readouterr().out
    for flag in ("--jwt-secret", "--token-ttl", "--expire-after", "--behind-proxy", "TUSSERVER_DATA_DIR"):
        assert flag in out
