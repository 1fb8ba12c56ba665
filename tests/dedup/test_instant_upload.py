"""Instant upload: a file the same owner already stored is not sent again; whole-file digests are verified."""

from __future__ import annotations

import base64
import hashlib
import os
import re
from pathlib import Path

import httpx
import pytest

from tests.auth.session import SECRET, TokenChain, mint
from tests.conftest import AppFactory, ServerFactory
from tests.support import PATCH, TUS, InProcessServer, Server

MiB = 1024 * 1024


@pytest.fixture(scope="module")
def fifty_mib() -> bytes:
    return os.urandom(50 * MiB)


def digest_header(data: bytes, algorithm: str = "sha-256") -> str:
    h = hashlib.sha256(data) if algorithm == "sha-256" else hashlib.sha512(data)
    return f"{algorithm}=:{base64.b64encode(h.digest()).decode()}:"


def received(server: Server) -> float:
    text = server.client.get(f"{server.url}/metrics").text
    match = re.search(r"^tusserver_request_body_bytes_total ([0-9.e+]+)$", text, re.M)
    return float(match.group(1)) if match else 0.0


def post(http: httpx.Client, endpoint: str, length: int, **headers: str) -> httpx.Response:
    named = {k.replace("_", "-"): v for k, v in headers.items()}
    return http.post(endpoint, headers={**TUS, "Upload-Length": str(length), **named})


def full_upload(http: httpx.Client, endpoint: str, data: bytes, headers: dict[str, str] | None = None) -> str:
    r = http.post(endpoint, headers={**TUS, "Upload-Length": str(len(data)), **(headers or {})})
    assert r.status_code == 201, r.text
    url = r.headers["Location"]
    for offset in range(0, len(data), 8 * MiB):
        r = http.patch(url, content=data[offset : offset + 8 * MiB], headers={**PATCH, "Upload-Offset": str(offset)})
        assert r.status_code == 204, r.text
    return url


def test_second_upload_is_instant_and_independent(app_factory: AppFactory, fifty_mib: bytes) -> None:
    server = app_factory("--metrics")
    digest = digest_header(fifty_mib)
    http = server.client
    first = full_upload(http, server.endpoint, fifty_mib, {"Repr-Digest": digest})
    before = received(server)
    r = http.post(server.endpoint, headers={**TUS, "Upload-Length": str(len(fifty_mib)), "Repr-Digest": digest})
    assert r.status_code == 201
    assert r.headers["Upload-Offset"] == str(len(fifty_mib))  # complete in one request
    second = r.headers["Location"]
    assert second != first
    assert received(server) == before  # zero body bytes
    head = http.head(second, headers=TUS)
    assert head.headers["Upload-Offset"] == head.headers["Upload-Length"] == str(len(fifty_mib))
    # Deleting the first never affects the second.
    assert http.delete(first, headers=TUS).status_code == 204
    assert hashlib.sha256(http.get(second).content).digest() == hashlib.sha256(fifty_mib).digest()


def test_duplicate_creation_with_body_discards_the_body(app: InProcessServer) -> None:
    server = app
    data = os.urandom(300_000)
    digest = digest_header(data)
    http = server.client
    full_upload(http, server.endpoint, data, {"Repr-Digest": digest})
    headers = {**TUS, "Upload-Length": str(len(data)), "Repr-Digest": digest,
               "Content-Type": "application/offset+octet-stream"}  # fmt: skip
    r = http.post(server.endpoint, headers=headers, content=data)
    assert r.status_code == 201 and r.headers["Upload-Offset"] == str(len(data))
    assert http.get(r.headers["Location"]).content == data
    assert http.options(server.endpoint).status_code == 204  # the client (and server) carry on


def test_without_a_verified_first_upload_there_is_no_shortcut(app: InProcessServer) -> None:
    server = app
    data = os.urandom(1000)
    http = server.client
    full_upload(http, server.endpoint, data)  # no Repr-Digest: never indexed
    r = http.post(server.endpoint, headers={**TUS, "Upload-Length": "1000", "Repr-Digest": digest_header(data)})
    assert r.status_code == 201 and "Upload-Offset" not in r.headers
    r = http.post(server.endpoint, headers={**TUS, "Upload-Length": "999", "Repr-Digest": digest_header(data)})
    assert "Upload-Offset" not in r.headers  # same digest, other length: not the same file


def test_wrong_declared_digest_is_460_and_nothing_is_kept(app: InProcessServer) -> None:
    server = app
    data = os.urandom(3 * MiB)
    http = server.client
    r = http.post(
        server.endpoint, headers={**TUS, "Upload-Length": str(len(data)), "Repr-Digest": digest_header(b"other")}
    )
    url = r.headers["Location"]
    assert http.patch(url, content=data[:MiB], headers={**PATCH, "Upload-Offset": "0"}).status_code == 204
    r = http.patch(url, content=data[MiB:], headers={**PATCH, "Upload-Offset": str(MiB)})
    assert r.status_code == 460
    assert http.head(url, headers=TUS).status_code in (404, 410)
    assert http.get(url).status_code in (404, 410)
    # And the wrong digest did not enter the index.
    r = http.post(
        server.endpoint, headers={**TUS, "Upload-Length": str(len(data)), "Repr-Digest": digest_header(b"other")}
    )
    assert "Upload-Offset" not in r.headers


@pytest.mark.parametrize("algorithm", ["sha-256", "sha-512"])
def test_algorithms_and_parsing(app: InProcessServer, algorithm: str) -> None:
    server = app
    data = os.urandom(5000)
    http = server.client
    full_upload(http, server.endpoint, data, {"Repr-Digest": digest_header(data, algorithm)})
    r = http.post(
        server.endpoint, headers={**TUS, "Upload-Length": "5000", "Repr-Digest": digest_header(data, algorithm)}
    )
    assert r.headers["Upload-Offset"] == "5000"
    bad = http.post(server.endpoint, headers={**TUS, "Upload-Length": "5000", "Repr-Digest": "sha-256=:nope:"})
    assert bad.status_code == 400
    unknown = http.post(server.endpoint, headers={**TUS, "Upload-Length": "5000", "Repr-Digest": "md5=:AAAA:"})
    assert unknown.status_code == 201 and "Upload-Offset" not in unknown.headers  # ignored, as RFC 9530 says


def test_verification_survives_sigkill_and_resume(server_factory: ServerFactory, tmp_path: Path) -> None:
    data = os.urandom(6 * MiB)
    server = server_factory()
    with httpx.Client(timeout=30) as http:
        r = http.post(
            server.endpoint, headers={**TUS, "Upload-Length": str(len(data)), "Repr-Digest": digest_header(data)}
        )
        path = httpx.URL(r.headers["Location"]).path
        assert (
            http.patch(server.url + path, content=data[: 4 * MiB], headers={**PATCH, "Upload-Offset": "0"}).status_code
            == 204
        )
    server.kill()
    server.start()
    with httpx.Client(timeout=30) as http:
        url = server.url + path
        offset = int(http.head(url, headers=TUS).headers["Upload-Offset"])
        assert offset == 4 * MiB
        r = http.patch(url, content=data[offset:], headers={**PATCH, "Upload-Offset": str(offset)})
        assert r.status_code == 204  # the running hash was rebuilt from the stored bytes and matched
        again = http.post(
            server.endpoint, headers={**TUS, "Upload-Length": str(len(data)), "Repr-Digest": digest_header(data)}
        )
        assert again.headers["Upload-Offset"] == str(len(data))


def test_final_concatenation_digest(app: InProcessServer) -> None:
    server = app
    pieces = [os.urandom(2000), os.urandom(3000)]
    whole = b"".join(pieces)
    http = server.client
    parts = [full_upload(http, server.endpoint, p, {"Upload-Concat": "partial"}) for p in pieces]
    good = http.post(
        server.endpoint,
        headers={**TUS, "Upload-Concat": "final;" + " ".join(parts), "Repr-Digest": digest_header(whole)},
    )
    bad = http.post(
        server.endpoint,
        headers={**TUS, "Upload-Concat": "final;" + " ".join(parts), "Repr-Digest": digest_header(b"x")},
    )
    from tests.support import wait_for

    wait_for(lambda: http.get(good.headers["Location"]).status_code == 200, what="good final assembled")
    wait_for(
        lambda: http.head(bad.headers["Location"], headers=TUS).status_code in (404, 410),
        what="bad final discarded",
    )
    r = http.post(
        server.endpoint, headers={**TUS, "Upload-Length": str(len(whole)), "Repr-Digest": digest_header(whole)}
    )
    assert r.headers["Upload-Offset"] == str(len(whole))  # the verified final entered the index


def test_dedup_is_scoped_to_the_owner(app_factory: AppFactory) -> None:
    server = app_factory("--jwt-secret", SECRET, "--token-ttl", "30", "--metrics")
    data = os.urandom(2 * MiB)
    digest = digest_header(data)
    alice, bob = TokenChain(mint("alice", 60), client=server.client), TokenChain(mint("bob", 60), client=server.client)
    try:
        url = alice.create(server.endpoint, len(data), **{"Repr-Digest": digest})
        r = alice.request("PATCH", url, headers={**PATCH, "Upload-Offset": "0"}, content=data)
        assert r.status_code == 204
        # Bob claims the same digest: he gets an ordinary, empty upload and must send every byte.
        r = bob.request("POST", server.endpoint, headers={"Upload-Length": str(len(data)), "Repr-Digest": digest})
        assert r.status_code == 201 and "Upload-Offset" not in r.headers
        bobs = r.headers["Location"]
        assert bob.request("HEAD", bobs).headers["Upload-Offset"] == "0"
        assert bob.request("GET", url).status_code == 403
        # Alice's second upload is instant.
        r = alice.request("POST", server.endpoint, headers={"Upload-Length": str(len(data)), "Repr-Digest": digest})
        assert r.headers["Upload-Offset"] == str(len(data))
    finally:
        alice.close()
        bob.close()


def test_another_user_cannot_probe_or_obtain_a_file(app_factory: AppFactory) -> None:
    server = app_factory("--jwt-secret", SECRET)
    data = os.urandom(MiB)
    digest = digest_header(data)
    alice, bob = TokenChain(mint("alice", 60), client=server.client), TokenChain(mint("bob", 60), client=server.client)
    try:
        r = alice.request(
            "POST",
            server.endpoint,
            headers={**PATCH, "Upload-Length": str(len(data)), "Repr-Digest": digest},
            content=data,
        )
        assert r.status_code == 201 and r.headers["Upload-Offset"] == str(len(data))
        # Bob's answer for Alice's digest looks exactly like his answer for a digest nobody has.
        known = bob.request("POST", server.endpoint, headers={"Upload-Length": str(len(data)), "Repr-Digest": digest})
        unknown = bob.request(
            "POST", server.endpoint, headers={"Upload-Length": str(len(data)), "Repr-Digest": digest_header(b"none")}
        )
        varying = {"date", "location", "x-new-token", "upload-expires"}
        assert known.status_code == unknown.status_code == 201
        assert {k: v for k, v in known.headers.items() if k not in varying} == {
            k: v for k, v in unknown.headers.items() if k not in varying
        }
        # Claiming Alice's digest with other bytes gets Bob a 460, never Alice's file.
        junk = os.urandom(len(data))
        r = bob.request(
            "POST",
            server.endpoint,
            headers={**PATCH, "Upload-Length": str(len(data)), "Repr-Digest": digest},
            content=junk,
        )
        assert r.status_code == 460
        assert bob.request("GET", r.headers["Location"]).status_code in (404, 410)
        # With the right bytes, Bob stores his own copy (sent in full) and Alice's is untouched.
        r = bob.request(
            "POST",
            server.endpoint,
            headers={**PATCH, "Upload-Length": str(len(data)), "Repr-Digest": digest},
            content=data,
        )
        assert r.status_code == 201 and r.headers["Upload-Offset"] == str(len(data))
        assert bob.request("GET", r.headers["Location"]).content == data
    finally:
        alice.close()
        bob.close()
