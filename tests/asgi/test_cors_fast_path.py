"""asgi/cors.py's fast path answers exactly as Starlette's CORSMiddleware does for a request without Origin."""

from __future__ import annotations

import asyncio

import httpx
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from tusserver.asgi.cors import CORS


async def _app(scope: Scope, receive: Receive, send: Send) -> None:
    vary = {"Vary": "Accept-Encoding"} if scope["path"] == "/varies" else {}
    await Response(b"body", headers={"X-Kept": "1", **vary})(scope, receive, send)


def _headers(middleware: type[CORSMiddleware], path: str, origin: str | None) -> list[tuple[str, str]]:
    async def call() -> list[tuple[str, str]]:
        app = middleware(_app, allow_origins=["*"], expose_headers=["Upload-Offset"])
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            response = await client.get(path, headers={"Origin": origin} if origin else {})
        return sorted(response.headers.multi_items())

    return asyncio.run(call())


def test_fast_path_matches_starlette() -> None:
    for path in ("/plain", "/varies"):
        for origin in (None, "https://app.example.test"):
            assert _headers(CORS, path, origin) == _headers(CORSMiddleware, path, origin), (path, origin)
    assert ("vary", "Accept-Encoding, Origin") in _headers(CORS, "/varies", None)
