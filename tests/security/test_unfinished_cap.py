"""`--max-unfinished`: one owner cannot make the server hold thousands of unfinished uploads.

The attack of issue #11: 2,000 unfinished 100 GiB uploads created in 4 s by one owner.
"""

from __future__ import annotations

import concurrent.futures

import httpx

from tests.auth.session import SECRET, bearer, mint
from tests.conftest import AppFactory, ServerFactory
from tests.s3_support import S3Server
from tests.support import OCTET, TUS, Server, wait_for

PATCH = {"Content-Type": OCTET, "Upload-Offset": "0"}
CAP = 5


def post(server: Server, headers: dict[str, str], length: int = 3) -> httpx.Response:
    return server.client.post(server.endpoint, headers={**headers, "Upload-Length": str(length)}, timeout=60)


def fill(server: Server, headers: dict[str, str]) -> list[str]:
    urls = []
    for _ in range(CAP):
        r = post(server, headers)
        assert r.status_code == 201, r.text
        urls.append(r.headers["Location"])
    refused = post(server, headers)
    assert refused.status_code == 429, refused.text
    assert "unfinished" in refused.text and refused.text.count("\n") == 1
    return urls


def check_released_by_finish_and_delete(server: Server, headers: dict[str, str], urls: list[str]) -> None:
    assert server.client.patch(urls[0], headers={**headers, **PATCH}, content=b"abc").status_code == 204
    r = post(server, headers)
    assert r.status_code == 201, r.text  # a finished upload no longer counts
    assert post(server, headers).status_code == 429
    assert server.client.delete(urls[1], headers=headers).status_code == 204
    assert post(server, headers).status_code == 201  # nor does a deleted one
    assert post(server, headers).status_code == 429


def test_auth_off_caps_a_client(app_factory: AppFactory) -> None:
    server = app_factory("--max-unfinished", str(CAP))
    urls = fill(server, TUS)
    check_released_by_finish_and_delete(server, TUS, urls)
    # An upload that is complete at creation (length 0) never counts.
    assert post(server, TUS, 0).status_code == 201


def test_each_owner_has_its_own_cap(app_factory: AppFactory) -> None:
    server = app_factory("--max-unfinished", str(CAP), "--jwt-secret", SECRET)
    alice = bearer(mint("alice", ttl=600))
    urls = fill(server, alice)
    assert post(server, bearer(mint("bob", ttl=600))).status_code == 201  # bob is not alice
    check_released_by_finish_and_delete(server, alice, urls)
    # Finals count too (they are unfinished until assembled) and are refused the same way.
    parts = [server.client.post(server.endpoint, headers={**bearer(mint("carol", ttl=600)), "Upload-Length": "1",
                                                  "Upload-Concat": "partial"}).headers["Location"]
             for _ in range(CAP)]  # fmt: skip
    carol = bearer(mint("carol", ttl=600))
    r = server.client.post(server.endpoint, headers={**carol, "Upload-Concat": "final;" + " ".join(parts)})
    assert r.status_code == 429, r.text


def test_expired_uploads_no_longer_count(app_factory: AppFactory) -> None:
    server = app_factory("--max-unfinished", str(CAP), "--expire-after", "1", "--sweep-interval", "0.2")
    fill(server, TUS)
    wait_for(lambda: post(server, TUS).status_code == 201, timeout=30, what="expired uploads to free the cap")


def test_the_cap_holds_across_workers_and_restarts(server_factory: ServerFactory) -> None:
    """Two workers share the count (it lives beside the data); 40 POSTs at once create at most CAP."""
    server = server_factory("--max-unfinished", str(CAP), "--workers", "2")
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(lambda _: post(server, TUS).status_code, range(40)))
    assert set(statuses) <= {201, 429}
    created = statuses.count(201)
    assert 1 <= created <= CAP, statuses  # counting after reserving: racing POSTs cannot all slip under
    server.restart()
    fresh = [post(server, TUS).status_code for _ in range(CAP + 1 - created)]
    assert fresh[-1] == 429 and set(fresh[:-1]) <= {201}, fresh


def test_s3_store_counts_too(server_factory: ServerFactory, s3_server: S3Server) -> None:
    server = server_factory("--max-unfinished", str(CAP), *s3_server.serve_flags, env=s3_env())
    urls = fill(server, TUS)
    check_released_by_finish_and_delete(server, TUS, urls)


def s3_env() -> dict[str, str]:
    from tests.s3_support import CREDENTIALS

    return dict(CREDENTIALS)


def test_a_count_skewed_by_a_crash_never_refuses_wrongly(app_factory: AppFactory) -> None:
    """The fast count lives in the journal's header; if a crash left it too high, the entries decide."""
    server = app_factory("--max-unfinished", str(CAP))
    assert post(server, TUS).status_code == 201
    (journal,) = (server.data_dir / ".sets" / "unfinished").glob("*.set")  # the one client's

    def count() -> int:
        return int(journal.read_bytes()[:32].split()[0])

    assert count() == 1
    journal.write_bytes(f"{10 * CAP} 32".encode().ljust(31) + b"\n" + journal.read_bytes()[32:])
    assert post(server, TUS).status_code == 201
    assert count() == 2  # repaired from the entries
