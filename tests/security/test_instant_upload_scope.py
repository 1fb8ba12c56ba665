"""Instant upload must not turn a digest into a key to someone else's file.

The attack of issue #11, auth off: the victim uploads a document made from a public template; the
attacker computes the digests of the likely variants and POSTs each with `Repr-Digest` and the length.
A hit used to answer with a complete upload holding the victim's bytes. `--instant-upload auto` (the
default) is now off without auth; `on` keeps the old shared scope for those who want it.
"""

from __future__ import annotations

import base64
import hashlib

import httpx

from tests.auth.session import SECRET, bearer, mint
from tests.conftest import AppFactory
from tests.support import TUS, Server

PATCH = {"Content-Type": "application/offset+octet-stream"}
TEMPLATE = b"Dear %s, your salary for 2026 is %d EUR.\n"


def digest_of(data: bytes) -> str:
    return f"sha-256=:{base64.b64encode(hashlib.sha256(data).digest()).decode()}:"


def upload_whole(server: Server, headers: dict[str, str], data: bytes) -> httpx.Response:
    h = {**headers, **PATCH, "Upload-Length": str(len(data)), "Repr-Digest": digest_of(data)}
    return server.client.post(server.endpoint, headers=h, content=data)


def guess(server: Server, headers: dict[str, str], data: bytes) -> httpx.Response:
    h = {**headers, "Upload-Length": str(len(data)), "Repr-Digest": digest_of(data)}
    return server.client.post(server.endpoint, headers=h)


def test_auth_off_default_a_guessed_digest_gets_nothing(app_factory: AppFactory) -> None:
    server = app_factory()
    secret = TEMPLATE % (b"Ada", 91234)
    victim = upload_whole(server, TUS, secret)
    assert victim.status_code == 201 and victim.headers["Upload-Offset"] == str(len(secret))
    hits = []
    for salary in range(91230, 91240):  # the attacker enumerates the template's variants
        r = guess(server, TUS, TEMPLATE % (b"Ada", salary))
        assert r.status_code == 201, r.text
        if r.headers.get("Upload-Offset") == r.headers.get("Upload-Length", str(len(secret))):
            hits.append(salary)
        got = server.client.get(r.headers["Location"])
        assert got.status_code == 409 and secret not in got.content  # an empty upload, not the file
    assert hits == []


def test_instant_upload_off_still_verifies_the_digest(app_factory: AppFactory) -> None:
    server = app_factory("--jwt-secret", SECRET, "--instant-upload", "off")
    alice = bearer(mint("alice", ttl=600))
    data = TEMPLATE % (b"Alice", 1)
    assert upload_whole(server, alice, data).status_code == 201
    again = guess(server, alice, data)
    assert again.status_code == 201 and "Upload-Offset" not in again.headers  # not linked, even for the owner
    h = {**alice, **PATCH, "Upload-Length": str(len(data)), "Repr-Digest": digest_of(data)}
    wrong = server.client.post(server.endpoint, headers=h, content=b"X" * len(data))
    assert wrong.status_code == 460, wrong.text  # the contract's check at the last byte still runs


def test_auth_on_default_scope_is_the_owner(app_factory: AppFactory) -> None:
    server = app_factory("--jwt-secret", SECRET)
    alice, mallory = bearer(mint("alice", ttl=600)), bearer(mint("mallory", ttl=600))
    data = TEMPLATE % (b"Alice", 2)
    assert upload_whole(server, alice, data).status_code == 201
    assert guess(server, alice, data).headers.get("Upload-Offset") == str(len(data))  # auto = on with auth
    stolen = guess(server, mallory, data)
    assert stolen.status_code == 201 and "Upload-Offset" not in stolen.headers


def test_instant_upload_on_with_auth_off_shares_one_scope(app_factory: AppFactory) -> None:
    """Explicitly chosen: every client is one owner, as the setting's help says."""
    server = app_factory("--instant-upload", "on")
    data = TEMPLATE % (b"Pub", 3)
    assert upload_whole(server, TUS, data).status_code == 201
    r = guess(server, TUS, data)
    assert r.headers.get("Upload-Offset") == str(len(data))
    assert server.client.get(r.headers["Location"]).content == data
