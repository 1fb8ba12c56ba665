"""Rotation cannot keep a token chain alive for ever: `--token-max-age` is its absolute lifetime.

Before the fix, a client that kept making requests kept receiving fresh tokens: a token stolen once (or a
session the platform had long revoked) lived as long as someone kept using it. Now rotated tokens carry the
platform token's `iat` as `auth_time`, their `exp` never passes `auth_time + max_age`, and a request past it
gets 401 `invalid_token`; the client must go back to the platform for a new token.
"""

from __future__ import annotations

import time

import httpx

from tests.auth.keys import hs256
from tests.auth.session import SECRET, TokenChain, bearer, decode, mint
from tests.conftest import AppFactory
from tests.support import wait_for

MAX_AGE = 6
SERVER_ARGS = ("--jwt-secret", SECRET, "--token-ttl", "2", "--jwt-leeway", "1", "--token-max-age", str(MAX_AGE))
INVALID = 'Bearer error="invalid_token", error_description="'


def _assert_one_line_401(response: httpx.Response) -> None:
    assert response.status_code == 401, response.text
    assert response.headers["WWW-Authenticate"].startswith(INVALID)
    assert "x-new-token" not in response.headers


def test_a_chain_kept_alive_by_rotation_dies_at_the_max_age(app_factory: AppFactory) -> None:
    server = app_factory(*SERVER_ARGS)
    first = mint("keeper", ttl=MAX_AGE)
    iat = decode(first)["iat"]
    url = TokenChain(mint("keeper", ttl=30), client=server.client).create(server.endpoint, 10)
    chain = TokenChain(first, client=server.client)
    rotations: list[dict[str, int]] = []

    def refused() -> httpx.Response | None:
        response = chain.request("HEAD", url)
        if response.status_code == 401:
            return response
        assert response.status_code == 200, response.text
        rotations.append(decode(response.headers["X-New-Token"]))
        return None

    # A client that keeps the chain alive with a request every 0.3 s (tokens live 2 s).
    response = wait_for(refused, timeout=60, interval=0.3, what="the server to end the chain")
    _assert_one_line_401(response)
    assert len(rotations) >= 3  # the chain really was carried on by rotation...
    for claims in rotations:  # ...each rotated token bound to the platform token's iat
        assert claims["auth_time"] == iat and claims["exp"] <= iat + MAX_AGE
    # A brand-new platform token starts a new chain and works at once.
    assert server.client.head(url, headers=bearer(mint("keeper", ttl=30))).status_code == 200
    chain.close()


def test_a_long_lived_platform_token_is_refused_past_the_max_age(app_factory: AppFactory) -> None:
    server = app_factory(*SERVER_ARGS)
    token = mint("longlived", ttl=600)  # its own exp is far away; the max age is not
    url = TokenChain(mint("longlived", ttl=30), client=server.client).create(server.endpoint, 10)
    assert (
        decode(server.client.head(url, headers=bearer(token)).headers["X-New-Token"])["exp"] <= decode(token)["iat"] + 6
    )

    def refused() -> httpx.Response | None:
        response = server.client.head(url, headers=bearer(token))
        return response if response.status_code == 401 else None

    response = wait_for(refused, timeout=60, interval=0.3, what="the platform token to pass the max age")
    _assert_one_line_401(response)
    assert "maximum token age" in response.headers["WWW-Authenticate"]
    body = server.client.get(url, headers={"Authorization": f"Bearer {token}"}).text
    assert body.endswith("\n") and body.count("\n") == 1 and "maximum token age" in body


def test_a_platform_token_without_iat_starts_a_chain_at_each_use(app_factory: AppFactory) -> None:
    """As the README says: the server keeps no record of tokens, so without `iat` each use starts a new
    chain (it once said "when first seen", which the server never did); only the token's `exp` bounds it."""
    server = app_factory(*SERVER_ARGS)
    token = hs256({"sub": "no-iat", "exp": int(time.time()) + 600}, SECRET)
    before = int(time.time())
    response = server.client.post(server.endpoint, headers={**bearer(token), "Upload-Length": "1"})
    assert response.status_code == 201
    claims = decode(response.headers["X-New-Token"])
    assert claims["auth_time"] >= before and claims["exp"] <= claims["auth_time"] + MAX_AGE
    wait_for(lambda: int(time.time()) > claims["auth_time"], what="the clock to pass the first chain's start")
    again = server.client.post(server.endpoint, headers={**bearer(token), "Upload-Length": "1"})
    assert decode(again.headers["X-New-Token"])["auth_time"] > claims["auth_time"]
