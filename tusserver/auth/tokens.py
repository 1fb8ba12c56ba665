"""Verify issuer tokens and issue rotated ones, with pyjwt. Pure: no HTTP, no Starlette.

Which key checks which token is decided by the `alg` family, never by the token alone:
`HS*` is checked only with the HMAC secret (`--jwt-secret`, or a random one made at start),
`RS*`/`PS*`/`ES*`/`EdDSA` only with the configured public key or the JWKS key named by `kid`.
So a token "signed" HS256 with the public key as secret (the classic confusion) never verifies,
and `none` is never accepted.

Claims: `sub` and `exp` are required; `nbf`, `iss`, `aud` are honoured; `max_size` (bytes) caps
`Upload-Length`; `upload_id` (`UPLOAD_CLAIM`), set only by the platform, restricts a token to one upload.

Two kinds of token reach the server. *Platform tokens* start a chain: the platform minted them (with its
HMAC secret, or its private key). *Rotated tokens* continue one: the server issued them in `X-New-Token`.
Rotated tokens carry the JWT header `typ: tusserver-rotated+jwt` (`ROTATED_TYPE`) and the claim
`auth_time` (when the chain started). With a public key or JWKS configured, an HS256 token without that
mark is refused: the rotation secret may continue chains, never start one. The absolute lifetime
(`max_age_s`, `--token-max-age`) counts from `auth_time`; a rotated token's `exp` never passes it.
"""

from __future__ import annotations

import json
import logging
import math
import secrets
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from ..config import SettingsError

if TYPE_CHECKING:
    from ..config import Settings

log = logging.getLogger("tusserver.auth")

UPLOAD_CLAIM = "upload_id"
AUTH_TIME_CLAIM = "auth_time"
ROTATED_TYPE = "tusserver-rotated+jwt"
ROTATION_ALGORITHM = "HS256"
HMAC_ALGORITHMS = frozenset({"HS256", "HS384", "HS512"})
RSA_ALGORITHMS = frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"})
EC_ALGORITHMS = frozenset({"ES256", "ES384", "ES512"})
OKP_ALGORITHMS = frozenset({"EdDSA"})
ASYMMETRIC_ALGORITHMS = RSA_ALGORITHMS | EC_ALGORITHMS | OKP_ALGORITHMS
_MAX_TOKEN_CHARS = 8192


class TokenError(Exception):
    """A token that must be refused; `description` is the RFC 6750 `error_description` (one line, no quotes)."""

    def __init__(self, description: str, error: str = "invalid_token") -> None:
        super().__init__(description)
        self.error = error
        # It goes into a quoted header parameter: printable ASCII only, no quote or backslash.
        self.description = "".join(c if " " <= c <= "~" and c not in '"\\' else "?" for c in description)


class TokenConfigError(SettingsError):
    """The key material or algorithm list cannot be used (raised at start-up, never per request)."""


@dataclass(frozen=True)
class VerifiedToken:
    sub: str
    upload_id: str | None = None  # set only when the platform restricted the chain to one upload
    max_size: int | None = None
    auth_time: int = 0  # when the chain started: `auth_time`, else the platform token's `iat`, else when first seen
    rotated: bool = False
    claims: dict[str, Any] = field(default_factory=dict, compare=False)


def _key_family(key: Any) -> frozenset[str]:
    if isinstance(key, rsa.RSAPublicKey):
        return RSA_ALGORITHMS
    if isinstance(key, ec.EllipticCurvePublicKey):
        return EC_ALGORITHMS
    if isinstance(key, ed25519.Ed25519PublicKey | ed448.Ed448PublicKey):
        return OKP_ALGORITHMS
    raise TokenConfigError(f"unsupported public key type {type(key).__name__}")


@contextmanager
def _quiet_key_length() -> Iterator[None]:
    # pyjwt >= 2.10 warns on every call with a short HMAC secret; we warn once at start instead.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The HMAC key is", category=UserWarning)
        yield


def load_jwks(path: Path) -> dict[str | None, Any]:
    """Asymmetric public keys of a JWKS file by `kid` (symmetric `oct` keys are skipped: secrets go in --jwt-secret)."""
    try:
        data = json.loads(Path(path).read_text())
        entries = data["keys"] if isinstance(data, dict) else None
        if not isinstance(entries, list):
            raise TokenConfigError(f"--jwks {path}: no 'keys' list")
        keys: dict[str | None, Any] = {}
        for entry in entries:
            if not isinstance(entry, dict) or entry.get("kty") == "oct":
                continue
            if entry.get("use") not in (None, "sig"):
                continue
            keys[entry.get("kid")] = jwt.PyJWK(entry).key
    except (OSError, ValueError, KeyError, jwt.PyJWTError) as exc:
        if isinstance(exc, TokenConfigError):
            raise
        raise TokenConfigError(f"--jwks {path}: {exc}") from exc
    if not keys:
        raise TokenConfigError(f"--jwks {path}: no usable public signing key")
    return keys


class TokenService:
    """Verifies issuer and rotated tokens; issues rotated tokens signed HS256 with `secret`."""

    def __init__(
        self,
        *,
        secret: str,
        public_keys: dict[str | None, Any] | None = None,
        algorithms: frozenset[str] | None = None,
        leeway_s: float = 5.0,
        issuer: str = "",
        audience: str = "",
        ttl_s: int = 30,
        max_age_s: int = 86400,
    ) -> None:
        if not secret:
            raise TokenConfigError("a signing secret is required")
        self.secret = secret
        self.public_keys = public_keys or {}
        families = frozenset().union(*(_key_family(k) for k in self.public_keys.values()))
        if algorithms is None:
            algorithms = frozenset(families)
        algorithms = frozenset(algorithms) | {ROTATION_ALGORITHM}
        unknown = {a for a in algorithms if a not in HMAC_ALGORITHMS | ASYMMETRIC_ALGORITHMS}
        if unknown:
            raise TokenConfigError(f"--jwt-algorithms: unsupported or unsafe algorithm(s) {', '.join(sorted(unknown))}")
        asymmetric = algorithms & ASYMMETRIC_ALGORITHMS
        if asymmetric - families:
            raise TokenConfigError(
                f"--jwt-algorithms {', '.join(sorted(asymmetric - families))}: "
                "no matching key in --jwt-public-key or --jwks"
            )
        self.algorithms = algorithms
        self.leeway_s = leeway_s
        self.issuer = issuer
        self.audience = audience
        self.ttl_s = ttl_s
        self.max_age_s = max_age_s

    @classmethod
    def from_settings(cls, settings: Settings) -> TokenService:
        """Build from `Settings`; raises `TokenConfigError` naming the option when a key cannot be used."""
        public_keys: dict[str | None, Any] = {}
        if settings.jwt_public_key is not None:
            try:
                key = load_pem_public_key(Path(settings.jwt_public_key).read_bytes())
            except (OSError, ValueError) as exc:
                raise TokenConfigError(f"--jwt-public-key {settings.jwt_public_key}: {exc}") from exc
            public_keys[None] = key
        if settings.jwks is not None:
            public_keys.update(load_jwks(settings.jwks))
        secret = settings.jwt_secret
        if not secret:
            if not public_keys:
                raise TokenConfigError("auth needs --jwt-secret, --jwt-public-key or --jwks")
            secret = secrets.token_urlsafe(32)
            log.warning(
                "no --jwt-secret: rotated tokens are signed with a random secret made at start; "
                "several instances (or --workers > 1) need a shared --jwt-secret"
            )
        elif len(secret.encode()) < 32:
            log.warning("--jwt-secret is shorter than 32 bytes; use a long random secret in production")
        names = [a.strip() for a in settings.jwt_algorithms.split(",") if a.strip()]
        return cls(
            secret=secret,
            public_keys=public_keys,
            algorithms=frozenset(names) if names else None,
            leeway_s=settings.jwt_leeway_s,
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
            ttl_s=settings.token_ttl_s,
            max_age_s=settings.token_max_age_s,
        )

    def _key_for(self, header: dict[str, Any]) -> Any:
        alg = header.get("alg")
        if not isinstance(alg, str) or alg not in self.algorithms:
            raise TokenError(f"algorithm {str(alg)[:20]!r} is not accepted")
        if alg in HMAC_ALGORITHMS:
            if self.public_keys and not _is_rotated(header):
                # The platform signs with its private key; our secret only ever signed our own rotations.
                raise TokenError("HS256 tokens are accepted only as this server's rotated tokens")
            return self.secret
        kid = header.get("kid")
        if kid is not None and not isinstance(kid, str):
            raise TokenError("kid must be a string")
        if kid in self.public_keys:
            key = self.public_keys[kid]
        elif len(self.public_keys) == 1:
            key = next(iter(self.public_keys.values()))
        elif kid is None and None in self.public_keys:
            key = self.public_keys[None]
        else:
            raise TokenError("no key for this kid")
        if alg not in _key_family(key):
            raise TokenError(f"algorithm {alg} does not match the key")
        return key

    def verify(self, token: str) -> VerifiedToken:
        """The verified claims, or `TokenError` with a one-line reason."""
        if not token or len(token) > _MAX_TOKEN_CHARS or token.count(".") != 2:
            raise TokenError("not a JWT")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise TokenError("not a JWT") from None
        key = self._key_for(header)
        try:
            with _quiet_key_length():
                claims: dict[str, Any] = jwt.decode(
                    token,
                    key,
                    algorithms=[header["alg"]],
                    leeway=self.leeway_s,
                    issuer=self.issuer or None,
                    audience=self.audience or None,
                    options={"require": ["sub", "exp"], "verify_sub": False},
                )
        except jwt.ExpiredSignatureError:
            raise TokenError("token has expired") from None
        except jwt.ImmatureSignatureError:
            raise TokenError("token is not valid yet (nbf)") from None
        except jwt.InvalidSignatureError:
            raise TokenError("signature verification failed") from None
        except jwt.MissingRequiredClaimError as exc:
            raise TokenError(f"token has no {exc.claim} claim") from None
        except jwt.InvalidIssuerError:
            raise TokenError("wrong issuer (iss)") from None
        except jwt.InvalidAudienceError:
            raise TokenError("wrong audience (aud)") from None
        except (jwt.PyJWTError, ValueError, TypeError, ArithmeticError) as exc:
            raise TokenError(f"invalid token: {type(exc).__name__}") from None
        rotated = _is_rotated(header) and header["alg"] in HMAC_ALGORITHMS
        now = time.time()
        verified = _claims_to_token(claims, rotated, now)
        if now > verified.auth_time + self.max_age_s + self.leeway_s:
            raise TokenError("token chain is older than the server's maximum token age; get a new token")
        return verified

    def issue(
        self,
        sub: str,
        *,
        ttl_s: float | None = None,
        max_size: int | None = None,
        upload_id: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> str:
        """A platform token signed HS256 with the secret (`tusserver token`): `iat` set, so its chain's
        maximum age counts from now; `exp = ceil(now + ttl)`; `iss`/`aud` when configured. Not marked as
        rotated: a server with a public key or JWKS refuses it."""
        return self._sign(self._claims(sub, ttl_s, max_size, upload_id, extra), rotated=False)

    def start_chain(self, sub: str) -> str:
        """A token marked as rotated whose chain starts now: what this server accepts whatever keys it has
        (with a public key or JWKS it refuses unmarked HS256 tokens, so `issue` would hand out a token it
        then refuses). For the demo page, which stands in for a platform."""
        claims = self._claims(sub, None, None, None, None)
        claims[AUTH_TIME_CLAIM] = claims["iat"]
        return self._sign(claims, rotated=True)

    def _claims(
        self,
        sub: str,
        ttl_s: float | None,
        max_size: int | None,
        upload_id: str | None,
        extra: dict[str, Any] | None,
    ) -> dict[str, Any]:
        now = time.time()
        claims: dict[str, Any] = {}
        if self.issuer:
            claims["iss"] = self.issuer
        if self.audience:
            claims["aud"] = self.audience
        claims.update(extra or {})
        claims["sub"] = sub
        claims["iat"] = int(now)
        claims["exp"] = math.ceil(now + (self.ttl_s if ttl_s is None else ttl_s))
        if max_size is not None:
            claims["max_size"] = max_size
        if upload_id is not None:
            claims[UPLOAD_CLAIM] = upload_id
        return claims

    def _sign(self, claims: dict[str, Any], *, rotated: bool) -> str:
        headers = {"typ": ROTATED_TYPE} if rotated else None
        with _quiet_key_length():
            return jwt.encode(claims, self.secret, algorithm=ROTATION_ALGORITHM, headers=headers)

    def rotate(self, token: VerifiedToken) -> str:
        """The replacement for a verified token: same `sub`, `iss`, `aud`, `max_size` and `upload_id`
        restriction (if the platform set one), marked as rotated, `auth_time` carried on.

        Owner-scoped on purpose: the rotated token is not narrowed to the request's upload, so one token
        variable serves all of its owner's uploads. `exp = ceil(now + ttl)`, but never past
        `auth_time + max_age`: rotation cannot keep a chain alive for ever.
        """
        kept: dict[str, Any] = {name: token.claims[name] for name in ("iss", "aud") if name in token.claims}
        claims = self._claims(token.sub, None, token.max_size, token.upload_id, kept)
        claims[AUTH_TIME_CLAIM] = token.auth_time
        claims["exp"] = min(claims["exp"], token.auth_time + self.max_age_s)
        return self._sign(claims, rotated=True)


def _is_rotated(header: dict[str, Any]) -> bool:
    typ = header.get("typ")
    return isinstance(typ, str) and typ.lower() == ROTATED_TYPE


def _claims_to_token(claims: dict[str, Any], rotated: bool, now: float) -> VerifiedToken:
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub:
        raise TokenError("sub must be a non-empty string")
    max_size = claims.get("max_size")
    if max_size is not None and (not isinstance(max_size, int) or isinstance(max_size, bool) or max_size < 0):
        raise TokenError("max_size must be a non-negative integer")
    upload_id = claims.get(UPLOAD_CLAIM)
    if upload_id is not None and (not isinstance(upload_id, str) or not upload_id):
        raise TokenError(f"{UPLOAD_CLAIM} must be a non-empty string")
    # A rotated token's chain started at its `auth_time`; a platform token's at its `iat` (or now, without one).
    name = AUTH_TIME_CLAIM if rotated else "iat"
    started = claims.get(name)
    if started is None and rotated:
        raise TokenError(f"rotated token has no {AUTH_TIME_CLAIM} claim")
    if started is not None and not _finite_number(started):
        raise TokenError(f"{name} must be a number")
    auth_time = math.floor(now if started is None else started)
    return VerifiedToken(
        sub=sub, upload_id=upload_id, max_size=max_size, auth_time=auth_time, rotated=rotated, claims=claims
    )


def _finite_number(value: object) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    return not isinstance(value, float) or math.isfinite(value)
