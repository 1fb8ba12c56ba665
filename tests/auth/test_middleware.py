"""JWTAuthMiddleware against a real server: challenges, rotation on every status, scopes, CORS, logs."""

from __future__ import annotations

import base64
import hashlib
import time
from pathlib import Path

import httpx
import pytest

from tests.auth.keys import claims, rsa_pair
from tests.auth.session import PATCH_HEADERS, TokenChain, bearer, decode, mint
from tests.conftest import ServerFactory
from tests.support import TUS, LiveServer, wait_for


def _assert_one_line_401(response: httpx.Response) -> None:
    assert response.status_code == 401
    assert response.headers["Tus-Resumable"] == "1.0.0"
    assert response.headers["Content-Type"].startswith("text/plain")
    assert response.text.endswith("\n") and response.text.count("\n") == 1
    assert "x-new-token" not in response.headers


def test_missing_token_is_a_bare_bearer_challenge(auth_server: LiveServer) -> None:
    response = httpx.post(auth_server.endpoint, headers={**TUS, "Upload-Length": "1"})
    _assert_one_line_401(response)
    assert response.headers["WWW-Authenticate"] == "Bearer"
    head = httpx.head(f"{auth_server.endpoint}abc", headers=TUS)
    assert head.status_code == 401 and head.content == b""
    assert head.headers["WWW-Authenticate"] == "Bearer"


def test_invalid_token_challenge_names_the_reason(auth_server: LiveServer) -> None:
    expired = mint(ttl=-30)
    response = httpx.post(auth_server.endpoint, headers={**bearer(expired), "Upload-Length": "1"})
    _assert_one_line_401(response)
    assert response.headers["WWW-Authenticate"] == (
        'Bearer error="invalid_token", error_description="token has expired"'
    )
    assert response.text == "token has expired\n"


def test_options_needs_no_token(auth_server: LiveServer) -> None:
    response = httpx.options(auth_server.endpoint)
    assert response.status_code == 204
    assert "creation" in response.headers["Tus-Extension"]
    preflight = httpx.options(
        f"{auth_server.endpoint}abc",
        headers={"Origin": "https://app.test", "Access-Control-Request-Method": "PATCH",
                 "Access-Control-Request-Headers": "authorization,upload-offset"},
    )  # fmt: skip
    assert preflight.status_code == 200
    assert "authorization" in preflight.headers["Access-Control-Allow-Headers"].lower()


def test_cors_exposes_x_new_token(auth_server: LiveServer) -> None:
    response = httpx.post(
        auth_server.endpoint, headers={**bearer(mint("cors")), "Upload-Length": "3", "Origin": "https://app.test"}
    )
    assert response.status_code == 201
    exposed = {h.strip().lower() for h in response.headers["Access-Control-Expose-Headers"].split(",")}
    assert {"x-new-token", "location", "upload-offset", "www-authenticate"} <= exposed
    assert decode(response.headers["X-New-Token"])["sub"] == "cors"


def test_every_status_rotates_and_stays_owner_scoped(auth_server: LiveServer) -> None:
    chain = TokenChain(mint("rot"))
    other = TokenChain(mint("someone-else"))
    url = chain.create(auth_server.endpoint, 4)
    bad_sum = base64.b64encode(hashlib.sha1(b"nope").digest()).decode()
    cases: list[tuple[str, str, dict[str, str], bytes, int]] = [
        ("HEAD", url, {}, b"", 200),
        ("PATCH", url, {**PATCH_HEADERS, "Upload-Offset": "0"}, b"ab", 204),
        ("PATCH", url, {**PATCH_HEADERS, "Upload-Offset": "0"}, b"cd", 409),
        ("PATCH", url, {"Content-Type": "text/plain", "Upload-Offset": "2"}, b"cd", 415),
        ("PATCH", url, {**PATCH_HEADERS, "Upload-Offset": "2", "Upload-Checksum": f"sha1 {bad_sum}"}, b"cd", 460),
        ("HEAD", url, {"Tus-Resumable": "0.2.2"}, b"", 412),
        ("GET", url, {}, b"", 409),
        ("HEAD", f"{auth_server.endpoint}doesnotexist00000000", {}, b"", 404),
    ]
    for method, target, headers, body, status in cases:
        before = time.time()
        response = chain.request(method, target, headers=headers, content=body)
        assert response.status_code == status, (method, headers, response.text)
        claims = decode(response.headers["X-New-Token"])
        # Same owner, never narrowed to the upload of the request (the contract changed: owner-scoped).
        assert claims["sub"] == "rot" and "upload_id" not in claims, (status, claims)
        assert claims["exp"] >= before + 2
    # Another user: 403, still rotated, and never scoped to the upload it may not touch.
    forbidden = other.request("HEAD", url)
    assert forbidden.status_code == 403 and "insufficient_scope" not in forbidden.headers.get("www-authenticate", "")
    assert decode(forbidden.headers["X-New-Token"])["sub"] == "someone-else"


def test_one_token_serves_every_upload_of_its_owner(auth_server: LiveServer) -> None:
    """The token a response to upload `first` returned works on `second` too (was 403 when tokens were
    scoped per upload); only a platform token with `upload_id` is restricted, and it creates nothing."""
    chain = TokenChain(mint("scoped"))
    first = chain.create(auth_server.endpoint, 1)
    second = chain.create(auth_server.endpoint, 1)
    assert "upload_id" not in decode(chain.token)
    response = chain.request("HEAD", first)
    assert response.status_code == 200 and "upload_id" not in decode(response.headers["X-New-Token"])
    restricted = TokenChain(mint("scoped", upload_id=second.rsplit("/", 1)[1]))
    assert restricted.request("HEAD", second).status_code == 200
    response = restricted.request("HEAD", first)
    assert response.status_code == 403
    assert response.headers["WWW-Authenticate"] == 'Bearer error="insufficient_scope"'
    # The refused request rotates the token without widening or moving its restriction.
    assert decode(response.headers["X-New-Token"])["upload_id"] == second.rsplit("/", 1)[1]
    refused = restricted.request("POST", auth_server.endpoint, headers={"Upload-Length": "1"})
    assert refused.status_code == 403 and refused.headers["WWW-Authenticate"] == 'Bearer error="insufficient_scope"'


def test_download_needs_the_bearer_token(auth_server: LiveServer) -> None:
    chain = TokenChain(mint("dl"))
    url = chain.create(auth_server.endpoint, 5)
    assert chain.request("PATCH", url, headers={**PATCH_HEADERS, "Upload-Offset": "0"}, content=b"hello").is_success
    anonymous = httpx.get(url)
    assert anonymous.status_code == 401 and anonymous.headers["WWW-Authenticate"] == "Bearer"
    assert httpx.get(url, headers={"Authorization": f"Bearer {mint('intruder')}"}).status_code == 403
    response = chain.request("GET", url)
    assert response.status_code == 200 and response.content == b"hello"
    assert decode(response.headers["X-New-Token"])["sub"] == "dl"


def test_max_size_claim_caps_upload_length(auth_server: LiveServer) -> None:
    chain = TokenChain(mint("capped", max_size=1000))
    response = chain.request("POST", auth_server.endpoint, headers={"Upload-Length": "1001"})
    assert response.status_code == 413 and "max_size" in response.text
    assert decode(response.headers["X-New-Token"])["max_size"] == 1000
    chain.create(auth_server.endpoint, 1000)
    assert decode(chain.token)["max_size"] == 1000
    response = chain.request("POST", auth_server.endpoint, headers={"Upload-Defer-Length": "1"})
    assert response.status_code == 201
    late = chain.request(
        "PATCH", response.headers["Location"],
        headers={**PATCH_HEADERS, "Upload-Offset": "0", "Upload-Length": "5000"}, content=b"",
    )  # fmt: skip
    assert late.status_code == 413


def test_final_concatenation_needs_access_to_every_part(auth_server: LiveServer) -> None:
    alice = TokenChain(mint("concat-alice"))
    parts = []
    for data in (b"hello ", b"world"):
        url = alice.create(auth_server.endpoint, len(data), **{"Upload-Concat": "partial"})
        response = alice.request("PATCH", url, headers={**PATCH_HEADERS, "Upload-Offset": "0"}, content=data)
        assert response.status_code == 204
        parts.append(url)
    final_header = {"Upload-Concat": "final;" + " ".join(parts)}
    # A token restricted to the first part may not read the second through a final (it used to be enough).
    scoped = TokenChain(mint("concat-alice", upload_id=parts[0].rsplit("/", 1)[1]))
    refused = scoped.request("POST", auth_server.endpoint, headers=final_header)
    assert refused.status_code == 403 and refused.headers["WWW-Authenticate"] == 'Bearer error="insufficient_scope"'
    bob = TokenChain(mint("concat-bob"))
    assert bob.request("POST", auth_server.endpoint, headers=final_header).status_code == 400  # as if missing
    # Any token of the owner will do: here one rotated by an unrelated upload's POST.
    unrelated = TokenChain(mint("concat-alice"))
    unrelated.create(auth_server.endpoint, 1)
    response = unrelated.request("POST", auth_server.endpoint, headers=final_header)
    assert response.status_code == 201, response.text
    final = response.headers["Location"]
    assert "upload_id" not in decode(unrelated.token)

    def finished() -> bool:
        return unrelated.request("GET", final).status_code == 200

    wait_for(finished, timeout=15, what="final upload assembled")
    assert unrelated.request("GET", final).content == b"hello world"


def test_tokens_never_reach_the_logs(auth_server: LiveServer) -> None:
    chain = TokenChain(mint("logged"))
    url = chain.create(auth_server.endpoint, 2)
    chain.request("PATCH", url, headers={**PATCH_HEADERS, "Upload-Offset": "0"}, content=b"hi")
    chain.request("HEAD", f"{auth_server.endpoint}doesnotexist00000000")
    bad = mint("logged", ttl=-60)
    httpx.head(url, headers=bearer(bad))
    httpx.head(url, headers={**TUS, "Authorization": "Bearer not.a.jwt"})
    log = auth_server.log_path.read_text(errors="replace")
    assert "401" in log  # the refusals were logged...
    for token in [*chain.seen, bad]:
        signature = token.rsplit(".", 1)[1]
        assert signature not in log  # ...but no token, nor any part that would let one be replayed
    assert "not.a.jwt" not in log


@pytest.mark.parametrize("method", ["POST", "PATCH"])
def test_method_override_is_authenticated_too(auth_server: LiveServer, method: str) -> None:
    response = httpx.post(
        f"{auth_server.endpoint}whatever", headers={**TUS, "X-HTTP-Method-Override": method, "Upload-Length": "1"}
    )
    assert response.status_code == 401


def test_max_size_claim_caps_deferred_length_bytes(auth_server: LiveServer) -> None:
    chain = TokenChain(mint("capped-deferred", max_size=1000))
    response = chain.request("POST", auth_server.endpoint, headers={"Upload-Defer-Length": "1"})
    assert response.status_code == 201
    url = response.headers["Location"]
    over = chain.request("PATCH", url, headers={**PATCH_HEADERS, "Upload-Offset": "0"}, content=b"x" * 1001)
    assert over.status_code == 413, over.text
    assert chain.request("HEAD", url).headers["Upload-Offset"] == "0"
    ok = chain.request("PATCH", url, headers={**PATCH_HEADERS, "Upload-Offset": "0"}, content=b"x" * 1000)
    assert ok.status_code == 204
    with_body = chain.request(
        "POST", auth_server.endpoint, headers={**PATCH_HEADERS, "Upload-Defer-Length": "1"}, content=b"x" * 1001
    )
    assert with_body.status_code == 413, with_body.text


def test_workers_share_the_rotation_secret_without_jwt_secret(server_factory: ServerFactory, tmp_path: Path) -> None:
    """Only a public key and two workers: a token rotated by one worker must be accepted by the other."""
    pair = rsa_pair()
    server = server_factory("--jwt-public-key", str(pair.write_pem(tmp_path)), "--workers", "2", "--token-ttl", "5")
    token = pair.sign(claims("worker-user", 60), "RS256")
    url = TokenChain(token).create(server.endpoint, 1)
    for _ in range(16):  # a new connection each time, so the requests land on both workers
        response = httpx.head(url, headers=bearer(token))
        assert response.status_code == 200, response.text
        token = response.headers["X-New-Token"]
    assert "shared --jwt-secret" in server.log()
