"""One token variable for all of an owner's uploads; only a platform `upload_id` restricts a token.

Clients such as tus-js-client's `parallelUploads`, Uppy, a thread pool or a curl loop keep ONE token and
replace it with every `X-New-Token`. When rotated tokens were narrowed to the upload of their request, the
second upload (or the final concatenation) got 403 with the token the first one returned. Now a rotated
token keeps its owner's scope; a token the platform restricted with `upload_id` stays restricted through
every rotation, and cannot create uploads.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor

import httpx

from tests.auth.session import PATCH_HEADERS, ROTATING, bearer, decode, mint
from tests.conftest import AppFactory
from tests.support import wait_for

KiB = 1024
# Rotated tokens live 10 s (the flag after ROTATING wins): these tests are about scope, not expiry.
SERVER_ARGS = (*ROTATING, "--token-ttl", "10")
INSUFFICIENT = 'Bearer error="insufficient_scope"'


class SharedToken:
    """The single token variable of a parallel client: every thread sends it and stores the newest reply."""

    def __init__(self, token: str, client: httpx.Client) -> None:
        self.token = token
        self.lock = threading.Lock()
        self.client = client  # the server's

    def request(self, method: str, url: str, headers: dict[str, str] | None = None, **kw: object) -> httpx.Response:
        with self.lock:
            token = self.token
        response = self.client.request(method, url, headers={**bearer(token), **(headers or {})}, **kw)  # type: ignore[arg-type]
        fresh = response.headers.get("x-new-token")
        if fresh:
            with self.lock:
                self.token = fresh
        return response


def test_one_token_variable_uploads_parallel_parts_final_and_next_file(app_factory: AppFactory) -> None:
    server = app_factory(*SERVER_ARGS)
    shared = SharedToken(mint("parallel-user", ttl=10), server.client)
    data = os.urandom(96 * KiB)
    thirds = [data[i * 32 * KiB : (i + 1) * 32 * KiB] for i in range(3)]

    def post(headers: dict[str, str]) -> str:
        response = shared.request("POST", server.endpoint, headers=headers)
        assert response.status_code == 201, response.text
        return str(response.headers["Location"])

    parts = [post({"Upload-Length": str(len(t)), "Upload-Concat": "partial"}) for t in thirds]

    def send(index: int) -> None:
        # 4 KiB PATCHes, the threads interleaving: each request uses whatever token the last reply left.
        offset, piece = 0, thirds[index]
        while offset < len(piece):
            response = shared.request(
                "PATCH", parts[index], headers={**PATCH_HEADERS, "Upload-Offset": str(offset)},
                content=piece[offset : offset + 4 * KiB],
            )  # fmt: skip
            assert response.status_code == 204, (index, offset, response.status_code, response.text)
            offset = int(response.headers["Upload-Offset"])

    with ThreadPoolExecutor(3) as pool:
        for future in [pool.submit(send, i) for i in range(3)]:
            future.result()
    final = post({"Upload-Concat": "final;" + " ".join(parts)})
    wait_for(lambda: shared.request("GET", final).status_code == 200, timeout=30, what="the final assembled")
    assert shared.request("GET", final).content == data
    # The next file, with the same variable.
    nxt = post({"Upload-Length": "5"})
    assert shared.request("PATCH", nxt, headers={**PATCH_HEADERS, "Upload-Offset": "0"}, content=b"hello").is_success
    for url in [*parts, final, nxt]:
        assert shared.request("HEAD", url).status_code == 200
    claims = decode(shared.token)
    assert claims["sub"] == "parallel-user" and "upload_id" not in claims
    shared.client.close()


def test_platform_restricted_token_stays_restricted_through_rotation(app_factory: AppFactory) -> None:
    server = app_factory(*SERVER_ARGS)
    owner = SharedToken(mint("restricted-user", ttl=10), server.client)
    mine = owner.request("POST", server.endpoint, headers={"Upload-Length": "4"}).headers["Location"]
    elsewhere = owner.request("POST", server.endpoint, headers={"Upload-Length": "4"}).headers["Location"]
    upload_id = mine.rsplit("/", 1)[1]

    token = mint("restricted-user", ttl=10, upload_id=upload_id)
    for _ in range(3):  # the platform token, then two generations of rotated tokens
        ok = server.client.head(mine, headers=bearer(token))
        assert ok.status_code == 200
        assert decode(ok.headers["X-New-Token"])["upload_id"] == upload_id
        for method, url, headers in (
            ("HEAD", elsewhere, {}),
            ("PATCH", elsewhere, {**PATCH_HEADERS, "Upload-Offset": "0"}),
            ("DELETE", elsewhere, {}),
            ("GET", elsewhere, {}),
            ("POST", server.endpoint, {"Upload-Length": "4"}),  # cannot create uploads
            ("POST", server.endpoint, {"Upload-Concat": f"final;{mine} {mine}"}),  # not even a final of its own
        ):
            refused = server.client.request(method, url, headers={**bearer(token), **headers})
            assert refused.status_code == 403, (method, url, refused.text)
            assert refused.headers["WWW-Authenticate"] == INSUFFICIENT
            # Refused, yet rotated (the token was valid), and never wider: the restriction stays.
            assert decode(refused.headers["X-New-Token"])["upload_id"] == upload_id
        token = ok.headers["X-New-Token"]
    assert owner.request("HEAD", elsewhere).headers["Upload-Offset"] == "0"  # nothing happened to it
    owner.client.close()
