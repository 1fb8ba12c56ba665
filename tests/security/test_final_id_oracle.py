"""A final POST must not tell which upload ids exist.

The attack of issue #11: naming another user's upload in a final answered 403 while naming a missing
id answered 400, so a final POST was an oracle for which ids exist (and, with ids leaked elsewhere,
which are still alive). Now a missing, a terminated and a foreign part get the same status (400, as
without auth) and body.
"""

from __future__ import annotations

import secrets

from tests.auth.session import SECRET, bearer, mint
from tests.conftest import AppFactory


def test_foreign_missing_and_deleted_parts_look_the_same(app_factory: AppFactory) -> None:
    server = app_factory("--jwt-secret", SECRET)
    alice, bob = bearer(mint("alice", ttl=600)), bearer(mint("bob", ttl=600))

    def partial(headers: dict[str, str]) -> str:
        r = server.client.post(server.endpoint, headers={**headers, "Upload-Length": "3", "Upload-Concat": "partial"})
        assert r.status_code == 201
        return r.headers["Location"]

    foreign = partial(alice)
    deleted = partial(alice)
    assert server.client.delete(deleted, headers=alice).status_code == 204
    own_deleted = partial(bob)
    assert server.client.delete(own_deleted, headers=bob).status_code == 204
    missing = f"{server.endpoint}{secrets.token_urlsafe(16)}"
    own = partial(bob)

    answers = []
    for probe in (foreign, deleted, own_deleted, missing):
        r = server.client.post(server.endpoint, headers={**bob, "Upload-Concat": f"final;{own} {probe}"})
        answers.append((r.status_code, r.text))
    assert len(set(answers)) == 1, answers
    status, text = answers[0]
    assert status == 400 and text.count("\n") == 1
    # The owner still gets a useful answer: the second part is the one at fault.
    assert "number 2" in text
    # Alice's upload was not touched by Bob's attempts.
    assert server.client.head(foreign, headers=alice).status_code == 200
