"""Lockers, chosen by name and imported lazily so the `[redis]` extra stays optional."""

from __future__ import annotations

from ..config import Settings
from ..storage import import_from_string
from .base import Locker, LockTimeout

LOCKERS = {
    "memory": "tusserver.locking.memory:MemoryLocker",
    "file": "tusserver.locking.file:FileLocker",
    "redis": "tusserver.locking.redis:RedisLocker",
}

__all__ = ["LOCKERS", "Locker", "LockTimeout", "build_locker"]


def build_locker(settings: Settings) -> Locker:
    locker: Locker = import_from_string(LOCKERS[settings.effective_locker]).from_settings(settings)
    return locker
