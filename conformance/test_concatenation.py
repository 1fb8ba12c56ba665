"""concatenation (and concatenation-unfinished): partial uploads merged by a final one."""

from __future__ import annotations

import os
import time

import httpx
import pytest

from conformance.conftest import require
from conformance.support import Tus


@pytest.fixture(autouse=True)
def _concatenation(tus: Tus) -> None:
    require(tus, "concatenation")


def _partial(tus: Tus, data: bytes, upload: bool = True) -> str:
    url = tus.create(len(data), {"Upload-Concat": "partial"})
    if upload:
        assert tus.patch(url, 0, data).status_code == 204
    return url


def _wait_complete(tus: Tus, url: str, length: int) -> httpx.Response:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        head = tus.head(url)
        if head.headers.get("Upload-Offset") == str(length):
            return head
        time.sleep(0.05)
    raise AssertionError("final upload never completed")


def test_partial_head_says_partial(tus: Tus) -> None:
    url = _partial(tus, b"abc")
    assert tus.head(url).headers["Upload-Concat"] == "partial"


def test_final_concatenates_in_order(tus: Tus) -> None:
    pieces = [os.urandom(3000), os.urandom(1), os.urandom(7000)]
    parts = [_partial(tus, p) for p in pieces]
    paths = " ".join(httpx.URL(u).path for u in parts)
    r = tus.post({"Upload-Concat": f"final;{paths}"})
    assert r.status_code == 201
    final = str(httpx.URL(tus.endpoint).join(r.headers["Location"]))
    head = _wait_complete(tus, final, sum(map(len, pieces)))
    assert head.headers["Upload-Length"] == str(sum(map(len, pieces)))
    assert head.headers["Upload-Concat"].startswith("final;")
    assert tus.http.get(final, headers=tus.headers).content == b"".join(pieces)


def test_final_accepts_absolute_urls(tus: Tus) -> None:
    parts = [_partial(tus, b"ab"), _partial(tus, b"cd")]
    r = tus.post({"Upload-Concat": "final;" + " ".join(parts)})
    assert r.status_code == 201
    final = str(httpx.URL(tus.endpoint).join(r.headers["Location"]))
    _wait_complete(tus, final, 4)
    assert tus.http.get(final, headers=tus.headers).content == b"abcd"


def test_patch_on_final_is_403(tus: Tus) -> None:
    parts = [_partial(tus, b"ab")]
    r = tus.post({"Upload-Concat": "final;" + " ".join(parts)})
    final = str(httpx.URL(tus.endpoint).join(r.headers["Location"]))
    assert tus.patch(final, 0, b"x").status_code == 403


def test_final_must_not_carry_upload_length(tus: Tus) -> None:
    parts = [_partial(tus, b"ab")]
    r = tus.post({"Upload-Concat": "final;" + " ".join(parts), "Upload-Length": "2"})
    assert r.status_code == 400


def test_final_with_unknown_part_is_rejected(tus: Tus) -> None:
    r = tus.post({"Upload-Concat": "final;" + tus.endpoint + "AAAAAAAAAAAAAAAAAAAAAA"})
    assert r.status_code in (400, 404, 410)


def test_final_with_a_non_partial_upload_is_400(tus: Tus) -> None:
    plain = tus.upload(b"abc")
    assert tus.post({"Upload-Concat": f"final;{plain}"}).status_code == 400


def test_unfinished_partials(tus: Tus) -> None:
    require(tus, "concatenation-unfinished")
    first = _partial(tus, b"hello ")
    second = _partial(tus, b"world", upload=False)
    r = tus.post({"Upload-Concat": f"final;{first} {second}"})
    assert r.status_code == 201
    final = str(httpx.URL(tus.endpoint).join(r.headers["Location"]))
    head = tus.head(final)
    assert "Upload-Offset" not in head.headers  # not complete: the spec says leave it out
    assert tus.patch(second, 0, b"world").status_code == 204
    _wait_complete(tus, final, 11)
    assert tus.http.get(final, headers=tus.headers).content == b"hello world"


def test_final_head_before_and_after_assembly(tus: Tus) -> None:
    require(tus, "concatenation-unfinished")
    require(tus, "creation-defer-length")
    first = _partial(tus, b"abc")
    second = tus.create(None, {"Upload-Concat": "partial", "Upload-Defer-Length": "1"})
    r = tus.post({"Upload-Concat": f"final;{first} {second}"})
    assert r.status_code == 201
    final = str(httpx.URL(tus.endpoint).join(r.headers["Location"]))
    head = tus.head(final)
    assert head.status_code == 200
    assert head.headers["Upload-Concat"].startswith("final;")
    assert "Upload-Offset" not in head.headers
    assert tus.head(second).headers["Upload-Concat"] == "partial"
    assert tus.patch(second, 0, b"de", {"Upload-Length": "2"}).status_code == 204
    head = _wait_complete(tus, final, 5)
    assert head.headers["Upload-Length"] == "5"
    assert tus.http.get(final, headers=tus.headers).content == b"abcde"
