"""With `--locker redis` an app opens one Redis client (one connection pool), used by the locker, the
instant-upload index and the digest states, and closes it once at shutdown.

Before, each of the three opened its own pool: three sets of connections per worker to the same server.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import pytest

from tests.conftest import AppFactory
from tests.support import PATCH, TUS, wait_for


def test_one_redis_client_per_app(app_factory: AppFactory, redis_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import redis
    import redis.asyncio as aioredis

    made: list[Any] = []
    closed: list[Any] = []
    from_url, aclose = aioredis.Redis.from_url.__func__, aioredis.Redis.aclose  # type: ignore[attr-defined]

    def counting_from_url(cls: type, *args: Any, **kwargs: Any) -> Any:
        made.append(from_url(cls, *args, **kwargs))
        return made[-1]

    async def counting_aclose(self: Any, *args: Any, **kwargs: Any) -> None:
        closed.append(self)
        await aclose(self, *args, **kwargs)

    monkeypatch.setattr(aioredis.Redis, "from_url", classmethod(counting_from_url))
    monkeypatch.setattr(aioredis.Redis, "aclose", counting_aclose)

    probe = redis.Redis.from_url(redis_url)
    before = {c["id"] for c in probe.client_list()}  # the probe's and the fixture's own
    server = app_factory("--locker", "redis", "--redis-url", redis_url, "--instant-upload", "on")
    data = b"shared pool" * 100
    digest = f"sha-256=:{base64.b64encode(hashlib.sha256(data).digest()).decode()}:"
    # Two PATCHes (locks, a saved digest state between them), a finish (the index), then a hit on the index.
    url = server.create(len(data), {"Repr-Digest": digest})
    assert server.client.patch(url, content=data[:500], headers={**PATCH, "Upload-Offset": "0"}).status_code == 204
    r = server.client.patch(url, content=data[500:], headers={**PATCH, "Upload-Offset": "500"})
    assert r.status_code == 204, r.text
    r = server.client.post(server.endpoint, headers={**TUS, "Upload-Length": str(len(data)), "Repr-Digest": digest})
    assert r.status_code == 201 and r.headers["Upload-Offset"] == str(len(data)), r.headers  # an instant upload

    try:
        assert len(made) == 1, f"{len(made)} Redis clients for one app"
        assert len({c["id"] for c in probe.client_list()} - before) >= 1
        server.stop()
        assert closed == made  # closed once, at shutdown
        wait_for(lambda: not {c["id"] for c in probe.client_list()} - before, what="the app's connections closed")
    finally:
        probe.close()
