"""Helpers for the live-server auth tests: the test secret, minted tokens, a client that follows X-New-Token."""

from __future__ import annotations

import hashlib
import warnings
from pathlib import Path
from typing import Any

import httpx
import jwt

from tests.auth.keys import claims, hs256
from tests.support import OCTET, TUS

SECRET = "s"
# TTL 2 s as the issue asks; a 1 s leeway keeps the expiry tests short (a token dies ~3 s after issue).
ROTATING = ("--jwt-secret", SECRET, "--token-ttl", "2", "--jwt-leeway", "1")
PATCH_HEADERS = {"Content-Type": OCTET}


def mint(sub: str = "alice", ttl: float = 2, secret: str = SECRET, **extra: Any) -> str:
    return hs256(claims(sub, ttl, **extra), secret)


def bearer(token: str) -> dict[str, str]:
    return {**TUS, "Authorization": f"Bearer {token}"}


def decode(token: str, verify_exp: bool = True) -> dict[str, Any]:
    """Verify a rotated token with the test secret (leeway 0: it must be valid right now, unless not
    `verify_exp`: a token read after other work, whose claims matter and not whether it still lives)."""
    options = {"verify_aud": False, "verify_exp": verify_exp}
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The HMAC key is", category=UserWarning)  # test secret "s"
        data: dict[str, Any] = jwt.decode(token, SECRET, algorithms=["HS256"], options=options)
    return data


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


class TokenChain:
    """An httpx client that always sends the newest token it holds, as the contract tells clients to."""

    def __init__(self, token: str, timeout: float = 60, client: httpx.Client | None = None) -> None:
        """`client`: a server's own (in-process or real), left open on close(); else a new one."""
        self.token = token
        self.first = token
        self.seen = [token]
        self.owned = client is None
        self.client = client if client is not None else httpx.Client(timeout=timeout)

    def request(self, method: str, url: str, headers: dict[str, str] | None = None, **kwargs: Any) -> httpx.Response:
        response = self.client.request(method, url, headers={**bearer(self.token), **(headers or {})}, **kwargs)
        fresh = response.headers.get("x-new-token")
        if fresh:
            self.token = fresh
            if fresh not in self.seen:
                self.seen.append(fresh)
        return response

    def create(self, endpoint: str, length: int, **headers: str) -> str:
        response = self.request("POST", endpoint, headers={"Upload-Length": str(length), **headers})
        assert response.status_code == 201, response.text
        return response.headers["Location"]

    def download_sha256(self, url: str) -> str:
        digest = hashlib.sha256()
        with self.client.stream("GET", url, headers={"Authorization": f"Bearer {self.token}"}) as response:
            assert response.status_code == 200, response.read()
            fresh = response.headers.get("x-new-token")
            for block in response.iter_bytes():
                digest.update(block)
        if fresh:
            self.token = fresh
        return digest.hexdigest()

    def close(self) -> None:
        if self.owned:
            self.client.close()
