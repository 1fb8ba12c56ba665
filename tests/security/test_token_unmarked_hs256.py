"""In public-key mode the rotation secret continues chains; it never starts one.

With `--jwt-public-key`/`--jwks`, the platform mints tokens with its private key and the HS256 secret only
signs the server's own rotated tokens (shared between instances with `--jwt-secret`). Before the fix, an
HS256 token signed with that secret was accepted as it was: whoever held the instances' rotation secret (or
any other system that used the same secret for its own tokens) could mint a token for ANY `sub`. Now HS256
tokens must carry the mark of rotated tokens (`typ: tusserver-rotated+jwt`, with `auth_time`) or get 401.
With only `--jwt-secret`, the platform's unmarked HS256 tokens stay accepted.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.auth.keys import claims, hs256, rsa_pair, write_jwks
from tests.auth.session import PATCH_HEADERS, SECRET, TokenChain, bearer
from tests.conftest import AppFactory
from tests.support import TUS

ROTATED_TYP = "tusserver-rotated+jwt"


@pytest.mark.parametrize("key_flag", ["--jwt-public-key", "--jwks"])
def test_unmarked_hs256_tokens_are_refused_in_public_key_mode(
    app_factory: AppFactory, tmp_path: Path, key_flag: str
) -> None:
    pair = rsa_pair()
    key_file = pair.write_pem(tmp_path) if key_flag == "--jwt-public-key" else write_jwks(tmp_path, pair)
    server = app_factory(key_flag, str(key_file), "--jwt-secret", SECRET, "--token-ttl", "5")
    victim = TokenChain(pair.sign(claims("victim", 60), "RS256"), client=server.client)
    url = victim.create(server.endpoint, 4)

    forged = hs256(claims("victim", 60), SECRET)  # any sub, signed with the instances' rotation secret
    for method, target, headers in (
        ("POST", server.endpoint, {"Upload-Length": "4"}),
        ("HEAD", url, {}),
        ("PATCH", url, {**PATCH_HEADERS, "Upload-Offset": "0"}),
        ("GET", url, {}),
        ("DELETE", url, {}),
    ):
        response = server.client.request(method, target, headers={**bearer(forged), **headers}, content=b"evil")
        assert response.status_code == 401, (method, response.status_code, response.text)
        assert response.headers["WWW-Authenticate"].startswith('Bearer error="invalid_token"')
        assert "x-new-token" not in response.headers
    # A marked look-alike without the chain's auth_time is not one of ours either.
    fake = hs256(claims("victim", 60), SECRET, headers={"typ": ROTATED_TYP})
    assert server.client.head(url, headers=bearer(fake)).status_code == 401

    # The platform's RS256 token starts a chain; its rotations (marked, HS256 with the secret) continue it.
    assert victim.request("HEAD", url).status_code == 200
    assert victim.request("PATCH", url, headers={**PATCH_HEADERS, "Upload-Offset": "0"}, content=b"good").is_success
    assert victim.request("GET", url).content == b"good"


def test_hs256_platform_tokens_still_work_with_only_a_secret(app_factory: AppFactory) -> None:
    server = app_factory("--jwt-secret", SECRET)
    token = hs256(claims("platform-user", 60), SECRET)  # unmarked: the platform shares the secret
    response = server.client.post(server.endpoint, headers={**TUS, **bearer(token), "Upload-Length": "1"})
    assert response.status_code == 201
