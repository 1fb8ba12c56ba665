"""The one registry of storage backends: a name → the class, imported lazily so `[s3]` stays optional.

In-repo backends are listed in `BUILTIN`; a plug-in package registers under the `tusserver.stores`
entry-point group (`name = "package.module:Class"`); embedding code or a test calls `register_store`.
Everything that depends on the backend asks the class (`store_class(name).default_locker`, ...), and
only `wiring.py` does, so no other module names a store.
"""

from __future__ import annotations

import functools
from importlib.metadata import entry_points

from ..extras import import_from_string
from .base import Store

ENTRY_POINT_GROUP = "tusserver.stores"
BUILTIN = {
    "file": "tusserver.storage.local:LocalStore",
    "memory": "tusserver.storage.memory:MemoryStore",
    "s3": "tusserver.storage.s3:S3Store",
    "azure": "tusserver.storage.azure:AzureStore",
    "gcs": "tusserver.storage.gcs:GCSStore",
}
_registered: dict[str, str | type[Store]] = {}


def register_store(name: str, store: str | type[Store]) -> None:
    """Make `--store NAME` use `store` (a class, or "module:Class" imported when first used)."""
    _registered[name] = store


def unregister_store(name: str) -> None:
    _registered.pop(name, None)


@functools.cache
def _plugins() -> dict[str, str]:
    return {ep.name: ep.value for ep in entry_points(group=ENTRY_POINT_GROUP)}


def _known() -> dict[str, str | type[Store]]:
    return {**_plugins(), **BUILTIN, **_registered}


def store_names() -> list[str]:
    return sorted(_known())


def store_class(name: str) -> type[Store]:
    """The backend registered as `name`; KeyError when there is none."""
    found = _known()[name]
    cls: type[Store] = import_from_string(found) if isinstance(found, str) else found
    return cls
