"""A final concatenation must not store more than `--max-size` or the token's `max_size`.

The attack of issue #11: with `--max-size 10 MiB` and a token `max_size` of 1 MiB, one deferred-length
partial named 100 times in one final made a 100 MiB upload, because nothing checked the final once the
partial declared its length (and the spec allows naming a part twice).
"""

from __future__ import annotations

from collections.abc import Callable

import httpx

from tests.auth.session import SECRET, bearer, mint
from tests.conftest import AppFactory, ServerFactory
from tests.support import TUS, Server, wait_for

MiB = 1024 * 1024
PATCH = {"Content-Type": "application/offset+octet-stream", "Upload-Offset": "0"}


def auth_server(factory: Callable[..., Server], **kwargs: object) -> Server:
    # Repeats uncapped: these attacks are on the size limits (test_storage_amplification.py caps repeats).
    return factory("--jwt-secret", SECRET, "--max-size", str(10 * MiB), "--max-part-repeats", "0", **kwargs)


def partial(server: Server, headers: dict[str, str], length: int | None) -> str:
    size = {"Upload-Length": str(length)} if length is not None else {"Upload-Defer-Length": "1"}
    r = server.client.post(server.endpoint, headers={**headers, **size, "Upload-Concat": "partial"})
    assert r.status_code == 201, r.text
    return r.headers["Location"]


def final(server: Server, headers: dict[str, str], urls: list[str]) -> httpx.Response:
    return server.client.post(
        server.endpoint, headers={**headers, "Upload-Concat": "final;" + " ".join(urls)}, timeout=60
    )


def test_deferred_partial_named_100_times_is_refused_when_it_declares_its_length(
    app_factory: AppFactory,
) -> None:
    server = auth_server(app_factory)
    alice = bearer(mint("alice", ttl=600, max_size=MiB))
    part = partial(server, alice, None)
    made = final(server, alice, [part] * 100)
    assert made.status_code == 201, made.text  # no length known yet: nothing to refuse
    final_url = made.headers["Location"]

    body = b"x" * MiB  # within the token's max_size for one upload, 100 MiB for the final
    r = server.client.patch(part, headers={**alice, **PATCH, "Upload-Length": str(MiB)}, content=body)
    assert r.status_code == 413, r.text
    assert "limit" in r.text and r.text.count("\n") == 1
    head = server.client.head(part, headers=alice)
    assert head.headers["Upload-Offset"] == "0" and "Upload-Defer-Length" in head.headers  # nothing stored
    assert "Upload-Offset" not in server.client.head(final_url, headers=alice).headers

    # A length that keeps the final within the limit is still accepted, and the final assembles.
    small = 10_000
    r = server.client.patch(part, headers={**alice, **PATCH, "Upload-Length": str(small)}, content=b"y" * small)
    assert r.status_code == 204, r.text
    wait_for(lambda: server.client.head(final_url, headers=alice).headers.get("Upload-Offset") == str(100 * small))


def test_known_lengths_count_each_repetition_on_the_final_post(app_factory: AppFactory) -> None:
    server = auth_server(app_factory)
    alice = bearer(mint("alice", ttl=600, max_size=MiB))
    part = partial(server, alice, 600 * 1024)
    r = final(server, alice, [part, part])  # 1.2 MiB > the token's 1 MiB
    assert r.status_code == 413, r.text
    assert final(server, alice, [part]).status_code == 201

    # Without a token limit, --max-size applies the same way.
    bob = bearer(mint("bob", ttl=600))
    big = partial(server, bob, 4 * MiB)
    assert final(server, bob, [big, big, big]).status_code == 413  # 12 MiB > 10 MiB
    assert final(server, bob, [big, big]).status_code == 201


def test_known_part_over_the_limit_with_a_deferred_one_is_refused_at_once(app_factory: AppFactory) -> None:
    server = auth_server(app_factory)
    alice = bearer(mint("alice", ttl=600, max_size=MiB))
    known = partial(server, alice, 700 * 1024)
    deferred = partial(server, alice, None)
    assert final(server, alice, [known, known, deferred]).status_code == 413


def test_the_limit_survives_a_restart(server_factory: ServerFactory) -> None:
    """The final's limit is in its record and which finals name a part is on disk, not in one process."""
    server = auth_server(server_factory)
    alice = bearer(mint("alice", ttl=600, max_size=MiB))
    first, second = partial(server, alice, None), partial(server, alice, None)
    assert final(server, alice, [first, second, first, first]).status_code == 201
    server.kill()
    server.start()
    half = 400 * 1024
    r = httpx.patch(first, headers={**alice, **PATCH, "Upload-Length": str(half)}, content=b"a" * half)
    assert r.status_code == 413, r.text  # 3 x 400 KiB > 1 MiB
    r = httpx.patch(first, headers={**alice, **PATCH, "Upload-Length": str(300 * 1024)}, content=b"a" * 300 * 1024)
    assert r.status_code == 204, r.text
    r = httpx.patch(second, headers={**alice, **PATCH, "Upload-Length": str(half)}, content=b"b" * half)
    assert r.status_code == 413, r.text  # 900 KiB + 400 KiB > 1 MiB


def test_auth_off_max_size_caps_a_final_of_deferred_parts(server_factory: ServerFactory) -> None:
    server = server_factory("--max-size", str(MiB), "--workers", "2", "--max-part-repeats", "0")
    part = partial(server, TUS, None)
    assert final(server, TUS, [part] * 10).status_code == 201
    r = httpx.patch(part, headers={**TUS, **PATCH, "Upload-Length": str(200_000)}, content=b"z" * 200_000)
    assert r.status_code == 413, r.text  # 2 MB > 1 MiB, whichever worker answers
