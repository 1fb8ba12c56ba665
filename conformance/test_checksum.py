"""checksum: Upload-Checksum verified per request; 460 discards the chunk."""

from __future__ import annotations

import os

import httpx
import pytest

from conformance.conftest import require
from conformance.support import Tus, b64, checksum_header


@pytest.fixture(autouse=True)
def _checksum(tus: Tus) -> None:
    require(tus, "checksum")


def test_algorithms_advertised_on_options(tus: Tus) -> None:
    algorithms = {a.strip() for a in tus.options().headers["Tus-Checksum-Algorithm"].split(",")}
    assert "sha1" in algorithms


@pytest.mark.parametrize("algorithm", ["sha1", "md5", "sha256", "sha512", "crc32"])
def test_correct_checksum_is_accepted(tus: Tus, algorithm: str) -> None:
    algorithms = {a.strip() for a in tus.options().headers["Tus-Checksum-Algorithm"].split(",")}
    if algorithm not in algorithms:
        pytest.skip(f"{algorithm} not advertised")
    data = os.urandom(5000)
    url = tus.create(len(data))
    r = tus.patch(url, 0, data, {"Upload-Checksum": checksum_header(algorithm, data)})
    assert r.status_code == 204
    assert r.headers["Upload-Offset"] == str(len(data))


def test_mismatch_is_460_and_chunk_discarded_then_retry_succeeds(tus: Tus) -> None:
    data = os.urandom(4000)
    url = tus.create(len(data))
    corrupted = bytearray(data)
    corrupted[1234] ^= 0xFF
    r = tus.patch(url, 0, bytes(corrupted), {"Upload-Checksum": checksum_header("sha1", data)})
    assert r.status_code == 460
    assert tus.head(url).headers["Upload-Offset"] == "0"
    r = tus.patch(url, 0, data, {"Upload-Checksum": checksum_header("sha1", data)})
    assert r.status_code == 204 and r.headers["Upload-Offset"] == "4000"


def test_unsupported_algorithm_is_400(tus: Tus) -> None:
    url = tus.create(3)
    r = tus.patch(url, 0, b"abc", {"Upload-Checksum": f"whirlpool-9 {b64(b'x' * 16)}"})
    assert r.status_code == 400
    assert tus.head(url).headers["Upload-Offset"] == "0"


def test_malformed_checksum_is_400(tus: Tus) -> None:
    url = tus.create(3)
    assert tus.patch(url, 0, b"abc", {"Upload-Checksum": "sha1"}).status_code == 400
    assert tus.patch(url, 0, b"abc", {"Upload-Checksum": "sha1 !!notbase64"}).status_code == 400


def test_checksum_on_creation_with_upload(tus: Tus) -> None:
    require(tus, "creation-with-upload")
    data = os.urandom(300)
    headers = {"Upload-Length": "600", "Content-Type": "application/offset+octet-stream"}
    r = tus.post({**headers, "Upload-Checksum": checksum_header("sha1", data)}, data)
    assert r.status_code == 201 and r.headers["Upload-Offset"] == "300"
    r = tus.post({**headers, "Upload-Checksum": checksum_header("sha1", data + b"x")}, data)
    assert r.status_code == 460
    if "Location" in r.headers:  # the upload was created; the chunk must not count
        url = str(httpx.URL(tus.endpoint).join(r.headers["Location"]))
        assert tus.head(url).headers["Upload-Offset"] == "0"


def test_mismatch_keeps_earlier_chunks(tus: Tus) -> None:
    first, second = os.urandom(1000), os.urandom(1000)
    url = tus.create(2000)
    assert tus.patch(url, 0, first, {"Upload-Checksum": checksum_header("sha1", first)}).status_code == 204
    r = tus.patch(url, 1000, second, {"Upload-Checksum": checksum_header("sha1", first)})
    assert r.status_code == 460
    assert tus.head(url).headers["Upload-Offset"] == "1000"
