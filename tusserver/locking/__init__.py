"""Lockers by name, imported lazily (by `wiring.build_locker`) so the `[redis]` extra stays optional."""

from __future__ import annotations

from .base import Locker, LockTimeout

LOCKERS = {
    "memory": "tusserver.locking.memory:MemoryLocker",
    "file": "tusserver.locking.file:FileLocker",
    "redis": "tusserver.locking.redis:RedisLocker",
}

__all__ = ["LOCKERS", "Locker", "LockTimeout"]
