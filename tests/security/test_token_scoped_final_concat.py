"""A token restricted to partial A must not read partial B by concatenating them.

Before the fix, a final POST only needed a token that could access ONE of the parts it named: a token the
platform restricted to upload A could POST `final;/files/A /files/B` and then GET the final, which holds
B's bytes. Now the final POST needs access to every part (and a restricted token creates nothing at all).
"""

from __future__ import annotations

from pathlib import Path

from tests.auth.session import PATCH_HEADERS, ROTATING, TokenChain, mint
from tests.conftest import AppFactory

INSUFFICIENT = 'Bearer error="insufficient_scope"'


def _info_files(data_dir: Path) -> set[str]:
    return {p.name for p in data_dir.glob("*.info")}


def test_token_for_part_a_cannot_read_part_b_through_a_final(app_factory: AppFactory) -> None:
    server = app_factory(*ROTATING)
    owner = TokenChain(mint("victim", ttl=30), client=server.client)
    parts = {}
    for name, data in (("a", b"public part "), ("b", b"SECRET PART")):
        url = owner.create(server.endpoint, len(data), **{"Upload-Concat": "partial"})
        assert owner.request("PATCH", url, headers={**PATCH_HEADERS, "Upload-Offset": "0"}, content=data).is_success
        parts[name] = url
    a_id = parts["a"].rsplit("/", 1)[1]
    before = _info_files(server.data_dir)

    attacker = TokenChain(mint("victim", ttl=30, upload_id=a_id), client=server.client)  # handed out for upload A only
    assert attacker.request("GET", parts["a"]).content == b"public part "
    for concat in (f"final;{parts['a']} {parts['b']}", f"final;/files/{a_id} {parts['b']}"):
        response = attacker.request("POST", server.endpoint, headers={"Upload-Concat": concat})
        assert response.status_code == 403, response.text
        assert response.headers["WWW-Authenticate"] == INSUFFICIENT
        assert "Location" not in response.headers
    assert attacker.request("GET", parts["b"]).status_code == 403
    assert _info_files(server.data_dir) == before  # no final was created to read B through

    # Another user naming the victim's parts in a final of its own: refused too (400, as for a missing part).
    other = TokenChain(mint("mallory", ttl=30), client=server.client)
    response = other.request("POST", server.endpoint, headers={"Upload-Concat": f"final;{parts['a']} {parts['b']}"})
    assert response.status_code == 400 and "another user" in response.text
    assert _info_files(server.data_dir) == before
    owner.close()
    attacker.close()
    other.close()
