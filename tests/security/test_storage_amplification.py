"""Storage amplification through final concatenation (issue #22, Medium), attacked on a real server.

A final copies its parts. Before: a 256 KiB partial named 500 times made each ~15 KB final POST write
125 MiB; 199 finals parked on one 64 KiB partial made its single PATCH write 440 MiB, until the disk
was full; no per-owner byte bound. Now a final may name a part `--max-part-repeats` times (400
beyond), at most `--max-finals-per-part` finals wait on one unfinished part (429 beyond), and one
owner's unfinished uploads and finals hold at most `--max-owner-bytes` (413 beyond).
"""

from __future__ import annotations

import os
from pathlib import Path

import httpx

from tests.conftest import ServerFactory
from tests.support import OCTET, TUS, LiveServer, wait_for

KiB = 1024
MiB = 1024 * KiB
PATCH = {**TUS, "Content-Type": OCTET, "Upload-Offset": "0"}


def stored_bytes(data_dir: Path) -> int:
    """Bytes in the upload files (what the disk holds), records and sets left out."""
    return sum(p.stat().st_size for p in data_dir.iterdir() if p.is_file() and "." not in p.name)


def partial(server: LiveServer, data: bytes | None, length: int) -> str:
    url = server.create(length, {"Upload-Concat": "partial"})
    if data is not None:
        assert server.client.patch(url, content=data, headers=PATCH).status_code == 204
    return url


def final(server: LiveServer, parts: list[str]) -> httpx.Response:
    paths = " ".join(httpx.URL(url).path for url in parts)
    return server.client.post(server.endpoint, headers={**TUS, "Upload-Concat": f"final;{paths}"}, timeout=60)


def test_a_part_named_500_times_is_refused(server_factory: ServerFactory) -> None:
    server = server_factory("--max-header", "64K")
    part = partial(server, os.urandom(256 * KiB), 256 * KiB)
    before = stored_bytes(server.data_dir)
    r = final(server, [part] * 500)
    assert r.status_code == 400, r.status_code
    assert "named 500 times" in r.text and r.text.count("\n") == 1
    assert stored_bytes(server.data_dir) == before  # nothing copied (was 125 MiB)
    ok = final(server, [part] * 4)  # the default cap: a final may still repeat a part a little
    assert ok.status_code == 201, ok.text
    assert httpx.get(ok.headers["Location"]).content == httpx.get(part).content * 4


def test_finals_parked_on_one_part_are_bounded(server_factory: ServerFactory) -> None:
    server = server_factory("--max-header", "64K")
    data = os.urandom(64 * KiB)
    part = partial(server, None, len(data))
    answers = [final(server, [part] * 4).status_code for _ in range(199)]
    assert answers.count(201) == 16 and set(answers[16:]) == {429}, answers
    assert server.client.patch(part, content=data, headers=PATCH).status_code == 204
    # 16 finals x 4 copies x 64 KiB = 4 MiB, and the part itself (was 199 x 35 copies: 440 MiB)
    wait_for(lambda: stored_bytes(server.data_dir) >= 65 * len(data), timeout=60, what="the 16 finals assembled")
    assert stored_bytes(server.data_dir) == 65 * len(data)


def test_one_owner_holds_at_most_max_owner_bytes(server_factory: ServerFactory) -> None:
    server = server_factory("--max-owner-bytes", "1M")
    part = partial(server, os.urandom(256 * KiB), 256 * KiB)
    first = final(server, [part] * 4)  # holds 1 MiB while it exists
    assert first.status_code == 201, first.text
    second = final(server, [part] * 4)
    assert second.status_code == 413 and "1048576 bytes" in second.text and second.text.count("\n") == 1
    refused = server.client.post(server.endpoint, headers={**TUS, "Upload-Length": str(2 * KiB)})
    assert refused.status_code == 413  # unfinished uploads count too (over 1M / --max-unfinished 1000 bytes)
    assert server.client.delete(first.headers["Location"], headers=TUS).status_code == 204
    unfinished = server.create(768 * KiB)  # the final's bytes were freed
    assert server.client.post(server.endpoint, headers={**TUS, "Upload-Length": str(257 * KiB)}).status_code == 413
    assert server.client.patch(unfinished, content=os.urandom(768 * KiB), headers=PATCH).status_code == 204
    assert final(server, [part] * 4).status_code == 201  # a finished upload holds nothing


def test_a_deferred_length_counts_when_declared(server_factory: ServerFactory) -> None:
    server = server_factory("--max-owner-bytes", "1M")
    deferred = server.create(None, {"Upload-Defer-Length": "1"})
    held = server.create(768 * KiB)
    r = server.client.patch(deferred, content=b"x", headers={**PATCH, "Upload-Length": str(512 * KiB)})
    assert r.status_code == 413, r.text
    assert server.client.delete(held, headers=TUS).status_code == 204
    r = server.client.patch(deferred, content=b"x", headers={**PATCH, "Upload-Length": str(512 * KiB)})
    assert r.status_code == 204, r.text


def test_with_auth_each_sub_holds_its_own_bytes(server_factory: ServerFactory) -> None:
    from tests.auth.session import SECRET, bearer, mint

    server = server_factory("--max-owner-bytes", "1M", "--jwt-secret", SECRET)
    alice, bob = bearer(mint("alice", ttl=600)), bearer(mint("bob", ttl=600))

    def post(headers: dict[str, str], length: int) -> int:
        return server.client.post(server.endpoint, headers={**headers, "Upload-Length": str(length)}).status_code

    assert post(alice, MiB) == 201
    assert post(alice, 2 * KiB) == 413
    assert post(bob, MiB) == 201  # bob is not alice
