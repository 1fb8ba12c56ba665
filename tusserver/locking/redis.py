"""Locks across hosts: a Redis key per upload, leased and renewed, for several tusserver instances.

Acquire is `SET key token NX PX lease`; release is a compare-and-delete script, so an instance can
never free a lock it lost. While held, one task per lock renews the lease and polls a
release-request key; when another instance asks (or the lease is lost) the holder's
`on_release_request` callback cuts its body stream, like the file locker does on one host.

The renewal task is stopped by a flag as well as by `cancel()`: on Python 3.11 redis-py sends each
command under `asyncio.wait_for`, which returns the command's result and drops a cancellation that
lands just as the command finishes. A renewal task that relied on `cancel()` alone then renewed the
lease for ever, the lock's exit waited on it for ever, and every later request on that upload got
423. The flag is checked after every await, so a lost cancellation costs at most one Redis command.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from ..config import Settings
from ..errors import BackendUnavailable, as_unavailable
from ..state.redis_client import DELETE_IF_EQUAL, connect, describe, unreachable
from .base import LockTimeout, ReleaseCallback

log = logging.getLogger("tusserver.locking.redis")

_RENEW = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end
"""


class RedisLocker:
    def __init__(
        self,
        url: str,
        *,
        prefix: str = "tusserver:",
        lease_s: float = 10.0,
        poll_s: float = 0.05,
        client: Any = None,
    ) -> None:
        self._where = describe(url)
        self._owns_client = client is None  # a shared client (`redis_client`) is closed by its owner
        self._client: Any = connect(url) if client is None else client
        self.prefix = prefix
        self.lease_ms = int(lease_s * 1000)
        self.poll_s = poll_s
        self._release_script: Any = self._client.register_script(DELETE_IF_EQUAL)
        self._renew_script: Any = self._client.register_script(_RENEW)
        self._letting_go: set[asyncio.Future[None]] = set()

    @classmethod
    def from_settings(cls, settings: Settings, client: Any = None) -> RedisLocker:
        return cls(settings.redis_url, poll_s=settings.lock_poll_s, client=client)

    async def prepare(self) -> None:
        try:
            await self._client.ping()
        except Exception as exc:
            raise BackendUnavailable(unreachable(self._where)) from exc

    async def aclose(self) -> None:
        if self._letting_go:  # locks still being freed by cancelled requests: free them first
            await asyncio.wait(set(self._letting_go), timeout=5)
        if self._owns_client:
            await self._client.aclose()

    def _keys(self, upload_id: str) -> tuple[str, str]:
        return f"{self.prefix}lock:{upload_id}", f"{self.prefix}release:{upload_id}"

    @asynccontextmanager
    async def lock(
        self,
        upload_id: str,
        *,
        timeout_s: float,
        request_release: bool = True,
        on_release_request: ReleaseCallback | None = None,
    ) -> AsyncIterator[None]:
        lock_key, release_key = self._keys(upload_id)
        token = secrets.token_hex(16)
        deadline = time.monotonic() + timeout_s
        while not await self._client.set(lock_key, token, nx=True, px=self.lease_ms):
            if request_release:
                await self._client.set(release_key, "1", px=self.lease_ms)
            if time.monotonic() >= deadline:
                raise LockTimeout(upload_id)
            await asyncio.sleep(self.poll_s)
        await self._client.delete(release_key)  # it was meant for the holder before us
        stop = asyncio.Event()
        keeper = asyncio.create_task(self._keep(lock_key, release_key, token, stop, on_release_request))
        try:
            yield
        finally:
            # Shielded: a request cancelled while letting go still frees the lock (in the background)
            # instead of leaving it to the lease; its own cancellation still propagates.
            letting_go = asyncio.ensure_future(self._let_go(keeper, stop, lock_key, token))
            self._letting_go.add(letting_go)  # a strong reference while it may run on after a cancellation
            letting_go.add_done_callback(self._letting_go.discard)
            await asyncio.shield(letting_go)

    async def _let_go(self, keeper: asyncio.Task[None], stop: asyncio.Event, lock_key: str, token: str) -> None:
        stop.set()
        keeper.cancel()
        await asyncio.wait({keeper})  # not `await keeper`: that would re-raise the keeper's own cancellation
        try:
            await self._release_script(keys=[lock_key], args=[token])
        except Exception as exc:
            if as_unavailable(exc) is None:
                raise
            # The request's work is done (a PATCH's bytes are stored): its answer must say so, not 503.
            # The lock frees itself when its lease runs out.
            log.warning(
                "could not release lock %s (%s); it expires with its lease in %d s",
                lock_key, exc, self.lease_ms // 1000,
            )  # fmt: skip

    async def _keep(
        self, lock_key: str, release_key: str, token: str, stop: asyncio.Event, callback: ReleaseCallback | None
    ) -> None:
        """Renew the lease; tell the holder to stop when asked to release or when the lease was lost."""
        interval = max(self.poll_s * 4, 0.1)
        renew_every = self.lease_ms / 3000
        last_renew = time.monotonic()
        asked = False

        def ask() -> None:
            nonlocal asked
            if callback is not None and not asked:
                asked = True
                callback()

        while not stop.is_set():
            await asyncio.sleep(interval)
            if stop.is_set():
                return
            try:
                if time.monotonic() - last_renew >= renew_every:
                    renewed = await self._renew_script(keys=[lock_key], args=[token, self.lease_ms])
                    last_renew = time.monotonic()
                    if stop.is_set():
                        return
                    if not renewed:
                        ask()  # the lease expired and may be someone else's now: stop writing
                if callback is not None and not asked and await self._client.exists(release_key) and not stop.is_set():
                    ask()
            except Exception as exc:  # noqa: BLE001 - Redis unreachable for a moment: the next round retries
                log.warning("renewing the lock %s failed: %s", lock_key, exc)
