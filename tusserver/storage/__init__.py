"""Storage backends, chosen by name and imported lazily so the `[s3]` extra stays optional."""

from __future__ import annotations

import importlib
from typing import Any

from ..config import Settings
from .base import Store

STORES = {
    "file": "tusserver.storage.local:LocalStore",
    "memory": "tusserver.storage.memory:MemoryStore",
    "s3": "tusserver.storage.s3:S3Store",
}


def import_from_string(path: str) -> Any:
    module, _, attr = path.partition(":")
    return getattr(importlib.import_module(module), attr)


def build_store(settings: Settings) -> Store:
    cls = import_from_string(STORES[settings.store])
    store: Store = cls.from_settings(settings)
    return store
