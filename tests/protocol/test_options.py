from __future__ import annotations

import pytest

from tests.protocol.verbs import ABSENT, Case, run
from tests.support import InProcessServer

EXTENSIONS = {"creation", "creation-with-upload", "creation-defer-length", "termination", "checksum", "expiration"}


@pytest.mark.parametrize("tus", [True, False])
def test_options_advertises_the_server(live: InProcessServer, tus: bool) -> None:
    r = run(
        live.client,
        live.endpoint,
        Case("OPTIONS", status=204, tus=tus, expect={"Tus-Version": "1.0.0", "Tus-Max-Size": "1000"}),
    )
    assert EXTENSIONS <= set(r.headers["Tus-Extension"].split(","))
    assert {"sha1", "md5", "sha256", "sha512", "crc32"} <= set(r.headers["Tus-Checksum-Algorithm"].split(","))
    assert r.content == b""


def test_options_without_trailing_slash(live: InProcessServer) -> None:
    run(live.client, live.endpoint.rstrip("/"), Case("OPTIONS", status=204, expect={"Tus-Version": "1.0.0"}))


def test_cors_preflight(live: InProcessServer) -> None:
    r = run(
        live.client,
        live.endpoint,
        Case(
            "OPTIONS",
            tus=False,
            headers={
                "Origin": "https://app.example",
                "Access-Control-Request-Method": "PATCH",
                "Access-Control-Request-Headers": "tus-resumable,upload-offset,content-type,authorization",
            },
            status=200,
        ),
    )
    assert r.headers["Access-Control-Allow-Origin"] in ("*", "https://app.example")
    assert "PATCH" in r.headers["Access-Control-Allow-Methods"]
    allowed = r.headers["Access-Control-Allow-Headers"].lower()
    for header in ("tus-resumable", "upload-offset", "authorization", "content-type"):
        assert header in allowed


def test_cors_exposes_every_tus_header(live: InProcessServer) -> None:
    r = live.client.post(
        live.endpoint, headers={"Tus-Resumable": "1.0.0", "Upload-Length": "1", "Origin": "https://app.example"}
    )
    assert r.status_code == 201
    exposed = {h.strip().lower() for h in r.headers["Access-Control-Expose-Headers"].split(",")}
    wanted = {
        "tus-resumable", "tus-version", "tus-extension", "tus-max-size", "tus-checksum-algorithm",
        "upload-offset", "upload-length", "upload-metadata", "upload-defer-length", "upload-concat",
        "upload-expires", "location", "x-new-token",
    }  # fmt: skip
    assert wanted <= exposed


def test_no_cors_headers_without_origin(live: InProcessServer) -> None:
    run(live.client, live.endpoint, Case("OPTIONS", status=204, expect={"Access-Control-Allow-Origin": ABSENT}))
