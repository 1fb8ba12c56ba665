"""Type aliases shared across modules."""

from __future__ import annotations

from collections.abc import AsyncIterator

ChunkStream = AsyncIterator[bytes]
Metadata = dict[str, str | None]
