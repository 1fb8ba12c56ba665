from __future__ import annotations

from pathlib import Path

import pytest

from tusserver.cli import build_parser, settings_from_args
from tusserver.config import Settings, SettingsError, env_name


def test_defaults_match_the_contract() -> None:
    s = Settings().validate()
    assert (s.host, s.port, s.base_path, s.data_dir, s.store) == ("127.0.0.1", 1080, "/files/", Path("./data"), "file")
    assert not s.auth_enabled
    assert s.token_ttl_s == 30
    assert s.jwt_leeway_s == 5.0


@pytest.mark.parametrize(
    ("field", "env"),
    [
        ("token_ttl_s", "TUSSERVER_TOKEN_TTL"),
        ("expire_after_s", "TUSSERVER_EXPIRE_AFTER"),
        ("max_size_bytes", "TUSSERVER_MAX_SIZE"),
        ("base_path", "TUSSERVER_BASE_PATH"),
        ("behind_proxy", "TUSSERVER_BEHIND_PROXY"),
    ],
)
def test_env_names(field: str, env: str) -> None:
    assert env_name(field) == env


def test_from_env_reads_typed_values() -> None:
    env = {
        "TUSSERVER_TOKEN_TTL": "7",
        "TUSSERVER_EXPIRE_AFTER": "1.5",
        "TUSSERVER_BEHIND_PROXY": "true",
        "TUSSERVER_DATA_DIR": "/tmp/x",
        "TUSSERVER_PORT": "8080",
    }
    s = Settings.from_env(env)
    assert (s.token_ttl_s, s.expire_after_s, s.behind_proxy, s.data_dir, s.port) == (7, 1.5, True, Path("/tmp/x"), 8080)


def test_flag_beats_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TUSSERVER_TOKEN_TTL", "7")
    monkeypatch.setenv("TUSSERVER_PORT", "9000")
    args = build_parser().parse_args(["serve", "--token-ttl", "60"])
    s = settings_from_args(args)
    assert s.token_ttl_s == 60
    assert s.port == 9000


def test_base_path_is_normalised() -> None:
    assert Settings(base_path="uploads").validate().base_path == "/uploads/"
    assert Settings(base_path="/a/b//").validate().base_path == "/a/b/"


@pytest.mark.parametrize(
    ("kwargs", "named"),
    [
        ({"port": 0}, "--port"),
        ({"token_ttl_s": 0}, "--token-ttl"),
        ({"lock_timeout_s": -1}, "--lock-timeout"),
        ({"max_size_bytes": -1}, "--max-size"),
        ({"expire_after_s": -5}, "--expire-after"),
        ({"store": "ftp"}, "--store"),
        ({"locker": "zk"}, "--locker"),
        ({"store": "s3"}, "--s3-bucket"),
        ({"store": "memory", "workers": 2}, "--workers"),
        ({"jwt_public_key": Path("/nonexistent/key.pem")}, "--jwt-public-key"),
    ],
)
def test_validation_errors_name_the_option(kwargs: dict[str, object], named: str) -> None:
    with pytest.raises(SettingsError, match=named):
        Settings(**kwargs).validate()  # type: ignore[arg-type]


@pytest.mark.parametrize(("env", "named"), [("TUSSERVER_PORT", "--port"), ("TUSSERVER_BEHIND_PROXY", "--behind-proxy")])
def test_unreadable_env_value_names_the_option(env: str, named: str) -> None:
    with pytest.raises(SettingsError, match=named) as info:
        Settings.from_env({env: "banana"})
    assert env in str(info.value)
