"""Lockers, chosen by name and imported lazily so the `[redis]` extra stays optional."""

from __future__ import annotations

from typing import Any

from ..config import Settings
from ..storage import import_from_string
from .base import Locker, LockTimeout

LOCKERS = {
    "memory": "tusserver.locking.memory:MemoryLocker",
    "file": "tusserver.locking.file:FileLocker",
    "redis": "tusserver.locking.redis:RedisLocker",
}

__all__ = ["LOCKERS", "Locker", "LockTimeout", "build_locker"]


def build_locker(settings: Settings, redis: Any = None) -> Locker:
    """The locker `settings` name; the Redis one on the app's shared client `redis` if given."""
    if settings.effective_locker == "redis" and redis is not None:
        from .redis import RedisLocker

        return RedisLocker.from_settings(settings, redis)
    locker: Locker = import_from_string(LOCKERS[settings.effective_locker]).from_settings(settings)
    return locker
