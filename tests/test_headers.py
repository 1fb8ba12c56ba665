from __future__ import annotations

import base64

import pytest

from tusserver.errors import TusError
from tusserver.protocol.headers import metadata_text, parse_int, parse_metadata, serialise_metadata


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


@pytest.mark.parametrize("value", ["0", "5", "0005", "9223372036854775807"])
def test_parse_int_accepts_plain_digits(value: str) -> None:
    assert parse_int("Upload-Length", value) == int(value)


def test_parse_int_absent_is_none() -> None:
    assert parse_int("Upload-Length", None) is None


@pytest.mark.parametrize(
    "value",
    ["-1", "+5", " 5", "5 ", "1e3", "0x10", "1_000", "", "١٢", "12345678901234567890", "9223372036854775808", "5.0"],
)
def test_parse_int_rejects_anything_else(value: str) -> None:
    with pytest.raises(TusError) as info:
        parse_int("Upload-Length", value)
    assert info.value.status_code == 400
    assert "Upload-Length" in str(info.value)


def test_metadata_pairs_and_key_without_value() -> None:
    header = f"filename {b64('a b.txt')},empty,filetype {b64('text/plain')}"
    parsed = parse_metadata(header, 4096)
    assert parsed == {"filename": b64("a b.txt"), "empty": None, "filetype": b64("text/plain")}
    assert metadata_text(parsed, "filename") == "a b.txt"
    assert serialise_metadata(parsed) == header


def test_metadata_tolerates_spaces_after_commas() -> None:
    assert parse_metadata(f"a {b64('x')}, b {b64('y')}", 4096) == {"a": b64("x"), "b": b64("y")}


def test_metadata_absent_or_empty() -> None:
    assert parse_metadata(None, 10) == {}
    assert parse_metadata("", 10) == {}


@pytest.mark.parametrize(
    "header",
    [
        "a YQ==,a Yg==",  # duplicate key
        "a not-base64!",
        "a YQ",  # bad padding
        "a YQ== extra",
        " YQ==",  # no key
        "k\u00e9y YQ==",  # not a token
        "a,,b",
    ],
)
def test_metadata_rejects_malformed(header: str) -> None:
    with pytest.raises(TusError) as info:
        parse_metadata(header, 4096)
    assert info.value.status_code == 400


def test_metadata_size_limit() -> None:
    header = "k " + b64("x" * 300)
    assert parse_metadata(header, len(header)) == {"k": b64("x" * 300)}
    with pytest.raises(TusError) as info:
        parse_metadata(header, len(header) - 1)
    assert info.value.status_code == 400


def test_metadata_binary_value_round_trips_but_is_not_text() -> None:
    raw = base64.b64encode(b"\xff\xfe\x00").decode()
    parsed = parse_metadata(f"blob {raw}", 100)
    assert serialise_metadata(parsed) == f"blob {raw}"
    assert metadata_text(parsed, "blob") is None
