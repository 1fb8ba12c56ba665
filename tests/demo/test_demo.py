"""--demo: the page and its files exist only with the flag, are self-contained, and /demo/token works
only with auth on (in-process; tests/browser/ drives the page itself in Chromium)."""

from __future__ import annotations

import asyncio
import logging
import re
from pathlib import Path

import httpx
import jwt
import pytest

from tusserver.app import create_app
from tusserver.config import Settings

ROOT = Path(__file__).resolve().parents[2]
SECRET = "demo-test-secret-of-32-bytes!!!!"


def _get(settings: Settings, method: str, path: str) -> httpx.Response:
    app = create_app(settings)

    async def run() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://tus.test") as client:
            return await client.request(method, path)

    return asyncio.run(run())


@pytest.mark.parametrize("path", ["/", "/demo/demo.mjs", "/demo/tusserver-token.mjs", "/demo/config.json"])
def test_without_demo_nothing_is_served(path: str) -> None:
    assert _get(Settings(store="memory"), "GET", path).status_code == 404
    assert _get(Settings(store="memory"), "POST", "/demo/token").status_code == 404


def test_page_and_its_files_come_from_this_server_only() -> None:
    settings = Settings(store="memory", demo=True)
    page = _get(settings, "GET", "/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "default-src 'self'" in page.headers["content-security-policy"]
    for name in ("index.html", "demo.mjs", "uploader.mjs", "demo.css"):
        text = (ROOT / "tusserver" / "demo" / name).read_text()
        assert not re.search(r"(src|href)=[\"']?(https?:)?//", text), f"{name} loads something from another host"
        assert not re.search(r"""(import|from)\s*\(?\s*['"](https?:)?//""", text), name
    for name in ("demo.mjs", "uploader.mjs", "tusserver-token.mjs"):
        served = _get(settings, "GET", f"/demo/{name}")
        assert served.status_code == 200 and served.headers["content-type"].startswith("text/javascript")
    assert _get(settings, "GET", "/demo/config.json").json() == {"endpoint": "/files/", "auth": False}
    assert _get(settings, "GET", "/demo/../app.py").status_code == 404
    assert _get(settings, "POST", "/demo/token").status_code == 404  # auth off: no tokens to hand out


def test_the_served_helper_is_the_published_one() -> None:
    """The page's copy of the helper (package data) is byte for byte clients/js/tusserver-token.mjs."""
    published = (ROOT / "clients" / "js" / "tusserver-token.mjs").read_bytes()
    assert (ROOT / "tusserver" / "demo" / "tusserver-token.mjs").read_bytes() == published
    served = _get(Settings(store="memory", demo=True), "GET", "/demo/tusserver-token.mjs")
    assert served.content == published


def test_demo_token_with_auth_on(caplog: pytest.LogCaptureFixture) -> None:
    settings = Settings(store="memory", demo=True, jwt_secret=SECRET, token_ttl_s=7)
    with caplog.at_level(logging.WARNING, logger="tusserver"):
        response = _get(settings, "POST", "/demo/token")
    assert any("/demo/token" in r.getMessage() and "anyone" in r.getMessage() for r in caplog.records)
    assert response.status_code == 200
    claims = jwt.decode(response.text, SECRET, algorithms=["HS256"])
    assert claims["sub"].startswith("demo-") and claims["exp"] - claims["iat"] <= 8
    assert _get(settings, "GET", "/demo/token").status_code == 405
    assert _get(settings, "GET", "/").status_code == 200  # the page itself needs no token
    assert _get(settings, "GET", "/demo/config.json").json()["auth"] is True
    assert _get(settings, "GET", "/files/whatever").status_code == 401  # uploads still do


def test_demo_token_needs_a_secret_not_only_a_public_key(tmp_path: Path) -> None:
    """A public key cannot sign platform tokens; handing out rotation-marked ones would start chains."""
    from tests.auth.keys import rsa_pair

    settings = Settings(store="memory", demo=True, jwt_public_key=rsa_pair().write_pem(tmp_path))
    response = _get(settings, "POST", "/demo/token")
    assert response.status_code == 404 and "--jwt-secret" in response.text
