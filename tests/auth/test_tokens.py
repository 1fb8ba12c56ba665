"""TokenService without HTTP: verification rules, issuing, rotation and key configuration."""

from __future__ import annotations

import logging
import math
import time
from pathlib import Path

import jwt
import pytest

from tests.auth.keys import claims, ec_pair, hs256, rsa_pair, tamper, unsigned, write_jwks
from tusserver.auth.tokens import ROTATED_TYPE, UPLOAD_CLAIM, TokenConfigError, TokenError, TokenService
from tusserver.config import Settings


def service(**overrides: object) -> TokenService:
    options: dict[str, object] = {"secret": "s", "leeway_s": 0, "ttl_s": 2}
    options.update(overrides)
    return TokenService(**options)  # type: ignore[arg-type]


def payload(token: str) -> dict[str, object]:
    decoded: dict[str, object] = jwt.decode(token, options={"verify_signature": False})
    return decoded


def test_issue_then_verify_roundtrip() -> None:
    tokens = service()
    before = time.time()
    token = tokens.issue("alice", ttl_s=10, max_size=1000)
    after = time.time()
    verified = tokens.verify(token)
    assert (verified.sub, verified.max_size, verified.upload_id) == ("alice", 1000, None)
    assert math.ceil(before + 10) <= payload(token)["exp"] <= math.ceil(after + 10)  # type: ignore[operator]
    assert jwt.get_unverified_header(token)["alg"] == "HS256"


def test_rotation_keeps_identity_claims_and_is_owner_scoped() -> None:
    tokens = service(issuer="https://issuer", audience="tus")
    original = tokens.verify(
        hs256(claims("bob", max_size=5000, iss="https://issuer", aud="tus", extra="dropped", nbf=0), "s")
    )
    before = time.time()
    rotated = tokens.rotate(original)
    data = payload(rotated)
    assert data["sub"] == "bob" and data["iss"] == "https://issuer" and data["aud"] == "tus"
    assert data["max_size"] == 5000 and "extra" not in data
    assert data["exp"] in (math.ceil(before + 2), math.ceil(before + 2) + 1)
    # Owner-scoped: rotation never narrows a token to one upload, however often it rotates.
    again = tokens.rotate(tokens.verify(rotated))
    assert UPLOAD_CLAIM not in data and UPLOAD_CLAIM not in payload(again)
    # Only a restriction the platform set survives rotation, and it is never dropped.
    restricted = tokens.verify(hs256(claims("bob", upload_id="upload-1", iss="https://issuer", aud="tus"), "s"))
    chained = tokens.rotate(tokens.verify(tokens.rotate(restricted)))
    assert payload(chained)[UPLOAD_CLAIM] == "upload-1"


def test_rotated_tokens_are_marked_and_carry_the_chain_start() -> None:
    tokens = service(ttl_s=30)
    iat = int(time.time()) - 100
    platform = tokens.verify(hs256(claims("erin", iat=iat), "s"))
    assert not platform.rotated and platform.auth_time == iat
    rotated = tokens.rotate(platform)
    assert jwt.get_unverified_header(rotated)["typ"] == ROTATED_TYPE
    assert payload(rotated)["auth_time"] == iat
    verified = tokens.verify(rotated)
    assert verified.rotated and verified.auth_time == iat
    assert payload(tokens.rotate(verified))["auth_time"] == iat  # carried on, never reset by rotation
    # A platform token without iat starts its chain when first seen.
    before = int(time.time())
    fresh = tokens.verify(hs256({"sub": "erin", "exp": int(time.time()) + 60}, "s"))
    assert before <= fresh.auth_time <= time.time()
    # `tusserver token` mints unmarked platform tokens with iat.
    minted = tokens.issue("erin")
    assert "typ" not in jwt.get_unverified_header(minted) or jwt.get_unverified_header(minted)["typ"] == "JWT"
    assert isinstance(payload(minted)["iat"], int)
    # A marked token without auth_time is not one of ours.
    with pytest.raises(TokenError, match="no auth_time"):
        tokens.verify(hs256(claims("erin"), "s", headers={"typ": ROTATED_TYPE}))


def test_max_age_caps_rotated_exp_and_refuses_old_chains() -> None:
    tokens = service(ttl_s=30, max_age_s=100)
    now = int(time.time())
    young = tokens.verify(hs256(claims("fay", iat=now - 90), "s"))
    # 30 s of TTL would pass auth_time + 100: the rotated exp stops there.
    assert payload(tokens.rotate(young))["exp"] == now - 90 + 100
    for old in (
        hs256(claims("fay", iat=now - 101), "s"),  # a platform token older than the max age
        # a rotated token whose chain is too old (made here with the secret, as the server would have)
        hs256({**claims("fay"), "auth_time": now - 101}, "s", headers={"typ": ROTATED_TYPE}),
    ):
        with pytest.raises(TokenError, match="maximum token age"):
            tokens.verify(old)


def test_exp_is_rounded_up() -> None:
    tokens = service(ttl_s=2)
    for _ in range(3):
        before = time.time()
        exp = payload(tokens.issue("a"))["exp"]
        assert isinstance(exp, int) and exp >= before + 2


@pytest.mark.parametrize(
    ("token", "reason"),
    [
        ("", "not a JWT"),
        ("abc", "not a JWT"),
        ("a.b.c", "not a JWT"),
        ("x" * 9000, "not a JWT"),
        (unsigned(claims()), "algorithm 'none' is not accepted"),
        (hs256(claims(), "wrong"), "signature verification failed"),
        (tamper(hs256(claims(), "s"), sub="mallory"), "signature verification failed"),
        (hs256(claims(ttl=-10), "s"), "token has expired"),
        (hs256(claims(nbf=int(time.time()) + 3600), "s"), "token is not valid yet (nbf)"),
        (hs256({"exp": int(time.time()) + 3600}, "s"), "token has no sub claim"),
        (hs256({"sub": "a"}, "s"), "token has no exp claim"),
        (hs256(claims(sub=""), "s"), "sub must be a non-empty string"),
        (hs256(claims(sub=42), "s"), "sub must be a non-empty string"),
        (hs256(claims(max_size="big"), "s"), "max_size must be a non-negative integer"),
        (hs256(claims(max_size=-1), "s"), "max_size must be a non-negative integer"),
        (hs256(claims(upload_id=7), "s"), "upload_id must be a non-empty string"),
        (hs256(claims(aud="someone"), "s"), "wrong audience (aud)"),
        (hs256(claims(), "s", headers={"alg": "HS512"}), "algorithm 'HS512' is not accepted"),
    ],
)
def test_verify_refuses(token: str, reason: str) -> None:
    with pytest.raises(TokenError) as info:
        service().verify(token)
    assert info.value.description == reason
    assert info.value.error == "invalid_token"


def test_leeway_accepts_recently_expired() -> None:
    token = hs256(claims(ttl=-2), "s")
    with pytest.raises(TokenError):
        service(leeway_s=0).verify(token)
    assert service(leeway_s=5).verify(token).sub == "alice"


def test_issuer_and_audience_checked_when_configured() -> None:
    tokens = service(issuer="iss-a", audience="aud-a")
    assert tokens.verify(hs256(claims(iss="iss-a", aud="aud-a"))).sub == "alice"
    assert tokens.verify(hs256(claims(iss="iss-a", aud=["x", "aud-a"]))).sub == "alice"
    for bad, reason in [
        (claims(iss="iss-b", aud="aud-a"), "wrong issuer (iss)"),
        (claims(aud="aud-a"), "token has no iss claim"),
        (claims(iss="iss-a", aud="aud-b"), "wrong audience (aud)"),
        (claims(iss="iss-a"), "token has no aud claim"),
    ]:
        with pytest.raises(TokenError) as info:
            tokens.verify(hs256(bad))
        assert info.value.description == reason
    # Tokens the server issues itself carry the configured iss/aud, so they verify.
    assert tokens.verify(tokens.issue("carol")).sub == "carol"


def test_rs256_public_key_and_no_algorithm_confusion(tmp_path: Path) -> None:
    pair = rsa_pair()
    tokens = TokenService.from_settings(Settings(jwt_public_key=pair.write_pem(tmp_path), jwt_leeway_s=0))
    assert tokens.verify(pair.sign(claims("dave"), "RS256", kid=False)).sub == "dave"
    assert tokens.verify(pair.sign(claims("dave"), "PS256")).sub == "dave"
    # HS256 "signed" with the public key as the HMAC secret: the classic confusion attack. Unmarked, it is
    # refused before any signature check; marked as rotated, the signature (checked with the secret) fails.
    with pytest.raises(TokenError, match="accepted only as this server's rotated tokens"):
        tokens.verify(hs256(claims("dave"), pair.public_pem))
    with pytest.raises(TokenError, match="signature verification failed"):
        tokens.verify(hs256(claims("dave", auth_time=0), pair.public_pem, headers={"typ": ROTATED_TYPE}))
    with pytest.raises(TokenError, match="algorithm 'ES256' is not accepted"):
        tokens.verify(ec_pair().sign(claims("dave"), "ES256"))
    with pytest.raises(TokenError, match="signature verification failed"):
        tokens.verify(rsa_pair("other").sign(claims("dave"), "RS256", kid=False))
    # Rotated tokens are HS256 with a random secret made at start, and this service accepts them.
    rotated = tokens.rotate(tokens.verify(pair.sign(claims("dave", max_size=9), "RS256")))
    assert (tokens.verify(rotated).sub, tokens.verify(rotated).max_size) == ("dave", 9)
    # ...but an HS256 token with the same secret and no rotation mark never starts a chain.
    with pytest.raises(TokenError, match="accepted only as this server's rotated tokens"):
        tokens.verify(tokens.issue("dave"))
    # ...but another instance, with its own random secret, does not.
    other = TokenService.from_settings(Settings(jwt_public_key=pair.write_pem(tmp_path)))
    with pytest.raises(TokenError, match="signature verification failed"):
        other.verify(rotated)


def test_jwks_chooses_key_by_kid(tmp_path: Path) -> None:
    rsa_key, ec_key = rsa_pair("k-rsa"), ec_pair("k-ec")
    tokens = TokenService.from_settings(Settings(jwks=write_jwks(tmp_path, rsa_key, ec_key)))
    assert tokens.verify(rsa_key.sign(claims("r"), "RS256")).sub == "r"
    assert tokens.verify(ec_key.sign(claims("e"), "ES256")).sub == "e"
    with pytest.raises(TokenError, match="no key for this kid"):
        tokens.verify(ec_pair("unknown").sign(claims("e"), "ES256"))
    with pytest.raises(TokenError, match="no key for this kid"):
        tokens.verify(ec_key.sign(claims("e"), "ES256", kid=False))
    # A kid naming the EC key with an RSA algorithm is refused before any signature check.
    forged = jwt.encode(claims("e"), rsa_key.private_key, algorithm="RS256", headers={"kid": "k-ec"})
    with pytest.raises(TokenError, match="does not match the key"):
        tokens.verify(forged)


def test_explicit_algorithm_list(tmp_path: Path) -> None:
    pair = rsa_pair()
    pem = pair.write_pem(tmp_path)
    tokens = TokenService.from_settings(Settings(jwt_public_key=pem, jwt_algorithms="RS256"))
    assert tokens.verify(pair.sign(claims(), "RS256")).sub == "alice"
    with pytest.raises(TokenError, match="'PS256' is not accepted"):
        tokens.verify(pair.sign(claims(), "PS256"))
    with pytest.raises(TokenConfigError, match="none"):
        TokenService.from_settings(Settings(jwt_secret="s", jwt_algorithms="none"))
    with pytest.raises(TokenConfigError, match="RS256"):
        TokenService.from_settings(Settings(jwt_secret="s", jwt_algorithms="RS256"))


def test_bad_key_files_fail_at_start(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a key")
    with pytest.raises(TokenConfigError, match="--jwt-public-key"):
        TokenService.from_settings(Settings(jwt_public_key=garbage))
    with pytest.raises(TokenConfigError, match="--jwks"):
        TokenService.from_settings(Settings(jwks=garbage))
    empty = tmp_path / "empty.json"
    empty.write_text('{"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}')
    with pytest.raises(TokenConfigError, match="no usable public signing key"):
        TokenService.from_settings(Settings(jwks=empty))


def test_random_secret_warns_once(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    pem = rsa_pair().write_pem(tmp_path)
    with caplog.at_level(logging.WARNING, logger="tusserver.auth"):
        TokenService.from_settings(Settings(jwt_public_key=pem))
    warnings = [r.getMessage() for r in caplog.records if "shared --jwt-secret" in r.getMessage()]
    assert len(warnings) == 1


def test_error_description_is_safe_for_the_header() -> None:
    error = TokenError('bad "quoted"\nthing\\ \u2603')
    assert error.description == "bad ?quoted??thing? ?"
    hostile = hs256(claims(), "s", headers={"alg": '\u2603"\\'})
    with pytest.raises(TokenError) as info:
        service().verify(hostile)
    assert info.value.description.isascii() and '"' not in info.value.description
