"""creation, creation-with-upload and creation-defer-length."""

from __future__ import annotations

import base64

from .support import OCTET, Tus, assert_tus_resumable


def test_post_creates_upload(tus: Tus) -> None:
    tus.require("creation")
    r = tus.post({"Upload-Length": "5"})
    assert r.status_code == 201
    assert_tus_resumable(r)
    url = tus.location(r)
    assert tus.head(url).headers["Upload-Length"] == "5"
    assert tus.offset(url) == 0


def test_each_post_gets_its_own_upload(tus: Tus) -> None:
    assert tus.create(1) != tus.create(1)


def test_zero_length_upload(tus: Tus) -> None:
    url = tus.create(0)
    r = tus.head(url)
    assert r.headers["Upload-Length"] == "0" and r.headers["Upload-Offset"] == "0"


def test_post_without_length_is_400(tus: Tus) -> None:
    tus.require("creation")
    r = tus.post({})
    assert r.status_code == 400
    assert_tus_resumable(r)


def test_post_over_max_size_is_413(tus: Tus) -> None:
    tus.require("creation")
    if tus.max_size is None:
        import pytest

        pytest.skip("server advertises no Tus-Max-Size")
    assert tus.post({"Upload-Length": str(tus.max_size)}).status_code == 201
    r = tus.post({"Upload-Length": str(tus.max_size + 1)})
    assert r.status_code == 413
    assert_tus_resumable(r)


def test_post_unsupported_version_is_412(tus: Tus) -> None:
    tus.require("creation")
    r = tus.post({"Upload-Length": "1", "Tus-Resumable": "0.2.2"})
    assert r.status_code == 412
    assert "1.0.0" in r.headers.get("Tus-Version", "")


def test_metadata_round_trips(tus: Tus) -> None:
    name = base64.b64encode("ré sumé, v2.txt".encode()).decode()
    meta = f"filename {name},is_confidential"
    url = tus.create(1, {"Upload-Metadata": meta})
    r = tus.head(url)
    got = dict((pair.strip().split(" ", 1) + [""])[:2] for pair in r.headers["Upload-Metadata"].split(","))
    assert got == {"filename": name, "is_confidential": ""}


def test_creation_with_upload(tus: Tus) -> None:
    tus.require("creation", "creation-with-upload")
    r = tus.post({"Upload-Length": "10", "Content-Type": OCTET}, b"01234")
    assert r.status_code == 201
    assert_tus_resumable(r)
    url = tus.location(r)
    assert r.headers["Upload-Offset"] == "5"
    assert tus.offset(url) == 5
    assert tus.patch(url, 5, b"56789").headers["Upload-Offset"] == "10"


def test_creation_with_upload_whole_file(tus: Tus) -> None:
    tus.require("creation", "creation-with-upload")
    r = tus.post({"Upload-Length": "4", "Content-Type": OCTET}, b"abcd")
    assert r.status_code == 201 and r.headers["Upload-Offset"] == "4"
    assert tus.offset(tus.location(r)) == 4


def test_defer_length(tus: Tus) -> None:
    tus.require("creation", "creation-defer-length")
    r = tus.post({"Upload-Defer-Length": "1"})
    assert r.status_code == 201
    url = tus.location(r)
    head = tus.head(url)
    assert head.headers.get("Upload-Defer-Length") == "1"
    assert "Upload-Length" not in head.headers
    assert tus.patch(url, 0, b"abc").status_code == 204
    r = tus.patch(url, 3, b"de", **{"Upload-Length": "5"})
    assert r.status_code == 204 and r.headers["Upload-Offset"] == "5"
    head = tus.head(url)
    assert head.headers["Upload-Length"] == "5"
    assert "Upload-Defer-Length" not in head.headers


def test_defer_length_must_be_1(tus: Tus) -> None:
    tus.require("creation", "creation-defer-length")
    assert tus.post({"Upload-Defer-Length": "2"}).status_code == 400
