"""tusd's CORS options (--cors-allow-headers, --cors-expose-headers, --cors-allow-credentials,
--cors-max-age) against a real server, as a browser's preflight and request see them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx

from tests.conftest import ServerFactory
from tests.support import TUS, free_port

ORIGIN = "https://app.example.test"


def _preflight(endpoint: str, request_headers: str) -> httpx.Response:
    return httpx.options(
        endpoint,
        headers={
            "Origin": ORIGIN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": request_headers,
        },
    )


def test_extra_request_header_is_refused_by_default(server_factory: ServerFactory) -> None:
    server = server_factory()
    assert _preflight(server.endpoint, "tus-resumable, upload-length").status_code == 200
    refused = _preflight(server.endpoint, "tus-resumable, x-request-id")
    assert refused.status_code == 400
    assert refused.headers.get("access-control-allow-credentials") is None


def test_cors_options_reach_the_browser(server_factory: ServerFactory) -> None:
    server = server_factory(
        "--cors-origins", ORIGIN, "--cors-allow-headers", "X-Request-ID, X-Tenant",
        "--cors-expose-headers", "X-Trace-ID", "--cors-allow-credentials", "--cors-max-age", "600",
    )  # fmt: skip
    preflight = _preflight(server.endpoint, "tus-resumable, upload-length, x-request-id, x-tenant")
    assert preflight.status_code == 200, preflight.text
    allowed = {h.strip().lower() for h in preflight.headers["access-control-allow-headers"].split(",")}
    assert {"x-request-id", "x-tenant", "tus-resumable", "upload-length"} <= allowed
    assert preflight.headers["access-control-max-age"] == "600"
    assert preflight.headers["access-control-allow-credentials"] == "true"
    assert preflight.headers["access-control-allow-origin"] == ORIGIN

    created = httpx.post(
        server.endpoint, headers={**TUS, "Upload-Length": "1", "Origin": ORIGIN, "X-Request-ID": "abc"}
    )
    assert created.status_code == 201
    exposed = {h.strip().lower() for h in created.headers["access-control-expose-headers"].split(",")}
    assert {"x-trace-id", "location", "upload-offset"} <= exposed
    assert created.headers["access-control-allow-credentials"] == "true"


def test_credentials_with_any_origin_is_a_start_up_error(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "tusserver", "serve", "--port", str(free_port()), "--data-dir", str(tmp_path),
         "--cors-allow-credentials"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 2
    assert "--cors-allow-credentials needs --cors-origins" in result.stderr


def test_answers_without_origin_vary_on_it_and_carry_no_cors_headers(server_factory: ServerFactory) -> None:
    """The fast path for non-browser clients (asgi/cors.py) answers as Starlette's CORS would: `Vary: Origin`
    once, merged into a Vary the app set, and no Access-Control-* header."""
    server = server_factory()
    created = httpx.post(server.endpoint, headers={**TUS, "Upload-Length": "5"})
    assert created.status_code == 201
    assert created.headers.get_list("vary") == ["Origin"]
    assert not [name for name in created.headers if name.lower().startswith("access-control-")]
    patched = httpx.patch(
        created.headers["Location"],
        headers={**TUS, "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"},
        content=b"hello",
    )
    assert patched.status_code == 204
    assert patched.headers.get_list("vary") == ["Origin"]
    browser = httpx.head(created.headers["Location"], headers={**TUS, "Origin": ORIGIN})
    assert browser.headers["access-control-allow-origin"] == "*"
    assert "upload-offset" in browser.headers["access-control-expose-headers"].lower()
