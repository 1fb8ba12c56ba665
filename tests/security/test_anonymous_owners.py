"""With auth off, one client at its caps locked every other client out (issue #22, Medium).

Before: all anonymous uploads shared one owner, so 200 one-byte creates (0.14 s) by one client made
every other client's POST 429 until they expired (24 h). Now per-owner limits (`--max-unfinished`,
`--max-owner-bytes`) count per client address: the connection's, or with `--behind-proxy` the
forwarded one, and a forwarded header from a client is not believed without `--behind-proxy`.
"""

from __future__ import annotations

import httpx

from tests.conftest import ServerFactory
from tests.support import TUS, LiveServer

CAP = 200


def create(server: LiveServer, client: httpx.Client, length: int = 1, **headers: str) -> int:
    named = {k.replace("_", "-"): v for k, v in headers.items()}
    return client.post(server.endpoint, headers={**TUS, "Upload-Length": str(length), **named}).status_code


def fill(server: LiveServer, client: httpx.Client, **headers: str) -> None:
    assert [create(server, client, **headers) for _ in range(CAP)] == [201] * CAP
    assert create(server, client, **headers) == 429


def test_one_address_at_its_cap_leaves_others_alone(server_factory: ServerFactory) -> None:
    server = server_factory("--max-unfinished", str(CAP))
    with (
        httpx.Client(timeout=30) as attacker,
        httpx.Client(timeout=30, transport=httpx.HTTPTransport(local_address="127.0.0.2")) as other,
    ):
        fill(server, attacker)
        assert create(server, other) == 201
        assert create(server, attacker, X_Forwarded_For="203.0.113.9") == 429  # not believed without a proxy


def test_behind_a_proxy_the_forwarded_address_is_the_owner(server_factory: ServerFactory) -> None:
    server = server_factory("--max-unfinished", str(CAP), "--max-owner-bytes", "600", "--behind-proxy")
    with httpx.Client(timeout=30) as proxy:
        fill(server, proxy, X_Forwarded_For="203.0.113.1")
        assert create(server, proxy, X_Forwarded_For="203.0.113.2") == 201
        # The byte bound is per address too: 203.0.113.2 may hold 600 bytes, whatever .1 holds (uploads of
        # up to 600 / 200 bytes count in --max-unfinished only).
        assert create(server, proxy, 590, X_Forwarded_For="203.0.113.2") == 201
        assert create(server, proxy, 11, X_Forwarded_For="203.0.113.2") == 413
        assert create(server, proxy, 11, X_Forwarded_For="203.0.113.3") == 201
