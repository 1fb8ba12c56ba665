"""How an upload is cut into S3 parts, and the writer that sends them while the body is still arriving.

S3 multipart limits: at most 10,000 parts, each 5 MiB to 5 GiB except the last, which may be shorter.
`plan_part_size` picks one size for every part but the last, from the upload's length (or, for a
deferred length, the most it may grow to), so the whole upload always fits and stores that require
equal parts (Cloudflare R2) accept it.

The writer that sends the parts while the body arrives is `part_writer.PartWriter`, shared with the
other object stores.
"""

from __future__ import annotations

from ..part_writer import MEMORY_PART_LIMIT, PartBody, PartMemory, PartWriter, SendPart

__all__ = [
    "MAX_OBJECT", "MAX_PART", "MAX_PARTS", "MEMORY_PART_LIMIT", "MIN_PART", "PREFERRED_PART", "GiB", "MiB",
    "PartBody", "PartMemory", "PartWriter", "SendPart", "parts_needed", "plan_part_size",
]  # fmt: skip

MiB = 1024 * 1024
GiB = 1024 * MiB
MIN_PART = 5 * MiB
MAX_PART = 5 * GiB
MAX_PARTS = 10_000
MAX_OBJECT = MAX_PARTS * MAX_PART  # what one multipart upload can hold: the store's largest upload
PREFERRED_PART = 8 * MiB


def plan_part_size(length: int | None, preferred: int = PREFERRED_PART, max_length: int | None = None) -> int:
    """The size of every part but the last, for `length` bytes (or up to `max_length` when deferred).

    The preferred size (clamped to 5 MiB..5 GiB) when 10,000 parts of it hold the upload; otherwise the
    smallest whole number of MiB that does. Raises ValueError beyond 10,000 parts of 5 GiB.
    """
    size = length if length is not None else (max_length or MAX_OBJECT)
    if size > MAX_OBJECT:
        raise ValueError(f"{size} bytes do not fit in {MAX_PARTS} parts of {MAX_PART} bytes")
    part = min(max(preferred, MIN_PART), MAX_PART)
    needed = -(-size // MAX_PARTS)
    if needed > part:
        part = min(-(-needed // MiB) * MiB, MAX_PART)
    return part


def parts_needed(length: int, part_size: int) -> int:
    return max(1, -(-length // part_size))
