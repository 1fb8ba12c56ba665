"""Where a pre-create hook may put an upload's bytes (tusd's `ChangeFileInfo.Storage`), checked by name.

tusd's file store takes `Storage.Path` (relative to its directory, or absolute anywhere) and writes
the upload's data file there; its S3, GCS and Azure stores ignore `Storage`. We take a path relative
to the data directory on the file store and an object key under `--s3-prefix` on S3, and only one
that cannot reach anything that is not the upload's own:

- relative, no `..`, no NUL or control character, at most 1,024 bytes, no component over 255;
- no component starting with `.` (the store's own `.locks`, `.sets`, `.digests`, and hidden files)
  or ending with a suffix the store gives its own files (`.info`, `.gone`, `.part`, `.unverified`,
  `.assembling`, `.tmp`): a placed `<id>.info` would be read as a record, which could point
  anywhere;
- a one-component path must not be shaped like an upload ID: it would be some upload's data file.

`.` and empty components are dropped (`./a//b` is `a/b`, tusd's documentation writes `./`). What a
name can collide with on disk or in the bucket (a symbolic link, a file in the way, an object that
exists) is the store's own check, in its `place`. The result is kept in the upload's record under
`PLACED` and read back by every request, so an upload is found where it was put after a restart.
"""

from __future__ import annotations

from collections.abc import Mapping

from ..errors import PlacementRefused
from .ids import looks_like_upload_id

PLACED = "placed"  # the `info.storage` key: the location relative to the data directory or the prefix
MAX_BYTES = 1024
_MAX_COMPONENT_BYTES = 255
_OWN_SUFFIXES = (".info", ".gone", ".part", ".unverified", ".assembling", ".tmp")


def requested(storage: Mapping[str, object], field: str) -> str:
    """The location asked for in `storage[field]` ("Path" or "Key"), normalised; `Type` is ignored (a
    hook may send back what it was told), any other field is refused: it asks for what we do not do."""
    other = sorted(str(k) for k in storage if k not in (field, "Type"))
    if other:
        raise PlacementRefused(f"this store takes only Storage.{field}, not {', '.join(other)}")
    value = storage.get(field)
    if not isinstance(value, str) or not value:
        raise PlacementRefused(f"Storage.{field} must be a non-empty string")
    return relative(value, field)


def relative(value: str, field: str = "Path") -> str:
    """`value` as a safe relative location with `/` separators, or PlacementRefused saying why not."""
    if len(value.encode("utf-8", "surrogatepass")) > MAX_BYTES:
        raise PlacementRefused(f"Storage.{field} is longer than {MAX_BYTES} bytes")
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
        raise PlacementRefused(f"Storage.{field} holds a control character")
    if value.startswith(("/", "\\")):
        raise PlacementRefused(f"Storage.{field} must be relative, not absolute")
    parts = [part for part in value.split("/") if part not in ("", ".")]
    if not parts:
        raise PlacementRefused(f"Storage.{field} names no file")
    for part in parts:
        if part == "..":
            raise PlacementRefused(f"Storage.{field} must not contain '..'")
        if part.startswith("."):
            raise PlacementRefused(f"Storage.{field} must not have a component starting with '.'")
        if part.endswith(_OWN_SUFFIXES):
            raise PlacementRefused(f"Storage.{field} must not end a component with {', '.join(_OWN_SUFFIXES)}")
        if len(part.encode("utf-8", "surrogatepass")) > _MAX_COMPONENT_BYTES:
            raise PlacementRefused(f"Storage.{field} has a component longer than {_MAX_COMPONENT_BYTES} bytes")
    if len(parts) == 1 and looks_like_upload_id(parts[0]):
        raise PlacementRefused(f"Storage.{field} of one component must not be shaped like an upload ID")
    return "/".join(parts)
