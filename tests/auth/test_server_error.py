"""Even a bug's 500 carries a fresh token when the request's token was valid (in-process: a broken store)."""

from __future__ import annotations

import asyncio

import httpx

from tests.auth.session import bearer, decode, mint
from tusserver.app import create_app
from tusserver.config import Settings
from tusserver.models import UploadInfo
from tusserver.storage.memory import MemoryStore


class BrokenStore(MemoryStore):
    async def get_info(self, upload_id: str) -> UploadInfo:
        raise RuntimeError("simulated bug")


def test_unhandled_error_still_rotates_the_token() -> None:
    app = create_app(Settings(store="memory", jwt_secret="s", token_ttl_s=2), store=BrokenStore())

    async def run() -> httpx.Response:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://tus.test") as client:
            return await client.head("/files/abcdefghijklmnop", headers=bearer(mint("buggy")))

    response = asyncio.run(run())
    assert response.status_code == 500
    assert decode(response.headers["X-New-Token"])["sub"] == "buggy"
