"""`tusserver token`: tokens the server itself accepts, with the configured iss/aud and an optional max_size."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.auth.keys import rsa_pair
from tusserver.auth.tokens import TokenService
from tusserver.cli import main
from tusserver.config import Settings


def test_token_command_prints_a_token_the_server_accepts(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TUSSERVER_JWT_SECRET", raising=False)
    args = ["token", "--sub", "alice", "--ttl", "60", "--max-size", "123", "--jwt-secret", "x" * 32]
    assert main([*args, "--jwt-issuer", "iss", "--jwt-audience", "aud"]) == 0
    token = capsys.readouterr().out.strip()
    service = TokenService.from_settings(Settings(jwt_secret="x" * 32, jwt_issuer="iss", jwt_audience="aud"))
    verified = service.verify(token)
    assert (verified.sub, verified.max_size, verified.claims["iss"], verified.claims["aud"]) == (
        "alice",
        123,
        "iss",
        "aud",
    )
    assert verified.claims["exp"] - verified.claims["iat"] in (60, 61)


def test_token_command_needs_the_secret(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TUSSERVER_JWT_SECRET", raising=False)
    assert main(["token", "--sub", "alice"]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and "--jwt-secret" in captured.err


def test_token_command_refuses_public_key_mode(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Such a server refuses unmarked HS256 tokens: printing one would only hand out a token that fails."""
    monkeypatch.delenv("TUSSERVER_JWT_SECRET", raising=False)
    pem = rsa_pair().write_pem(tmp_path)
    assert main(["token", "--sub", "alice", "--jwt-secret", "x" * 32, "--jwt-public-key", str(pem)]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and "private key" in captured.err
