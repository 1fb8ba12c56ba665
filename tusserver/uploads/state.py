"""Per-process state of the upload service, each behind a small Protocol.

Nothing here is needed for correctness across workers: it saves work (a parked final is not
re-checked on every HEAD, an owner at its cap is not pruned on every POST) and every entry can be
lost without harm (see `assembler.py`, `limits.py`). The Protocols are where a shared (Redis)
implementation plugs in when several instances should share the savings too.
"""

from __future__ import annotations

import time
from typing import Protocol

# Beyond this the tables are cleared: a lost entry costs one extra re-check (a lost `_waiting` entry:
# the part's last byte still wakes its finals through the shared `finals_of_part` set, see assembler.py).
_MAX_ENTRIES = 10_000


class FinalParking(Protocol):
    """Finals that wait on unfinished parts: which parts they wait on, and when to re-check them."""

    def is_parked(self, final_id: str) -> bool: ...

    def park(self, final_id: str, seconds: float) -> None: ...

    def unpark(self, final_id: str) -> None: ...

    def wait_on(self, part_id: str, final_id: str) -> None: ...

    def take_waiting(self, part_id: str) -> set[str]:
        """The finals this process saw waiting on `part_id`, forgotten as they are returned (also
        called to forget them when the part is deleted or expires)."""
        ...


class RateGate(Protocol):
    def allow(self, key: str, interval_s: float) -> bool:
        """True at most once per `interval_s` for each key."""
        ...


class MemoryFinalParking:
    def __init__(self) -> None:
        self._until: dict[str, float] = {}  # final id -> monotonic time to re-check its parts
        self._waiting: dict[str, set[str]] = {}  # part id -> final ids to assemble when it finishes

    def is_parked(self, final_id: str) -> bool:
        return self._until.get(final_id, 0.0) > time.monotonic()

    def park(self, final_id: str, seconds: float) -> None:
        if len(self._until) > _MAX_ENTRIES:
            self._until.clear()
        self._until[final_id] = time.monotonic() + seconds

    def unpark(self, final_id: str) -> None:
        self._until.pop(final_id, None)

    def wait_on(self, part_id: str, final_id: str) -> None:
        if part_id not in self._waiting and len(self._waiting) >= _MAX_ENTRIES:
            self._waiting.clear()  # a part that never finishes must not keep its entry for ever
        finals = self._waiting.setdefault(part_id, set())
        if len(finals) >= _MAX_ENTRIES:
            finals.clear()
        finals.add(final_id)

    def take_waiting(self, part_id: str) -> set[str]:
        return self._waiting.pop(part_id, set())


class MemoryRateGate:
    def __init__(self) -> None:
        self._last: dict[str, float] = {}

    def allow(self, key: str, interval_s: float) -> bool:
        now = time.monotonic()
        if now - self._last.get(key, -interval_s) < interval_s:
            return False
        if len(self._last) > _MAX_ENTRIES:
            self._last.clear()
        self._last[key] = now
        return True
