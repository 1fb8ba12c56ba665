"""The composition root: the one place that turns `Settings` into running parts.

Everything that needs to know which store, locker or hook module exists lives here, so `config.py`
stays a leaf (it names no backend) and no backend names another:

- `check(settings)`: `Settings.validate()` plus the checks that need the chosen backend (does the
  store exist, can it run in several workers, how large an upload it holds, its own settings);
  the locker name left empty is resolved to the store's `default_locker` here, once.
- `redis_shared(settings)`: the one decision about Redis. When the locks are in Redis, the
  instances share nothing else, so the instant-upload index and the running digest states go
  there too, all on one client (one connection pool, `state/redis_client.py`).
- `build(settings)`: the store, locker, digest index, digest states, hooks and the upload service
  (`uploads.service.Uploads`) on them, and `Backends.prepare` / `Backends.aclose` for whoever runs
  them: `app.create_app` (the HTTP server) and `tusserver cleanup` (no HTTP at all).

The registries themselves stay with what they list (`storage.register_store`, the `tusserver.stores`
entry points, `locking.LOCKERS`), as plug-in authors know them.
"""

from __future__ import annotations

import asyncio
import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .config import Settings, SettingsError
from .extras import import_from_string
from .hooks import Hooks, parse_enabled
from .locking import LOCKERS
from .locking.base import Locker
from .state.digest_states import DigestStates, RedisDigestStates
from .state.redis_client import connect as connect_redis
from .storage import store_class, store_names
from .storage.base import Store
from .storage.composer import StoreComposer
from .storage.digest_index import DigestIndex, FileDigestIndex, MemoryDigestIndex, SupportsAclose
from .uploads.service import Uploads


def check(settings: Settings) -> Settings:
    """A normalised copy of `settings` with the locker resolved, or SettingsError naming the first bad option."""
    settings = settings.validate()
    try:
        parse_enabled(settings.hooks_enabled)
    except ValueError as exc:
        raise SettingsError(f"--hooks-enabled: {exc}") from None
    if settings.store not in store_names():
        raise SettingsError(f"--store must be one of {', '.join(store_names())}; got {settings.store!r}")
    backend = store_class(settings.store)
    locker = settings.locker or backend.default_locker
    if locker not in LOCKERS:
        raise SettingsError(f"--locker must be one of {', '.join(sorted(LOCKERS))}; got {settings.locker!r}")
    if backend.one_process and settings.workers > 1:
        raise SettingsError(f"--store {settings.store} keeps uploads in one process; it cannot run with --workers > 1")
    if settings.workers > 1 and locker == "memory":
        raise SettingsError("--locker memory only locks within one process; use file or redis with --workers > 1")
    backend.check_settings(settings)
    max_size = settings.max_size_bytes
    if backend.max_upload_bytes:
        # e.g. S3: one multipart upload holds 10,000 parts of 5 GiB. No limit means the store's, more is refused.
        if max_size > backend.max_upload_bytes:
            limit = backend.max_upload_bytes
            raise SettingsError(f"--max-size is over the {limit} bytes a {settings.store} upload can hold")
        max_size = max_size or backend.max_upload_bytes
    return dataclasses.replace(settings, locker=locker, max_size_bytes=max_size)


def redis_shared(settings: Settings) -> bool:
    """Whether the state instances share lives in Redis: yes exactly when the locks do (checked settings)."""
    return settings.locker == "redis"


def build_store(settings: Settings) -> Store:
    return store_class(settings.store).from_settings(settings)


def build_locker(settings: Settings, redis: Any = None) -> Locker:
    """The locker `settings.locker` names (checked settings); the Redis one on the shared client `redis`."""
    if settings.locker == "redis" and redis is not None:
        from .locking.redis import RedisLocker

        return RedisLocker.from_settings(settings, redis)
    locker: Locker = import_from_string(LOCKERS[settings.locker]).from_settings(settings)
    return locker


def build_digest_index(settings: Settings, store: Store, redis: Any = None) -> DigestIndex:
    """The instant-upload index every instance or worker that shares `store` can see.

    Redis when the locks are there (instances on several hosts share Redis, whatever the store);
    files beside the data when the store keeps its data on a disk its workers share; else per process.
    """
    if redis_shared(settings):
        from .storage.redis_digest_index import RedisDigestIndex

        return RedisDigestIndex.from_settings(settings, redis)
    if store.shares_disk_index:
        return FileDigestIndex(Path(settings.data_dir) / ".digests")
    return MemoryDigestIndex()


def build_digest_states(settings: Settings, redis: Any = None) -> DigestStates | None:
    """Running `Repr-Digest` states in Redis when the locks are there; None: in this process's memory."""
    return RedisDigestStates.from_settings(settings, redis) if redis_shared(settings) else None


@dataclass
class Backends:
    """What `build` made: the backends and the upload service on them."""

    settings: Settings
    store: Store
    locker: Locker
    digest_index: DigestIndex
    hooks: Hooks
    uploads: Uploads
    redis: Any = None  # the one shared client, when `redis_shared`

    async def prepare(self) -> None:
        await self.store.prepare()
        await self.locker.prepare()

    async def aclose(self) -> None:
        """Let cut writes flush, stop assemblies, deliver queued hooks, then close every backend once."""
        writers = self.uploads.writers
        if writers:
            # uvicorn has just cancelled requests still running after its graceful timeout; a cut
            # PATCH stops reading and flushes what it received, which takes a moment: let it finish.
            await asyncio.wait(set(writers), timeout=self.settings.shutdown_timeout_s)
        for task in list(self.uploads.assembler.tasks):
            task.cancel()
        await self.hooks.drain(self.settings.shutdown_timeout_s)
        await self.locker.aclose()
        await self.uploads.digests.aclose()
        if isinstance(self.digest_index, SupportsAclose):
            await self.digest_index.aclose()
        if self.redis is not None:
            await self.redis.aclose()  # after the three users above, which do not close a shared client
        await self.store.aclose()


def build(
    settings: Settings,
    *,
    store: Store | None = None,
    locker: Locker | None = None,
    digest_index: DigestIndex | None = None,
    hooks: Hooks | None = None,
) -> Backends:
    """Check `settings` and build every backend it names (or use the ones given) and the upload service."""
    settings = check(settings)
    store = store or build_store(settings)
    redis = connect_redis(settings.redis_url) if redis_shared(settings) else None
    locker = locker or build_locker(settings, redis)
    if digest_index is None:
        digest_index = build_digest_index(settings, store, redis)
    # Capabilities are resolved here, once (the composer), and the hooks and upload service built on them.
    stores = StoreComposer.of(store)
    hooks = hooks if hooks is not None else Hooks()
    hooks.configure(settings, store, stores.placer)
    uploads = Uploads(settings, stores, locker, hooks, digest_index, build_digest_states(settings, redis))
    return Backends(settings, store, locker, digest_index, hooks, uploads, redis)
