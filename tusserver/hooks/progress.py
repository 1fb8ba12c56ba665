"""post-receive throttling: at most one event per upload per `--progress-interval`, never the same offset twice.

A PATCH reports its progress many times a second on a fast link, and both while its body arrives and
when it ends; a receiver wants a steady trickle, each offset once, and always the last byte.
"""

from __future__ import annotations

import time

_MAX_TRACKED = 100_000  # uploads remembered at once; past it the memory is cleared, at worst one extra event each


class ProgressThrottle:
    def __init__(self, interval_s: float = 1.0) -> None:
        self.interval_s = interval_s
        self._last: dict[str, tuple[float, int]] = {}  # upload id -> (when, offset) of the last event sent

    def due(self, upload_id: str, offset: int, complete: bool = False) -> bool:
        """Whether a post-receive for `upload_id` at `offset` may go out now (always for the last byte)."""
        now = time.monotonic()
        last = self._last.get(upload_id)
        if last is not None and (last[1] == offset or (now - last[0] < self.interval_s and not complete)):
            return False
        if len(self._last) > _MAX_TRACKED:
            self._last.clear()
        self._last[upload_id] = (now, offset)
        return True

    def forget(self, upload_id: str) -> None:
        self._last.pop(upload_id, None)
