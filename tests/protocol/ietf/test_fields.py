"""The draft's request fields parsed on their own: Structured Fields items, Upload-Limit, and the
representation metadata and digests a creation or an append may carry."""

from __future__ import annotations

import base64
import hashlib

import pytest

from tusserver.errors import BadRequest
from tusserver.protocol.ietf.fields import (
    content_digest,
    parse_boolean,
    parse_integer,
    representation_metadata,
    upload_limit,
)

SUPPORTED = frozenset({"sha256", "sha512", "md5"})


@pytest.mark.parametrize(("value", "expected"), [(None, None), ("0", 0), ("42", 42), (" 7 ", 7), ("5;a=1", 5)])
def test_integers(value: str | None, expected: int | None) -> None:
    assert parse_integer("Upload-Offset", value) == expected


@pytest.mark.parametrize("value", ["", "-1", "1.5", "0x10", "1e3", "ten", "1234567890123456", "?1"])
def test_bad_integers_are_400(value: str) -> None:
    with pytest.raises(BadRequest, match="Upload-Offset"):
        parse_integer("Upload-Offset", value)


@pytest.mark.parametrize(("value", "expected"), [(None, None), ("?0", False), ("?1", True), ("?1;x", True)])
def test_booleans(value: str | None, expected: bool | None) -> None:
    assert parse_boolean("Upload-Complete", value) is expected


@pytest.mark.parametrize("value", ["", "1", "0", "true", "?2", "?", "?1?0"])
def test_bad_booleans_are_400(value: str) -> None:
    with pytest.raises(BadRequest, match="Upload-Complete"):
        parse_boolean("Upload-Complete", value)


def test_upload_limit_never_empty() -> None:
    assert upload_limit({}) == "min-size=0"
    assert upload_limit({"max-size": 10, "max-age": 60}) == "max-size=10, max-age=60"


def _text(value: str | None) -> str:
    assert value is not None
    return base64.b64decode(value).decode()


def test_representation_metadata_from_content_type_and_disposition() -> None:
    found = representation_metadata("Image/PNG; charset=x", "inline; filename*=UTF-8''na%C3%AFve%20photo.png")
    assert {k: _text(v) for k, v in found.items()} == {"filetype": "image/png", "filename": "naïve photo.png"}
    assert representation_metadata("application/partial-upload", None) == {}  # an append's type, not the file's
    assert (
        representation_metadata(None, 'attachment; filename="a.txt"')["filename"] == base64.b64encode(b"a.txt").decode()
    )
    for broken in ("inline; filename*=nope''x", 'inline; filename="unterminated', "inline; filename*=UTF-8''%ff"):
        representation_metadata(None, broken)  # whatever it makes of a broken field, never a 500


def test_content_digest_becomes_the_per_request_checksum() -> None:
    digest = hashlib.sha256(b"abc").digest()
    checksum = content_digest(f"sha-256=:{base64.b64encode(digest).decode()}:", SUPPORTED)
    assert checksum is not None and (checksum.algorithm, checksum.digest) == ("sha256", digest)
    assert content_digest("md5=:AAAA:", SUPPORTED) is None  # not an RFC 9530 algorithm we verify: ignored
    assert content_digest(None, SUPPORTED) is None
    with pytest.raises(BadRequest):
        content_digest("sha-256=nope", SUPPORTED)
