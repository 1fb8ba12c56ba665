"""termination: DELETE ends an upload."""

from __future__ import annotations

from conformance.conftest import require
from conformance.support import Tus


def test_delete_then_gone(tus: Tus) -> None:
    require(tus, "termination")
    url = tus.create(10)
    assert tus.patch(url, 0, b"12345").status_code == 204
    r = tus.delete(url)
    assert r.status_code == 204
    assert tus.head(url).status_code in (404, 410)
    assert tus.patch(url, 5, b"67890").status_code in (404, 410)


def test_delete_unknown_is_404_or_410(tus: Tus) -> None:
    require(tus, "termination")
    assert tus.delete(tus.endpoint + "AAAAAAAAAAAAAAAAAAAAAA").status_code in (404, 410)
