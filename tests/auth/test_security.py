"""Hostile tokens against a live server: each gets its 401/403, never a 5xx, and no byte is stored."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from tests.auth.keys import KeyPair, claims, hs256, rsa_pair, tamper, unsigned
from tests.auth.session import PATCH_HEADERS, SECRET, TokenChain
from tests.support import TUS, LiveServer

ISS, AUD = "https://issuer.test", "tusserver"
BODY = b"x" * 1024


@dataclass
class Target:
    server: LiveServer
    url: str  # an upload of "alice" with offset 0
    other_url: str  # another upload of "alice"
    rsa: KeyPair | None = None

    def snapshot(self) -> dict[str, int]:
        return {
            str(p.relative_to(self.server.data_dir)): p.stat().st_size
            for p in self.server.data_dir.rglob("*")
            if p.is_file() and not p.name.endswith(".lock")
        }


def _valid(sub: str = "alice", **extra: object) -> str:
    return hs256(claims(sub, 60, iss=ISS, aud=AUD, **extra), SECRET)


@pytest.fixture(scope="module")
def targets(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Target]]:
    base = tmp_path_factory.mktemp("security")
    pair = rsa_pair()
    hs = LiveServer(base / "hs", "--jwt-secret", SECRET, "--jwt-issuer", ISS, "--jwt-audience", AUD).start()
    rs = LiveServer(base / "rs", "--jwt-public-key", str(pair.write_pem(base))).start()
    try:
        result = {}
        for name, server, token in (("hs", hs, _valid()), ("rs", rs, pair.sign(claims("alice", 60), "RS256"))):
            chain = TokenChain(token)
            url = chain.create(server.endpoint, len(BODY))
            other = TokenChain(token).create(server.endpoint, len(BODY))
            result[name] = Target(server, url, other, pair if name == "rs" else None)
        yield result
    finally:
        hs.stop()
        rs.stop()


def _authorization(case: str, target: Target) -> str | None:
    now = int(time.time())
    upload_id = target.other_url.rsplit("/", 1)[1]
    pair = target.rsa
    match case:
        case "missing":
            return None
        case "empty":
            return ""
        case "basic":
            return "Basic YWxpY2U6cGFzc3dvcmQ="
        case "garbage":
            return "garbage"
        case "bearer-garbage":
            return "Bearer !!!not-a-token!!!"
        case "bearer-nothing":
            return "Bearer"
        case "alg-none":
            return "Bearer " + unsigned(claims("alice", 60, iss=ISS, aud=AUD))
        case "bad-signature":
            return "Bearer " + hs256(claims("alice", 60, iss=ISS, aud=AUD), "not-the-secret")
        case "tampered-payload":
            return "Bearer " + tamper(_valid("bob"), sub="alice")
        case "expired":
            return "Bearer " + hs256(claims("alice", -60, iss=ISS, aud=AUD), SECRET)
        case "nbf-future":
            return "Bearer " + _valid(nbf=now + 120)
        case "wrong-iss":
            return "Bearer " + hs256(claims("alice", 60, iss="https://evil.test", aud=AUD), SECRET)
        case "wrong-aud":
            return "Bearer " + hs256(claims("alice", 60, iss=ISS, aud="someone-else"), SECRET)
        case "missing-sub":
            return "Bearer " + hs256({"exp": now + 60, "iss": ISS, "aud": AUD}, SECRET)
        case "missing-exp":
            return "Bearer " + hs256({"sub": "alice", "iss": ISS, "aud": AUD}, SECRET)
        case "another-sub":
            return "Bearer " + _valid("mallory")
        case "scoped-to-other-upload":
            return "Bearer " + _valid(upload_id=upload_id)
        case "alg-unicode":  # the alg is echoed in the reason: it must not break the header
            return "Bearer " + hs256(claims("alice", 60, iss=ISS, aud=AUD), SECRET, headers={"alg": '\u2603"\\'})
        case "kid-path":
            return "Bearer " + hs256(
                claims("alice", 60, iss=ISS, aud=AUD), SECRET, headers={"alg": "RS256", "kid": "../../etc/passwd"}
            )
        case "rs-hs256-with-public-key":  # alg confusion: the public key used as an HMAC secret
            assert pair is not None
            return "Bearer " + hs256(claims("alice", 60), pair.public_pem)
        case "rs-alg-none":
            return "Bearer " + unsigned(claims("alice", 60))
        case "rs-other-key":
            return "Bearer " + rsa_pair("intruder").sign(claims("alice", 60), "RS256")
        case "rs-expired":
            assert pair is not None
            return "Bearer " + pair.sign(claims("alice", -60), "RS256")
    raise AssertionError(case)


INVALID = 'Bearer error="invalid_token", error_description='
CASES = [
    ("hs", "missing", 401, "Bearer"),
    ("hs", "empty", 401, INVALID),
    ("hs", "basic", 401, INVALID),
    ("hs", "garbage", 401, INVALID),
    ("hs", "bearer-garbage", 401, INVALID),
    ("hs", "bearer-nothing", 401, INVALID),
    ("hs", "alg-none", 401, INVALID),
    ("hs", "bad-signature", 401, INVALID),
    ("hs", "tampered-payload", 401, INVALID),
    ("hs", "expired", 401, INVALID),
    ("hs", "nbf-future", 401, INVALID),
    ("hs", "wrong-iss", 401, INVALID),
    ("hs", "wrong-aud", 401, INVALID),
    ("hs", "missing-sub", 401, INVALID),
    ("hs", "missing-exp", 401, INVALID),
    ("hs", "alg-unicode", 401, INVALID),
    ("hs", "kid-path", 401, INVALID),
    ("hs", "another-sub", 403, None),
    ("hs", "scoped-to-other-upload", 403, 'Bearer error="insufficient_scope"'),
    ("rs", "rs-hs256-with-public-key", 401, INVALID),
    ("rs", "rs-alg-none", 401, INVALID),
    ("rs", "rs-other-key", 401, INVALID),
    ("rs", "rs-expired", 401, INVALID),
]


@pytest.mark.parametrize(("server", "case", "status", "challenge"), CASES, ids=[c[1] for c in CASES])
def test_hostile_token_is_refused_and_stores_nothing(
    targets: dict[str, Target], server: str, case: str, status: int, challenge: str | None
) -> None:
    target = targets[server]
    before = target.snapshot()
    authorization = _authorization(case, target)
    auth = {} if authorization is None else {"Authorization": authorization}
    requests = [
        ("PATCH", target.url, {**PATCH_HEADERS, "Upload-Offset": "0"}, BODY),
        ("HEAD", target.url, {}, b""),
        ("GET", target.url, {}, b""),
        ("DELETE", target.url, {}, b""),
    ]
    if status == 401:  # a valid token may create uploads; a refused one must not
        requests.append(("POST", target.server.endpoint, {**PATCH_HEADERS, "Upload-Length": str(len(BODY))}, BODY))
    for method, url, headers, body in requests:
        response = httpx.request(method, url, headers={**TUS, **headers, **auth}, content=body)
        assert response.status_code == status, (method, response.status_code, response.text)
        assert response.headers["Tus-Resumable"] == "1.0.0"
        if method != "HEAD":
            assert response.text.endswith("\n") and response.text.count("\n") == 1
        www = response.headers.get("WWW-Authenticate")
        if challenge is None:
            assert www is None
        elif challenge.endswith("="):
            assert www is not None and www.startswith(challenge), www
        else:
            assert www == challenge
        # A refused token never earns a fresh one; a valid token that is merely not allowed here does.
        assert ("x-new-token" in response.headers) == (status == 403)
    assert target.snapshot() == before


@pytest.mark.parametrize("server", ["hs", "rs"])
def test_control_a_valid_token_does_store_bytes(targets: dict[str, Target], server: str) -> None:
    """The positive control for the table above: the same PATCH with a good token writes the bytes."""
    target = targets[server]
    assert target.rsa is not None or server == "hs"
    token = _valid() if server == "hs" else target.rsa.sign(claims("alice", 60), "RS256")  # type: ignore[union-attr]
    chain = TokenChain(token)
    url = chain.create(target.server.endpoint, len(BODY))
    before = target.snapshot()
    response = chain.request("PATCH", url, headers={**PATCH_HEADERS, "Upload-Offset": "0"}, content=BODY)
    assert response.status_code == 204
    assert target.snapshot() != before
    # With only a public key configured, the rotated token (HS256, the server's random secret) is accepted.
    assert chain.request("HEAD", url).headers["Upload-Offset"] == str(len(BODY))
    assert chain.request("GET", url).content == BODY


def test_oversized_token_is_refused_not_parsed(targets: dict[str, Target]) -> None:
    target = targets["hs"]
    response = httpx.head(target.url, headers={**TUS, "Authorization": "Bearer a.b." + "c" * 9000})
    assert response.status_code == 401
    assert 'error_description="not a JWT"' in response.headers["WWW-Authenticate"]
