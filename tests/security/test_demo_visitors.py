"""Issue #22: demo visitors shared one owner (`sub` "demo"), so visitor 2 read visitor 1's upload; and
with a public key beside the secret the demo handed out tokens the server then refused.

Now each visitor is its own owner, kept in a signed cookie so its own second token still owns its
uploads; a forged cookie is a new visitor. Against a real server, each visitor a separate httpx client
with its own cookie jar, as separate browsers are."""

from __future__ import annotations

from pathlib import Path

import httpx
import jwt

from tests.auth.keys import rsa_pair
from tests.conftest import ServerFactory
from tests.support import PATCH, TUS

SECRET = "demo-visitors-secret-" + "v" * 24


def _token(browser: httpx.Client, url: str) -> str:
    response = browser.post(f"{url}/demo/token")
    assert response.status_code == 200, response.text
    return response.text


def test_visitors_do_not_share_an_owner(server_factory: ServerFactory) -> None:
    server = server_factory("--demo", "--jwt-secret", SECRET)
    with httpx.Client() as first, httpx.Client() as second:
        token1 = _token(first, server.url)
        auth1 = {**TUS, "Authorization": f"Bearer {token1}"}
        created = first.post(server.endpoint, headers={**auth1, "Upload-Length": "6"})
        assert created.status_code == 201
        url = created.headers["Location"]
        assert first.patch(url, headers={**PATCH, **auth1, "Upload-Offset": "0"}, content=b"secret").status_code == 204

        token2 = _token(second, server.url)
        sub1 = jwt.decode(token1, options={"verify_signature": False})["sub"]
        sub2 = jwt.decode(token2, options={"verify_signature": False})["sub"]
        assert sub1 != sub2 and sub1.startswith("demo-") and sub2.startswith("demo-")
        auth2 = {"Authorization": f"Bearer {token2}"}
        assert second.get(url, headers=auth2).status_code == 403
        assert second.head(url, headers={**TUS, **auth2}).status_code == 403

        # A forged cookie naming visitor 1 is a new visitor, not visitor 1.
        forged = httpx.Client(cookies={"tusserver-demo": sub1.removeprefix("demo-") + ".0000"})
        with forged:
            token3 = _token(forged, server.url)
        assert jwt.decode(token3, options={"verify_signature": False})["sub"] not in (sub1, sub2)
        assert httpx.get(url, headers={"Authorization": f"Bearer {token3}"}).status_code == 403

        # Visitor 1 again (its first token may have expired): the same owner, so it can resume its upload.
        again = _token(first, server.url)
        assert jwt.decode(again, options={"verify_signature": False})["sub"] == sub1
        head = first.head(url, headers={**TUS, "Authorization": f"Bearer {again}"})
        assert head.status_code == 200 and head.headers["Upload-Offset"] == "6"


def test_demo_tokens_are_accepted_with_a_public_key_beside_the_secret(
    server_factory: ServerFactory, tmp_path: Path
) -> None:
    key = rsa_pair().write_pem(tmp_path)
    server = server_factory("--demo", "--jwt-secret", SECRET, "--jwt-public-key", str(key))
    with httpx.Client() as browser:
        token = _token(browser, server.url)
        created = browser.post(
            server.endpoint, headers={**TUS, "Upload-Length": "1", "Authorization": f"Bearer {token}"}
        )
    assert created.status_code == 201, created.text
