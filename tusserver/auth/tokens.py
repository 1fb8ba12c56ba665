"""Verify issuer tokens and issue rotated ones, with pyjwt. Pure: no HTTP, no Starlette.

Which key checks which token is decided by the `alg` family, never by the token alone:
`HS*` is checked only with the HMAC secret (`--jwt-secret`, or a random one made at start),
`RS*`/`PS*`/`ES*`/`EdDSA` only with the configured public key or the JWKS key named by `kid`.
So a token "signed" HS256 with the public key as secret (the classic confusion) never verifies,
and `none` is never accepted.

Claims: `sub` and `exp` are required; `nbf`, `iss`, `aud` are honoured; `max_size` (bytes) caps
`Upload-Length`; `upload_id` (`UPLOAD_CLAIM`) scopes a token to one upload.
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
    upload_id: str | None = None
    max_size: int | None = None
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
        )

    def _key_for(self, header: dict[str, Any]) -> Any:
        alg = header.get("alg")
        if not isinstance(alg, str) or alg not in self.algorithms:
            raise TokenError(f"algorithm {str(alg)[:20]!r} is not accepted")
        if alg in HMAC_ALGORITHMS:
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
        return _claims_to_token(claims)

    def issue(
        self,
        sub: str,
        *,
        ttl_s: float | None = None,
        max_size: int | None = None,
        upload_id: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> str:
        """A token signed HS256 with the server secret: `exp = ceil(now + ttl)`; `iss`/`aud` when configured."""
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
        with _quiet_key_length():
            return jwt.encode(claims, self.secret, algorithm=ROTATION_ALGORITHM)

    def rotate(self, token: VerifiedToken, upload_id: str | None = None) -> str:
        """The replacement for a verified token: same `sub`, `iss`, `aud`, `max_size`; scope never wider.

        `upload_id` is the upload the request concerned (checked by the handler); without one the token
        keeps its own scope. An unscoped token becomes scoped; a scoped one only moves to an upload its
        holder was allowed to create (a new upload or a final concatenation of its parts).
        """
        kept: dict[str, Any] = {name: token.claims[name] for name in ("iss", "aud") if name in token.claims}
        return self.issue(
            token.sub,
            max_size=token.max_size,
            upload_id=upload_id if upload_id is not None else token.upload_id,
            extra=kept,
        )


def _claims_to_token(claims: dict[str, Any]) -> VerifiedToken:
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub:
        raise TokenError("sub must be a non-empty string")
    max_size = claims.get("max_size")
    if max_size is not None and (not isinstance(max_size, int) or isinstance(max_size, bool) or max_size < 0):
        raise TokenError("max_size must be a non-negative integer")
    upload_id = claims.get(UPLOAD_CLAIM)
    if upload_id is not None and (not isinstance(upload_id, str) or not upload_id):
        raise TokenError(f"{UPLOAD_CLAIM} must be a non-empty string")
    return VerifiedToken(sub=sub, upload_id=upload_id, max_size=max_size, claims=claims)
