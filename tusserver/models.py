"""The record kept for every upload, and its JSON form on disk or in object storage."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field, fields
from typing import Any

from .types import Metadata

INFO_VERSION = 1


@dataclass
class UploadInfo:
    id: str
    length: int | None  # None while the length is deferred
    offset: int = 0
    metadata: Metadata = field(default_factory=dict)
    concat: str | None = None  # None, "partial" or "final"
    parts: list[str] = field(default_factory=list)  # ids of the partial uploads of a final one
    owner: str | None = None  # the token `sub` that created it; None when auth is off
    created: float = field(default_factory=time.time)
    repr_digest: str | None = None  # "sha-256=:...:" declared on creation, verified at the end
    dedup_of: str | None = None  # id of the upload whose bytes this one shares
    max_length: int | None = None  # a final's size limit (--max-size, token max_size) fixed when it was created
    stopped: bool = False  # a post-receive hook said StopUpload: no more PATCHes (tusd's "stopped by server")
    storage: dict[str, Any] = field(default_factory=dict)  # backend-specific fields

    @property
    def is_final(self) -> bool:
        return self.concat == "final"

    @property
    def is_partial(self) -> bool:
        return self.concat == "partial"

    @property
    def is_complete(self) -> bool:
        return self.length is not None and self.offset == self.length

    def to_json(self) -> bytes:
        # Not dataclasses.asdict: its deep copy showed in small-upload profiles, and json needs none.
        # The offset is left out: the stored bytes are the truth for it, never a copy in the record.
        data = {name: getattr(self, name) for name in _RECORD_FIELDS}
        data["v"] = INFO_VERSION
        return json.dumps(data, separators=(",", ":")).encode()

    @classmethod
    def from_json(cls, raw: bytes, offset: int = 0) -> UploadInfo:
        data = json.loads(raw)
        data.pop("v", None)
        known = cls.__dataclass_fields__
        return cls(**{k: v for k, v in data.items() if k in known}, offset=offset)


_RECORD_FIELDS = tuple(f.name for f in fields(UploadInfo) if f.name != "offset")
