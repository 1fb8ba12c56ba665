"""The one way tusserver opens Redis, and the script every Redis user here needs.

The locker, the instant-upload index and the digest states share one client (one connection pool)
per app: `wiring.build` opens it with `connect` and hands it to each, and `Backends.aclose` closes
it once, after they are done, at shutdown. Each of them closes only a client it opened itself (built alone with
`from_settings`, as tests and embedders may). Three pools had meant three sets of connections to the
same server from every worker, and three closes at shutdown.
"""

from __future__ import annotations

from typing import Any

from ..errors import register_unavailable
from ..extras import require_extra

# Delete KEYS[1] only while it still holds ARGV[1]: a lock released by its holder alone, an index entry
# removed only if no other instance has replaced it since.
DELETE_IF_EQUAL = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end
"""


def connect(url: str) -> Any:
    """An asyncio Redis client for `url` (connects lazily, on its first command)."""
    aioredis = require_extra("redis.asyncio", "redis", "--locker redis")
    from redis.exceptions import ConnectionError, TimeoutError

    where = describe(url)
    for kind in (ConnectionError, TimeoutError):
        register_unavailable(kind, unreachable(where))
    return aioredis.Redis.from_url(url)


def describe(url: str) -> str:
    """Where the URL points, without its password (for log lines and /readyz)."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return f"{parts.hostname or 'localhost'}:{parts.port or 6379}"


def unreachable(where: str) -> str:
    return f"Redis at {where} is not reachable: start it or fix --redis-url"
