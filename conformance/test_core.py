"""tus 1.0.0 core protocol: every MUST that a client can observe."""

from __future__ import annotations

import pytest

from .support import OCTET, Tus, assert_gone, assert_tus_resumable


def test_options_advertises_tus_version(tus: Tus) -> None:
    r = tus.options
    assert r.status_code in (200, 204)
    versions = [v.strip() for v in r.headers["Tus-Version"].split(",")]
    assert "1.0.0" in versions


def test_options_optional_headers_are_well_formed(tus: Tus) -> None:
    r = tus.options
    if "Tus-Max-Size" in r.headers:
        assert r.headers["Tus-Max-Size"].isdigit()
    if "Tus-Extension" in r.headers:
        assert all(e and " " not in e for e in (x.strip() for x in r.headers["Tus-Extension"].split(",")))


def test_options_needs_no_tus_resumable(tus: Tus) -> None:
    r = tus.request("OPTIONS", tus.endpoint, tus=False)
    assert r.status_code in (200, 204)


def test_head_reports_offset_and_length(tus: Tus) -> None:
    url = tus.create(10)
    r = tus.head(url)
    assert r.status_code == 200
    assert_tus_resumable(r)
    assert r.headers["Upload-Offset"] == "0"
    assert r.headers["Upload-Length"] == "10"
    assert r.content == b""


def test_head_must_not_be_cached(tus: Tus) -> None:
    r = tus.head(tus.create(3))
    assert "no-store" in r.headers.get("Cache-Control", "")


def test_head_unknown_upload_without_body(tus: Tus) -> None:
    r = tus.head(tus.unknown_url())
    assert_gone(r)
    assert r.content == b""
    assert_tus_resumable(r)


def test_patch_stores_bytes_and_returns_new_offset(tus: Tus) -> None:
    url = tus.create(11)
    r = tus.patch(url, 0, b"hello")
    assert r.status_code == 204
    assert_tus_resumable(r)
    assert r.headers["Upload-Offset"] == "5"
    assert tus.offset(url) == 5
    r = tus.patch(url, 5, b" world")
    assert r.status_code == 204 and r.headers["Upload-Offset"] == "11"
    assert tus.offset(url) == 11


def test_patch_wrong_content_type_is_415(tus: Tus) -> None:
    url = tus.create(3)
    r = tus.request("PATCH", url, {"Upload-Offset": "0", "Content-Type": "application/octet-stream"}, b"abc")
    assert r.status_code == 415
    assert_tus_resumable(r)
    assert tus.offset(url) == 0


def test_patch_offset_mismatch_is_409(tus: Tus) -> None:
    url = tus.create(6)
    assert tus.patch(url, 0, b"abc").status_code == 204
    for wrong in (0, 2, 4):
        r = tus.patch(url, wrong, b"def")
        assert r.status_code == 409, wrong
        assert_tus_resumable(r)
    assert tus.offset(url) == 3


def test_patch_unknown_upload(tus: Tus) -> None:
    r = tus.patch(tus.unknown_url(), 0, b"abc")
    assert_gone(r)
    assert_tus_resumable(r)


def test_patch_without_upload_offset_is_rejected(tus: Tus) -> None:
    """Beyond the MUSTs: PATCH requires Upload-Offset, so a server must not store a body without one."""
    url = tus.create(3)
    r = tus.request("PATCH", url, {"Content-Type": OCTET}, b"abc")
    assert 400 <= r.status_code < 500
    assert tus.offset(url) == 0


@pytest.mark.parametrize("version", ["0.2.2", "2.0.0", "x"])
@pytest.mark.parametrize("method", ["HEAD", "PATCH"])
def test_unsupported_tus_resumable_is_412(tus: Tus, method: str, version: str) -> None:
    url = tus.create(3)
    headers = {"Tus-Resumable": version, "Upload-Offset": "0", "Content-Type": OCTET}
    r = tus.request(method, url, headers, b"abc" if method == "PATCH" else None)
    assert r.status_code == 412
    assert "1.0.0" in r.headers.get("Tus-Version", "")
    assert tus.offset(url) == 0


def test_missing_tus_resumable_is_412(tus: Tus) -> None:
    """Beyond the MUSTs (what tusd and @tus/server do): a request without Tus-Resumable is 412."""
    url = tus.create(3)
    r = tus.request("PATCH", url, {"Upload-Offset": "0", "Content-Type": OCTET}, b"abc", tus=False)
    assert r.status_code == 412
    assert "1.0.0" in r.headers.get("Tus-Version", "")
    assert tus.offset(url) == 0


def test_streamed_chunked_patch(tus: Tus) -> None:
    """Beyond the MUSTs: a PATCH body in chunked transfer encoding (no Content-Length) is stored whole."""
    url = tus.create(300_000)

    def body() -> object:
        for _ in range(3):
            yield b"z" * 100_000

    r = tus.client.patch(url, headers={"Tus-Resumable": "1.0.0", "Upload-Offset": "0", "Content-Type": OCTET},
                         content=body())  # fmt: skip
    assert r.status_code == 204
    assert r.headers["Upload-Offset"] == "300000"
