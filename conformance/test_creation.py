"""creation, creation-with-upload and creation-defer-length."""

from __future__ import annotations

import httpx
import pytest

from conformance.conftest import require
from conformance.support import OCTET, Tus, b64


@pytest.fixture(autouse=True)
def _creation(tus: Tus) -> None:
    require(tus, "creation")


def test_post_creates_with_location(tus: Tus) -> None:
    r = tus.post({"Upload-Length": "100"})
    assert r.status_code == 201
    assert r.headers["Location"]
    url = str(httpx.URL(tus.endpoint).join(r.headers["Location"]))
    head = tus.head(url)
    assert head.headers["Upload-Offset"] == "0" and head.headers["Upload-Length"] == "100"


def test_post_without_length_is_400(tus: Tus) -> None:
    assert tus.post({}).status_code == 400


def test_post_beyond_max_size_is_413(tus: Tus) -> None:
    max_size = tus.options().headers.get("Tus-Max-Size")
    if not max_size:
        pytest.skip("no Tus-Max-Size advertised")
    assert tus.post({"Upload-Length": str(int(max_size) + 1)}).status_code == 413


def test_metadata_round_trips_on_head(tus: Tus) -> None:
    name = "r\u00e9sum\u00e9.pdf".encode()
    metadata = f"filename {b64(name)},is_confidential"
    url = tus.create(5, {"Upload-Metadata": metadata})
    returned = tus.head(url).headers["Upload-Metadata"]
    pairs = {p.strip() for p in returned.split(",")}
    assert pairs == {p.strip() for p in metadata.split(",")}


def test_malformed_metadata_is_400(tus: Tus) -> None:
    assert tus.post({"Upload-Length": "1", "Upload-Metadata": "name not-base64!"}).status_code == 400
    assert tus.post({"Upload-Length": "1", "Upload-Metadata": "a YQ==,a Yg=="}).status_code == 400


def test_zero_length_upload_is_complete(tus: Tus) -> None:
    url = tus.create(0)
    head = tus.head(url)
    assert head.headers["Upload-Offset"] == "0" and head.headers["Upload-Length"] == "0"


def test_creation_with_upload(tus: Tus) -> None:
    require(tus, "creation-with-upload")
    r = tus.post({"Upload-Length": "11", "Content-Type": OCTET}, b"hello world")
    assert r.status_code == 201
    assert r.headers["Upload-Offset"] == "11"
    url = str(httpx.URL(tus.endpoint).join(r.headers["Location"]))
    assert tus.head(url).headers["Upload-Offset"] == "11"


def test_creation_with_partial_upload_then_patch(tus: Tus) -> None:
    require(tus, "creation-with-upload")
    r = tus.post({"Upload-Length": "11", "Content-Type": OCTET}, b"hello")
    assert r.status_code == 201 and r.headers["Upload-Offset"] == "5"
    url = str(httpx.URL(tus.endpoint).join(r.headers["Location"]))
    assert tus.patch(url, 5, b" world").headers["Upload-Offset"] == "11"


def test_defer_length(tus: Tus) -> None:
    require(tus, "creation-defer-length")
    url = tus.create(None, {"Upload-Defer-Length": "1"})
    head = tus.head(url)
    assert head.headers["Upload-Defer-Length"] == "1"
    assert "Upload-Length" not in head.headers
    assert tus.patch(url, 0, b"abc").status_code == 204
    r = tus.patch(url, 3, b"def", {"Upload-Length": "6"})
    assert r.status_code == 204 and r.headers["Upload-Offset"] == "6"
    head = tus.head(url)
    assert head.headers["Upload-Length"] == "6"
    assert "Upload-Defer-Length" not in head.headers


def test_defer_length_must_be_1(tus: Tus) -> None:
    require(tus, "creation-defer-length")
    assert tus.post({"Upload-Defer-Length": "2"}).status_code == 400
