"""tus 1.0.0 core protocol: the MUSTs of HEAD, PATCH and OPTIONS, and Tus-Resumable handling."""

from __future__ import annotations

import os

from conformance.support import OCTET, TUS, Tus


def test_options_advertises_version_and_needs_no_tus_resumable(tus: Tus) -> None:
    r = tus.options()
    assert r.status_code in (200, 204)
    assert "1.0.0" in [v.strip() for v in r.headers["Tus-Version"].split(",")]
    if "Tus-Max-Size" in r.headers:
        assert r.headers["Tus-Max-Size"].isdigit()


def test_every_non_options_response_has_tus_resumable(tus: Tus) -> None:
    url = tus.create(3)
    responses = [tus.head(url), tus.patch(url, 0, b"abc"), tus.patch(url, 0, b"abc"), tus.head(url + "nope")]
    for r in responses:
        assert r.headers.get("Tus-Resumable") == "1.0.0", (r.request.method, r.status_code)


def test_unsupported_version_is_412_with_tus_version(tus: Tus) -> None:
    url = tus.create(3)
    r = tus.http.head(url, headers={**tus.headers, "Tus-Resumable": "0.1.0"})
    assert r.status_code == 412
    assert "Tus-Version" in r.headers


def test_head_reports_offset_length_and_is_not_cached(tus: Tus) -> None:
    url = tus.create(10)
    r = tus.head(url)
    assert r.status_code in (200, 204)
    assert r.headers["Upload-Offset"] == "0"
    assert r.headers["Upload-Length"] == "10"
    assert "no-store" in r.headers["Cache-Control"]
    assert r.content == b""


def test_head_unknown_upload_is_404_or_410_without_body(tus: Tus) -> None:
    r = tus.head(tus.endpoint + "AAAAAAAAAAAAAAAAAAAAAA")
    assert r.status_code in (404, 410)
    assert r.content == b""


def test_patch_appends_and_returns_new_offset(tus: Tus) -> None:
    data = os.urandom(1000)
    url = tus.create(len(data))
    r = tus.patch(url, 0, data[:400])
    assert r.status_code == 204
    assert r.headers["Upload-Offset"] == "400"
    r = tus.patch(url, 400, data[400:])
    assert r.status_code == 204
    assert r.headers["Upload-Offset"] == "1000"
    assert tus.head(url).headers["Upload-Offset"] == "1000"


def test_patch_with_wrong_offset_is_409_and_stores_nothing(tus: Tus) -> None:
    url = tus.create(10)
    assert tus.patch(url, 0, b"12345").status_code == 204
    r = tus.patch(url, 3, b"xx")
    assert r.status_code == 409
    assert tus.head(url).headers["Upload-Offset"] == "5"


def test_patch_with_wrong_content_type_is_415(tus: Tus) -> None:
    url = tus.create(10)
    r = tus.http.patch(
        url, headers={**TUS, **tus.headers, "Upload-Offset": "0", "Content-Type": "text/plain"}, content=b"x"
    )
    assert r.status_code == 415
    assert tus.head(url).headers["Upload-Offset"] == "0"


def test_patch_without_offset_is_400(tus: Tus) -> None:
    url = tus.create(10)
    r = tus.http.patch(url, headers={**TUS, **tus.headers, "Content-Type": OCTET}, content=b"x")
    assert r.status_code == 400


def test_patch_to_unknown_upload_is_404_or_410(tus: Tus) -> None:
    r = tus.patch(tus.endpoint + "AAAAAAAAAAAAAAAAAAAAAA", 0, b"x")
    assert r.status_code in (404, 410)


def test_method_override(tus: Tus) -> None:
    url = tus.create(3)
    r = tus.http.post(
        url,
        headers={**TUS, **tus.headers, "X-HTTP-Method-Override": "PATCH", "Upload-Offset": "0", "Content-Type": OCTET},
        content=b"abc",
    )
    assert r.status_code == 204
    assert r.headers["Upload-Offset"] == "3"
