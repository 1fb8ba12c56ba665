"""`read_file` stops at a short read: records and markers must still come back whole, however large."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tusserver.fileops import READ_BYTES, read_file


@pytest.mark.parametrize("size", [0, 1, READ_BYTES - 1, READ_BYTES, READ_BYTES + 1, 3 * READ_BYTES + 17])
def test_read_file_returns_every_byte(tmp_path: Path, size: int) -> None:
    path = tmp_path / "record"
    data = os.urandom(size)
    path.write_bytes(data)
    assert read_file(str(path)) == data
