"""A hook's answer as bytes off the wire, then as tusd's response JSON: capped while it is read.

A receiver (or a broken hook script) must never make the server buffer more than a small JSON object
needs: the cap is checked per chunk, so a 200 MB answer costs 1 MiB, not 200 MB (issue #22).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from ..delivery import HookFailure

MAX_ANSWER_BYTES = 1024 * 1024


async def read_capped(chunks: AsyncIterator[bytes], source: str, cap: int = MAX_ANSWER_BYTES) -> bytes:
    """A hook's answer, read no further than `cap` bytes."""
    parts: list[bytes] = []
    size = 0
    async for chunk in chunks:
        size += len(chunk)
        if size > cap:
            raise HookFailure(f"{source} answered more than {cap} bytes", retry=False)
        parts.append(chunk)
    return b"".join(parts)


def parse_response(raw: bytes, source: str) -> dict[str, Any]:
    """tusd's response JSON; an empty answer means "no objection"."""
    if not raw.strip():
        return {}
    if len(raw) > MAX_ANSWER_BYTES:
        raise HookFailure(f"{source} answered more than {MAX_ANSWER_BYTES} bytes", retry=False)
    try:
        data = json.loads(raw)
    except ValueError:
        raise HookFailure(f"{source} answered something that is not JSON", retry=False) from None
    if not isinstance(data, dict):
        raise HookFailure(f"{source} answered JSON that is not an object", retry=False)
    return data
