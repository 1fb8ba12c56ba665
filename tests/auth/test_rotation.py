"""Uploads that outlive their tokens: rotation across many PATCHes, across one long PATCH, and after expiry.

The server runs with `--token-ttl 2` (leeway 1 s), so any token dies about 3 s after it was issued. The
uploads below are throttled on the client (a pacing rate limit, as `--limit-rate` would do) to last at
least 12 s, so they only finish if the rotation works.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.auth.session import PATCH_HEADERS, ROTATING, SECRET, TokenChain, bearer, decode, mint, sha256_file
from tests.conftest import ServerFactory
from tests.support import TUS, LiveServer, wait_for

MiB = 1024 * 1024
SIZE = 50 * MiB
CHUNK = MiB
MIN_DURATION_S = 12.0
PIECES = SIZE // CHUNK
INTERVAL_S = MIN_DURATION_S / (PIECES - 1)


def pace(start: float, index: int) -> None:
    """Client-side rate limit: piece `index` is not sent before `start + index * INTERVAL_S`."""
    delay = start + index * INTERVAL_S - time.monotonic()
    if delay > 0:
        time.sleep(delay)


@pytest.fixture(scope="module")
def big_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("rotation") / "big.bin"
    path.write_bytes(os.urandom(SIZE))
    return path


def _assert_dead(server: LiveServer, url: str, token: str) -> None:
    response = httpx.head(url, headers=bearer(token))
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith('Bearer error="invalid_token"')


def _chunked_upload(server: LiveServer, path: Path) -> tuple[str, TokenChain, float]:
    chain = TokenChain(mint("chunked", ttl=2))
    url = chain.create(server.endpoint, SIZE)
    start = time.monotonic()
    with path.open("rb") as f:
        for index in range(PIECES):
            pace(start, index)
            response = chain.request(
                "PATCH", url, headers={**PATCH_HEADERS, "Upload-Offset": str(index * CHUNK)}, content=f.read(CHUNK)
            )
            assert response.status_code == 204, response.text
    return url, chain, time.monotonic() - start


def _single_patch(server: LiveServer, path: Path) -> tuple[str, TokenChain, float, float]:
    chain = TokenChain(mint("one-patch", ttl=2))
    url = chain.create(server.endpoint, SIZE)

    def body() -> Iterator[bytes]:
        with path.open("rb") as f:
            for index in range(PIECES):
                pace(start, index)
                yield f.read(CHUNK)

    started_at = time.time()
    start = time.monotonic()
    response = chain.request("PATCH", url, headers={**PATCH_HEADERS, "Upload-Offset": "0"}, content=body())
    assert response.status_code == 204, response.text
    assert response.headers["Upload-Offset"] == str(SIZE)
    return url, chain, time.monotonic() - start, started_at


def test_uploads_outlive_their_tokens(server_factory: ServerFactory, big_file: Path) -> None:
    server = server_factory(*ROTATING)
    with ThreadPoolExecutor(2) as pool:
        chunked = pool.submit(_chunked_upload, server, big_file)
        single = pool.submit(_single_patch, server, big_file)
        url_a, chain_a, elapsed_a = chunked.result()
        url_b, chain_b, elapsed_b, started_b = single.result()
    expected = sha256_file(big_file)

    # 50 PATCHes over >= 12 s, each sent with the newest token: many distinct tokens, and the first is dead.
    assert elapsed_a >= MIN_DURATION_S
    assert len(chain_a.seen) >= 10
    _assert_dead(server, url_a, chain_a.first)
    # Checked with a token of their own: the chains' last tokens may have died while the other upload ran.
    assert _download_sha256("chunked", url_a) == expected

    # One PATCH of >= 12 s: checked when it started, finished long after its token died, and got a fresh token.
    assert elapsed_b >= MIN_DURATION_S
    fresh = decode(chain_b.token, verify_exp=False)  # issued at the PATCH's end; it may have died since
    assert fresh["sub"] == "one-patch" and fresh["iat"] >= started_b + MIN_DURATION_S - 1
    _assert_dead(server, url_b, chain_b.first)
    assert _download_sha256("one-patch", url_b) == expected
    chain_a.close()
    chain_b.close()


def _download_sha256(sub: str, url: str) -> str:
    chain = TokenChain(mint(sub, ttl=60))
    try:
        return chain.download_sha256(url)
    finally:
        chain.close()


class Interrupted(Exception):
    pass


def test_resume_with_a_new_token_after_expiry(server_factory: ServerFactory, tmp_path: Path) -> None:
    server = server_factory(*ROTATING)
    data = os.urandom(3 * MiB)
    chain = TokenChain(mint("resumer", ttl=2))
    url = chain.create(server.endpoint, len(data))
    assert chain.request("PATCH", url, headers={**PATCH_HEADERS, "Upload-Offset": "0"}, content=data[:MiB]).is_success

    def broken_body() -> Iterator[bytes]:
        yield data[MiB : MiB + 256 * 1024]
        yield data[MiB + 256 * 1024 : MiB + 512 * 1024]
        raise Interrupted  # the link drops mid-PATCH

    with pytest.raises(Interrupted):
        chain.request("PATCH", url, headers={**PATCH_HEADERS, "Upload-Offset": str(MiB)}, content=broken_body())
    stale = chain.token

    # The client is idle; poll with the token it holds until the server refuses it as expired.
    def refused() -> httpx.Response | None:
        response = httpx.head(url, headers=bearer(stale))
        return response if response.status_code == 401 else None

    response = wait_for(refused, timeout=20, interval=0.2, what="the held token to expire")
    assert response.headers["WWW-Authenticate"] == (
        'Bearer error="invalid_token", error_description="token has expired"'
    )

    # The platform hands out a new token (here: the CLI), and the client resumes with HEAD.
    minted = subprocess.run(
        [sys.executable, "-m", "tusserver", "token", "--sub", "resumer", "--ttl", "2", "--jwt-secret", SECRET],
        capture_output=True, text=True, check=True, env={k: v for k, v in os.environ.items() if "TUSSERVER" not in k},
    )  # fmt: skip
    resumed = TokenChain(minted.stdout.strip())
    head = resumed.request("HEAD", url)
    assert head.status_code == 200
    offset = int(head.headers["Upload-Offset"])
    assert MiB <= offset <= MiB + 512 * 1024  # nothing stored is lost
    while offset < len(data):
        piece = data[offset : offset + MiB]
        response = resumed.request("PATCH", url, headers={**PATCH_HEADERS, "Upload-Offset": str(offset)}, content=piece)
        assert response.status_code == 204, response.text
        offset = int(response.headers["Upload-Offset"])
    assert resumed.download_sha256(url) == hashlib.sha256(data).hexdigest()
    assert httpx.head(url, headers={**TUS}).status_code == 401
    resumed.close()
    chain.close()
