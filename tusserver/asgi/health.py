"""`GET /healthz` (the process answers) and `GET /readyz` (store and locker reachable), without a token.

Pure ASGI, in front of auth and the routes, so a load balancer or Kubernetes probe needs no token and
never touches the upload path. Readiness reads a record that does not exist and takes a lock on a
probe key: the cheapest operations that prove each backend answers.
"""

from __future__ import annotations

import asyncio
import logging
import secrets

from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from ..errors import UploadGone, UploadNotFound, as_unavailable
from ..locking.base import Locker
from ..storage.base import Store

log = logging.getLogger("tusserver")

PROBE_TIMEOUT_S = 5.0


class HealthMiddleware:
    def __init__(self, app: ASGIApp, store: Store, locker: Locker) -> None:
        self.app = app
        self.store = store
        self.locker = locker

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if path not in ("/healthz", "/readyz") or scope["method"] not in ("GET", "HEAD"):
            await self.app(scope, receive, send)
            return
        if path == "/healthz":
            response = PlainTextResponse("ok\n", headers={"Cache-Control": "no-store"})
        else:
            problem = await readiness_problem(self.store, self.locker)
            body, status = ("ready\n", 200) if problem is None else (f"not ready: {problem}\n", 503)
            response = PlainTextResponse(body, status_code=status, headers={"Cache-Control": "no-store"})
        await response(scope, receive, send)


async def readiness_problem(store: Store, locker: Locker) -> str | None:
    """None when the store and the locker answer; otherwise which one does not (details go to the log)."""
    probe = "readyz" + secrets.token_hex(8)  # a valid id no upload has
    try:
        await asyncio.wait_for(_store_answers(store, probe), PROBE_TIMEOUT_S)
    except Exception as exc:
        return _problem("store", exc)
    try:
        await asyncio.wait_for(_locker_answers(locker, probe), PROBE_TIMEOUT_S)
    except Exception as exc:
        return _problem("locker", exc)
    return None


def _problem(backend: str, exc: Exception) -> str:
    """What /readyz says: the missing bucket or Redis by name (an expected state, no traceback in the log)."""
    unavailable = as_unavailable(exc)
    if unavailable is not None:
        return unavailable.detail
    log.warning("readyz: the %s does not answer: %r", backend, exc)
    return f"{backend} unreachable"


async def _store_answers(store: Store, probe: str) -> None:
    try:
        await store.get_info(probe)
    except (UploadNotFound, UploadGone):
        return


async def _locker_answers(locker: Locker, probe: str) -> None:
    async with locker.lock(probe, timeout_s=1.0, request_release=False):
        pass
