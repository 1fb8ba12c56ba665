"""`/healthz`, `/readyz` and `tusserver --version`, against a real server, with auth on (no token needed)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx

import tusserver
from tests.conftest import ServerFactory
from tusserver import Settings, create_app


def test_health_and_readiness_need_no_token(server_factory: ServerFactory) -> None:
    server = server_factory("--jwt-secret", "s" * 32)
    assert httpx.head(f"{server.endpoint}0123456789abcdefghij", headers={"Tus-Resumable": "1.0.0"}).status_code == 401
    health = httpx.get(f"{server.url}/healthz")
    assert (health.status_code, health.text) == (200, "ok\n")
    ready = httpx.get(f"{server.url}/readyz")
    assert (ready.status_code, ready.text) == (200, "ready\n")
    assert "x-new-token" not in health.headers


def test_readyz_is_503_naming_the_backend_that_does_not_answer(tmp_path: Path) -> None:
    """A store or a locker that fails after start (a dead NFS mount, redis restarting): 503, not 200."""
    import asyncio
    import contextlib
    from collections.abc import AsyncIterator
    from typing import Any

    async def broken_get_info(upload_id: str) -> None:
        raise OSError("disk gone")

    @contextlib.asynccontextmanager
    async def broken_lock(upload_id: str, **kwargs: Any) -> AsyncIterator[None]:
        raise ConnectionError("redis gone")
        yield

    app = create_app(Settings(data_dir=tmp_path / "data"))
    ctx = app.state.tus  # health probes the same store and locker objects the handlers use

    async def readyz() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return await client.get("/readyz")

    response = asyncio.run(readyz())  # the first request prepares the backends (no lifespan here)
    assert (response.status_code, response.text) == (200, "ready\n")
    leftovers = sorted(p.name for p in (tmp_path / "data").rglob("*") if "readyz" in p.name)
    assert leftovers == []  # a probe leaves nothing behind
    ctx.store.get_info = broken_get_info
    response = asyncio.run(readyz())
    assert (response.status_code, response.text) == (503, "not ready: store unreachable\n")
    del ctx.store.get_info  # the class's method again
    ctx.locker.lock = broken_lock
    response = asyncio.run(readyz())
    assert (response.status_code, response.text) == (503, "not ready: locker unreachable\n")


def test_version() -> None:
    done = subprocess.run([sys.executable, "-m", "tusserver", "--version"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.strip() == f"tusserver {tusserver.__version__}"
