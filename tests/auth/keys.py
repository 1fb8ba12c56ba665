"""Key material and hand-made tokens for the auth tests (forged ones included)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


# Tokens built at collection time (parametrize) must outlive a whole test run: an hour by default.
def claims(sub: str = "alice", ttl: float = 3600, **extra: Any) -> dict[str, Any]:
    now = int(time.time())
    return {"sub": sub, "iat": now, "exp": now + int(ttl), **extra}


def hs256(payload: dict[str, Any], secret: str | bytes = "s", headers: dict[str, Any] | None = None) -> str:
    """An HS256 token made by hand, so any key (a PEM public key included) can be the 'secret'."""
    header = {"alg": "HS256", "typ": "JWT", **(headers or {})}
    signing_input = f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(payload).encode())}"
    key = secret.encode() if isinstance(secret, str) else secret
    signature = hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64url(signature)}"


def unsigned(payload: dict[str, Any]) -> str:
    header = {"alg": "none", "typ": "JWT"}
    return f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(payload).encode())}."


def tamper(token: str, **changes: Any) -> str:
    """Same header and signature, payload edited."""
    header, payload, signature = token.split(".")
    data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    data.update(changes)
    return f"{header}.{b64url(json.dumps(data).encode())}.{signature}"


class KeyPair:
    def __init__(self, private_key: Any, kid: str) -> None:
        self.private_key = private_key
        self.kid = kid
        self.public_pem = private_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def sign(self, payload: dict[str, Any], alg: str, kid: bool = True) -> str:
        headers = {"kid": self.kid} if kid else None
        return jwt.encode(payload, self.private_key, algorithm=alg, headers=headers)

    def jwk(self) -> dict[str, Any]:
        algorithm = jwt.algorithms.RSAAlgorithm if isinstance(self.private_key, rsa.RSAPrivateKey) else None
        if algorithm is None:
            data = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(self.private_key.public_key()))
        else:
            data = json.loads(algorithm.to_jwk(self.private_key.public_key()))
        return {**data, "kid": self.kid, "use": "sig"}

    def write_pem(self, directory: Path) -> Path:
        path = directory / f"{self.kid}.pem"
        path.write_bytes(self.public_pem)
        return path


def rsa_pair(kid: str = "rsa1") -> KeyPair:
    return KeyPair(rsa.generate_private_key(public_exponent=65537, key_size=2048), kid)


def ec_pair(kid: str = "ec1") -> KeyPair:
    return KeyPair(ec.generate_private_key(ec.SECP256R1()), kid)


def write_jwks(directory: Path, *pairs: KeyPair) -> Path:
    path = directory / "jwks.json"
    path.write_text(json.dumps({"keys": [p.jwk() for p in pairs]}))
    return path
