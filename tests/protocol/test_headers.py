"""Pure header parsing: no server, no HTTP."""

from __future__ import annotations

import base64

import pytest

from tusserver.errors import BadRequest
from tusserver.protocol.headers import (
    Concat,
    parse_checksum,
    parse_concat,
    parse_int,
    parse_metadata,
    parse_repr_digest,
    serialise_metadata,
    upload_id_from_url,
)


@pytest.mark.parametrize("value", ["-1", "+5", " 5", "5 ", "1e3", "0x10", "1_000", "1.0", "", "abc", "9" * 20, "٣"])
def test_strict_integers_reject(value: str) -> None:
    with pytest.raises(BadRequest):
        parse_int("Upload-Length", value)


@pytest.mark.parametrize(("value", "expected"), [("0", 0), ("007", 7), ("9223372036854775807", 2**63 - 1)])
def test_strict_integers_accept(value: str, expected: int) -> None:
    assert parse_int("Upload-Length", value) == expected


def test_absent_integer_is_none() -> None:
    assert parse_int("Upload-Length", None) is None


def test_metadata_pairs_keys_without_values_and_round_trip() -> None:
    raw = "filename d29ybGRfZG9taW5hdGlvbl9wbGFuLnBkZg==,is_confidential,empty "
    parsed = parse_metadata(raw, 4096)
    assert parsed == {"filename": "d29ybGRfZG9taW5hdGlvbl9wbGFuLnBkZg==", "is_confidential": None, "empty": None}
    assert parse_metadata(serialise_metadata(parsed), 4096) == parsed


@pytest.mark.parametrize(
    "raw",
    ["a YQ==,a Yg==", "a !!", "a YQ", "a YQ== extra", " ,", "k\u00e9y YQ==", "a,"],
)
def test_metadata_rejects(raw: str) -> None:
    with pytest.raises(BadRequest):
        parse_metadata(raw, 4096)


def test_metadata_size_limit() -> None:
    value = base64.b64encode(b"x" * 3000).decode()
    with pytest.raises(BadRequest, match="longer than 1000"):
        parse_metadata(f"k {value}", 1000)


def test_checksum() -> None:
    parsed = parse_checksum("SHA1 " + base64.b64encode(b"1" * 20).decode(), frozenset({"sha1"}))
    assert parsed is not None and parsed.algorithm == "sha1" and parsed.digest == b"1" * 20
    for bad in ("sha1", "sha1 !!", "sha1 a b", "md5 AAAA"):
        with pytest.raises(BadRequest):
            parse_checksum(bad, frozenset({"sha1"}))


def test_concat() -> None:
    assert parse_concat("partial", 10) == Concat("partial")
    assert parse_concat("final;/files/a http://h/files/b", 10) == Concat("final", ("/files/a", "http://h/files/b"))
    for bad in ("final;", "final", "partial;x", "other"):
        with pytest.raises(BadRequest):
            parse_concat(bad, 10)
    with pytest.raises(BadRequest, match="more than 2"):
        parse_concat("final;/a /b /c", 2)


def test_upload_id_from_url() -> None:
    assert upload_id_from_url("http://x/files/abc", "/files/", ["x"]) == "abc"
    assert upload_id_from_url("HTTPS://X:443/files/abc", "/files/", ["x"]) == "abc"
    assert upload_id_from_url("http://other/files/abc", "/files/", ["x"]) is None
    assert upload_id_from_url("//other/files/abc", "/files/", ["x"]) is None
    assert upload_id_from_url("ftp://x/files/abc", "/files/", ["x"]) is None
    assert upload_id_from_url("/files/abc", "/files/", []) == "abc"
    assert upload_id_from_url("/other/abc", "/files/", []) is None
    assert upload_id_from_url("/files/a/b", "/files/", []) is None
    assert upload_id_from_url("/files/..%2Fetc", "/files/", []) is None


def test_repr_digest() -> None:
    digest = base64.b64encode(b"\x01" * 32).decode()
    parsed = parse_repr_digest(f"sha-256=:{digest}:")
    assert parsed is not None and parsed.algorithm == "sha-256" and parsed.digest == b"\x01" * 32
    strong = base64.b64encode(b"\x02" * 64).decode()
    both = parse_repr_digest(f"sha-256=:{digest}:, sha-512=:{strong}:")
    assert both is not None and both.algorithm == "sha-512"
    assert parse_repr_digest("md5=:AAAAAAAAAAAAAAAAAAAAAA==:") is None  # unknown algorithms are ignored
    for bad in ("sha-256=abc", "sha-256=:AAAA:", "sha-256=:!!:", ","):
        with pytest.raises(BadRequest):
            parse_repr_digest(bad)
