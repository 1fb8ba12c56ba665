"""Which locations a pre-create hook's `ChangeFileInfo.Storage` may name (storage/placement.py): pure checks,
the same for the file store's `Path` and the S3 store's `Key`; the stores' own checks are in
tests/storage/contract.py and tests/hooks/test_storage_placement.py."""

from __future__ import annotations

import pytest

from tusserver.errors import PlacementRefused
from tusserver.storage.placement import relative, requested

ACCEPTED = {
    "a.bin": "a.bin",
    "./upload-e7a036dc-33f4-451f-9520-49032b87e952/presentation.pdf": (
        "upload-e7a036dc-33f4-451f-9520-49032b87e952/presentation.pdf"  # tusd's documented example
    ),
    "tenant//2024/./x.pdf": "tenant/2024/x.pdf",
    "AbCdEfGhIjKlMnOpQr/x": "AbCdEfGhIjKlMnOpQr/x",  # an ID-shaped directory is no data file
    "notes..txt": "notes..txt",
    "ü/ß.bin": "ü/ß.bin",
}
REFUSED = {
    "": "names no file",
    "./": "names no file",
    "/etc/passwd": "relative",
    "\\\\server\\share": "relative",
    "..": "'..'",
    "a/../../b": "'..'",
    "a/..": "'..'",
    ".locks/uploads.lock": "starting with '.'",
    ".sets/unfinished/x": "starting with '.'",
    "a/.git/config": "starting with '.'",
    "AbCdEfGhIjKlMnOpQr": "shaped like an upload ID",
    "AbCdEfGhIjKlMnOpQr.info": "must not end a component",
    "x/y.gone": "must not end a component",
    "AbCdEfGhIjKlMnOpQr.info.123.tmp": "must not end a component",
    "a\x00b": "control character",
    "a\nb": "control character",
    "x" * 1025: "longer than 1024 bytes",
    "a/" + "y" * 256: "component longer than 255",
}


@pytest.mark.parametrize("value", ACCEPTED)
def test_accepted(value: str) -> None:
    assert relative(value) == ACCEPTED[value]


@pytest.mark.parametrize("value", REFUSED)
def test_refused(value: str) -> None:
    with pytest.raises(PlacementRefused) as refused:
        relative(value)
    assert REFUSED[value] in refused.value.reason


def test_only_the_store_field() -> None:
    assert requested({"Path": "a/b", "Type": "file"}, "Path") == "a/b"  # a hook may echo what it was told
    with pytest.raises(PlacementRefused, match="takes only Storage.Path, not InfoPath"):
        requested({"Path": "a/b", "InfoPath": "a/b.info"}, "Path")
    with pytest.raises(PlacementRefused, match="non-empty string"):
        requested({"Key": 7}, "Key")
