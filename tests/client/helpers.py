"""Shared by the client tests: a rotating-token server, files, and how many body bytes the server got."""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
from pathlib import Path

import httpx

SECRET = "client-secret"
ROTATING = ("--jwt-secret", SECRET, "--token-ttl", "2", "--jwt-leeway", "1", "--metrics")
MiB = 1024 * 1024


def token_command(sub: str = "alice", ttl: int = 5) -> str:
    return f"{sys.executable} -m tusserver token --sub {sub} --ttl {ttl} --jwt-secret {SECRET}"


def mint(sub: str = "alice", ttl: int = 30) -> str:
    """A platform token from `tusserver token` (a subprocess: up to seconds on a busy machine, so a test
    that polls mints once, and a token meant to die soon is minted with an explicit short `ttl`)."""
    done = subprocess.run(token_command(sub, ttl).split(), capture_output=True, text=True, check=True)
    return done.stdout.strip()


def random_file(path: Path, size: int) -> Path:
    with path.open("wb") as fh:
        for _ in range(size // MiB):
            fh.write(os.urandom(MiB))
        fh.write(os.urandom(size % MiB))
    return path


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(MiB):
            digest.update(block)
    return digest.hexdigest()


def download_sha256(url: str, token: str | None = None) -> str:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    digest = hashlib.sha256()
    with httpx.stream("GET", url, headers=headers, timeout=60) as response:
        assert response.status_code == 200, response.read()
        for block in response.iter_bytes():
            digest.update(block)
    return digest.hexdigest()


def body_bytes_received(base_url: str, token: str | None = None) -> float:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    text = httpx.get(f"{base_url}/metrics", headers=headers).text
    match = re.search(r"^tusserver_request_body_bytes_total ([0-9.e+]+)$", text, re.M)
    return float(match.group(1)) if match else 0.0
