"""Optional dependencies: a clear start-up error naming the extra to install, instead of an ImportError.

The base install is only what `tusserver serve` needs on its default (file store, file locks); S3,
Redis, Prometheus and the client's progress bar are extras, imported only where they are used.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

from .config import SettingsError


def require_extra(module: str, extra: str, feature: str) -> ModuleType:
    """Import `module`, or raise `SettingsError` telling how to install the `[extra]` that `feature` needs."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise SettingsError(f"{feature} needs the [{extra}] extra: pip install 'tusserver[{extra}]'") from None


def import_from_string(path: str) -> Any:
    """`"package.module:Name"` -> the object: how registries name what they import only when chosen."""
    module, _, attr = path.partition(":")
    return getattr(importlib.import_module(module), attr)
