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


def _help(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    with pytest.raises(SystemExit):
        cli.main([*argv, "--help"])
    return capsys.readouterr().out


def test_every_setting_has_help_text_with_a_unit_and_a_readable_default(capsys: pytest.CaptureFixture[str]) -> None:
    from tusserver.config import field_types

    missing = [name for name in field_types() if name not in cli._HELP]
    assert missing == [], f"add a line to cli._HELP for {missing}"
    out = _help(capsys, "serve")
    for bad in ("PosixPath", "None", "''", "True", "False", "max digest states", "lock poll s", "s3 bucket"):
        assert bad not in out, bad
    assert "--max-size SIZE" in out and "default 100G" in out
    assert "--data-dir DIR" in out and "default ./data" in out
    assert "--token-ttl SECONDS" in out and "--lock-poll SECONDS" in out
    for name, kind in field_types().items():  # seconds and sizes say so in their metavar
        if name.endswith("_s"):
            assert cli.metavar(name, kind) == "SECONDS", name
        elif name.endswith("_bytes"):
            assert cli.metavar(name, kind) == "SIZE", name


def test_cleanup_help_lists_only_what_cleanup_uses(capsys: pytest.CaptureFixture[str]) -> None:
    out = _help(capsys, "cleanup")
    flags = {word.split("=")[0] for word in out.split() if word.startswith("--") and not word.startswith("--no-")}
    flags = {flag.strip("[],") for flag in flags}
    assert flags == {"--help", "--data-dir", "--store", "--locker", "--redis-url", "--s3-bucket", "--s3-endpoint-url",
                     "--s3-region", "--s3-prefix", "--azure-container", "--azure-connection-string", "--azure-prefix",
                     "--gcs-bucket", "--gcs-project", "--gcs-prefix", "--expire-after", "--log-level"}  # fmt: skip


def test_token_and_upload_help_show_defaults(capsys: pytest.CaptureFixture[str]) -> None:
    token = _help(capsys, "token")
    assert "--ttl SECONDS" in token and "[default 30]" in token and "TUSSERVER_JWT_SECRET" in token
    assert "--port" not in token and "--token-ttl" not in token
    upload = _help(capsys, "upload")
    for text in ("--chunk-size SIZE", "[default 8M]", "[default 8]", "[default 1]", "resume.json", "shell command"):
        assert text in upload, text


@pytest.mark.parametrize(("raw", "expected"), [("10G", 10 * 1024**3), ("512K", 512 * 1024), ("1.5M", 1572864),
                                               ("4096", 4096), ("8MiB", 8 * 1024**2), ("2t", 2 * 1024**4)])  # fmt: skip
def test_sizes_take_suffixes_in_flags_and_env(
    runs: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch, raw: str, expected: int
) -> None:
    from tusserver.config import Settings

    assert cli.main(["serve", "--max-size", raw]) == 0
    assert Settings.from_env().max_size_bytes == expected  # exported for the workers, read back
    monkeypatch.setenv("TUSSERVER_WRITE_BUFFER", raw)
    assert Settings.from_env().write_buffer_bytes == expected


def test_a_bad_size_names_the_option(runs: list[dict[str, Any]], capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["serve", "--max-size", "ten gigs"]) == 2
    assert "--max-size" in capsys.readouterr().err


def test_token_max_size_takes_a_suffix(capsys: pytest.CaptureFixture[str]) -> None:
    import jwt

    assert cli.main(["token", "--sub", "alice", "--max-size", "10G", "--jwt-secret", "x" * 32]) == 0
    claims = jwt.decode(capsys.readouterr().out.strip(), options={"verify_signature": False})
    assert claims["max_size"] == 10 * 1024**3


def test_help_groups_the_settings_by_concern(capsys: pytest.CaptureFixture[str]) -> None:
    from tusserver.config import field_types

    grouped = [name for names in cli.SETTING_GROUPS.values() for name in names]
    assert sorted(grouped) == sorted(field_types()), "each setting in exactly one group of cli.SETTING_GROUPS"
    out = _help(capsys, "serve")
    headings = [line[: -len(" settings:")] for line in out.splitlines() if line.endswith(" settings:")]
    assert headings == list(cli.SETTING_GROUPS)
    body = out[out.index("network settings:") :]  # past the usage line
    assert body.index("--port PORT") < body.index("storage settings:") < body.index("--s3-bucket BUCKET")
    assert body.index("--s3-bucket BUCKET") < body.index("auth settings:") < body.index("--jwt-secret SECRET")
    cleanup = _help(capsys, "cleanup")  # a subcommand shows only the groups of the settings it reads
    assert "storage settings:" in cleanup and "expiry settings:" in cleanup and "auth settings:" not in cleanup


def test_every_setting_is_used_by_the_server() -> None:
    """A setting nothing reads is a flag that silently does nothing (such as the old `Settings.extra`)."""
    import inspect
    import re

    import tusserver
    from tusserver.config import Settings, field_types

    package = Path(tusserver.__file__).parent
    sources = [p.read_text() for p in package.rglob("*.py") if p.name != "config.py"]
    properties = "".join(inspect.getsource(v.fget) for v in vars(Settings).values() if isinstance(v, property))
    unused = [
        name for name in field_types()
        if not any(re.search(rf"\.{name}\b", text) for text in sources) and f"self.{name}" not in properties
    ]  # fmt: skip
    assert unused == []


SIZE_FIELDS = ["max_size_bytes", "max_metadata_bytes", "max_header_bytes", "write_buffer_bytes",
               "write_buffer_total_bytes", "s3_part_size_bytes", "s3_memory_bytes", "store_spool_bytes",
               "max_owner_bytes_bytes"]  # fmt: skip


def test_every_size_setting_takes_a_suffix_as_flag_and_env() -> None:
    from tusserver.config import Settings, field_types, option_name

    assert sorted(SIZE_FIELDS) == sorted(name for name in field_types() if name.endswith("_bytes"))
    for name in SIZE_FIELDS:
        flag = "--" + option_name(name).replace("_", "-")
        args = cli.build_parser().parse_args(["serve", flag, "64K"])
        assert getattr(cli.settings_from_args(args, environ={}), name) == 64 * 1024, flag
        env = {f"TUSSERVER_{option_name(name).upper()}": "2M"}
        assert getattr(Settings.from_env(env), name) == 2 * 1024**2, env


def test_upload_client_sizes_take_suffixes() -> None:
    argv = ["upload", "f.bin", "--endpoint", "http://x/files/", "--chunk-size", "512K", "--limit-rate", "1M"]
    args = cli.build_parser().parse_args(argv)
    assert (args.chunk_size, args.limit_rate) == (512 * 1024, 1024**2)


def test_importing_the_client_loads_no_server() -> None:
    """`tusserver.client` is a library for uploaders: it must not pull in Starlette, uvicorn or the app."""
    import subprocess
    import sys

    code = (
        "import sys, tusserver.client, tusserver.client.cli\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in ('starlette', 'uvicorn')"
        " or m in ('tusserver.app', 'tusserver.cli'))\n"
        "assert not loaded, loaded\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
