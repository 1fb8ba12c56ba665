"""HTTP around the protocol: Location behind proxies, CORS for browsers, limits, status of odd methods."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import AppFactory
from tests.protocol.verbs import Case, run
from tests.support import OCTET, TUS, InProcessServer

PROXY_HEADERS = {**TUS, "Upload-Length": "1", "X-Forwarded-Host": "uploads.example.com", "X-Forwarded-Proto": "https"}


def test_location_is_absolute_for_the_host_the_client_used(app: InProcessServer) -> None:
    server = app
    r = server.client.post(server.endpoint, headers={**TUS, "Upload-Length": "1"})
    assert r.headers["Location"].startswith(server.endpoint)


def test_proxy_headers_are_ignored_without_behind_proxy(app: InProcessServer) -> None:
    server = app
    r = server.client.post(server.endpoint, headers=PROXY_HEADERS)
    assert r.headers["Location"].startswith(server.endpoint)


@pytest.mark.parametrize(
    ("headers", "prefix"),
    [
        (PROXY_HEADERS, "https://uploads.example.com/files/"),
        (
            {**TUS, "Upload-Length": "1", "Forwarded": 'for=1.2.3.4;host="cdn.example.org:8443";proto=https'},
            "https://cdn.example.org:8443/files/",
        ),
        (
            {**TUS, "Upload-Length": "1", "X-Forwarded-Host": "evil.com/<x>", "X-Forwarded-Proto": "javascript"},
            "http://evil.comx/files/",
        ),
    ],  # fmt: skip
    ids=["x-forwarded", "forwarded", "hostile"],
)
def test_location_behind_proxy(app_factory: AppFactory, headers: dict[str, str], prefix: str) -> None:
    server = app_factory("--behind-proxy")
    r = server.client.post(server.endpoint, headers=headers)
    assert r.status_code == 201
    assert r.headers["Location"].startswith(prefix), r.headers["Location"]


def test_base_path_setting(app_factory: AppFactory) -> None:
    server = app_factory("--base-path", "/api/uploads")
    r = server.client.post(f"{server.url}/api/uploads/", headers={**TUS, "Upload-Length": "1"})
    assert r.status_code == 201
    assert httpx.URL(r.headers["Location"]).path.startswith("/api/uploads/")
    assert server.client.post(server.endpoint, headers={**TUS, "Upload-Length": "1"}).status_code == 404


def test_cors_preflight_and_exposed_headers(app: InProcessServer) -> None:
    server = app
    preflight = server.client.options(
        server.endpoint,
        headers={
            "Origin": "https://app.example.com",
            "Access-Control-Request-Method": "PATCH",
            "Access-Control-Request-Headers": "tus-resumable,upload-offset,content-type,authorization",
        },
    )
    assert preflight.status_code == 200
    assert "PATCH" in preflight.headers["Access-Control-Allow-Methods"]
    r = server.client.post(server.endpoint, headers={**TUS, "Upload-Length": "1", "Origin": "https://app.example.com"})
    exposed = {h.strip().lower() for h in r.headers["Access-Control-Expose-Headers"].split(",")}
    for name in ("location", "upload-offset", "upload-length", "tus-resumable", "upload-expires", "x-new-token",
                 "upload-metadata", "tus-version", "tus-extension", "tus-max-size", "upload-concat"):  # fmt: skip
        assert name in exposed, name


def test_cors_can_be_limited_to_origins(app_factory: AppFactory) -> None:
    server = app_factory("--cors-origins", "https://good.example")
    good = server.client.post(server.endpoint, headers={**TUS, "Upload-Length": "1", "Origin": "https://good.example"})
    bad = server.client.post(server.endpoint, headers={**TUS, "Upload-Length": "1", "Origin": "https://bad.example"})
    assert good.headers.get("Access-Control-Allow-Origin") == "https://good.example"
    assert "Access-Control-Allow-Origin" not in bad.headers


@pytest.mark.parametrize(
    "case",
    [
        Case("POST", {"Upload-Length": "2001"}, status=413),
        Case("POST", {"Upload-Length": "1", "Upload-Metadata": "k " + "QUFB" * 40}, status=400),
        Case("POST", {"Upload-Length": "1", "X-Padding": "p" * 3000}, status=431),
        Case("PUT", status=405),
        Case("OPTIONS", status=204, expect={"Tus-Max-Size": "2000"}, tus=False),
    ],
    ids=["max-size", "max-metadata", "max-header", "bad-method", "advertised"],
)
def test_limits(app_factory: AppFactory, case: Case) -> None:
    server = app_factory("--max-size", "2000", "--max-metadata", "100", "--max-header", "2048")
    run(server.client, server.endpoint, case)  # also checks the one-line reason of every 4xx


@pytest.mark.parametrize(
    ("flags", "upload_methods"),
    [
        ((), {"DELETE", "GET", "HEAD", "OPTIONS", "PATCH"}),
        (("--disable-download", "--disable-termination"), {"HEAD", "OPTIONS", "PATCH"}),
    ],
    ids=["all", "download-and-termination-off"],
)
def test_405_allow_lists_every_method_of_the_resource(
    app_factory: AppFactory, flags: tuple[str, ...], upload_methods: set[str]
) -> None:
    """RFC 9110 15.5.6: Allow names the resource's methods; it said `HEAD` on an upload and `POST` on the
    endpoint (the methods of the first route whose path matched)."""
    server = app_factory(*flags)
    url = server.create(1)
    for target, methods in [(url, upload_methods), (server.endpoint, {"OPTIONS", "POST"})]:
        r = server.client.request("PUT", target, headers=TUS)
        assert r.status_code == 405
        assert {m.strip() for m in r.headers["Allow"].split(",")} == methods
        assert r.headers["Tus-Resumable"] == "1.0.0"
    if "--disable-download" in flags:
        assert server.client.get(url, headers=TUS).status_code == 405
        assert server.client.delete(url, headers=TUS).status_code == 405


def test_patch_longer_than_the_upload_is_413_before_reading(app: InProcessServer) -> None:
    server = app
    url = server.create(5)
    r = server.client.patch(url, content=b"123456", headers={**TUS, "Upload-Offset": "0", "Content-Type": OCTET})
    assert r.status_code == 413
    assert server.client.head(url, headers=TUS).headers["Upload-Offset"] == "0"


def test_rejected_patch_does_not_set_a_deferred_length(app: InProcessServer) -> None:
    server = app
    url = server.create(None, {"Upload-Defer-Length": "1"})
    headers = {**TUS, "Upload-Offset": "0", "Content-Type": OCTET, "Upload-Length": "3"}
    assert server.client.patch(url, content=b"12345", headers=headers).status_code == 413
    head = server.client.head(url, headers=TUS)
    assert head.headers.get("Upload-Defer-Length") == "1" and "Upload-Length" not in head.headers


def test_proxy_proto_is_case_insensitive(app_factory: AppFactory) -> None:
    """`proto=HTTPS` gave an http:// Location."""
    server = app_factory("--behind-proxy")
    headers = {**TUS, "Upload-Length": "1", "Forwarded": 'for=10.0.0.1;host="c.example:8443";proto=HTTPS, host=d'}
    r = server.client.post(server.endpoint, headers=headers)
    assert r.headers["Location"].startswith("https://c.example:8443/files/")
