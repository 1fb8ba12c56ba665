"""termination: DELETE ends an upload; later requests find nothing."""

from __future__ import annotations

from .support import Tus, assert_gone, assert_tus_resumable


def test_delete_then_gone(tus: Tus) -> None:
    tus.require("termination")
    url = tus.create(6)
    assert tus.patch(url, 0, b"abc").status_code == 204
    r = tus.delete(url)
    assert r.status_code == 204
    assert_tus_resumable(r)
    assert r.content == b""
    head = tus.head(url)
    assert_gone(head)
    assert head.content == b""
    assert_gone(tus.patch(url, 3, b"def"))


def test_delete_unfinished_and_finished(tus: Tus) -> None:
    tus.require("termination")
    done = tus.create(1)
    assert tus.patch(done, 0, b"x").status_code == 204
    assert tus.delete(done).status_code == 204
    assert_gone(tus.head(done))


def test_delete_unknown(tus: Tus) -> None:
    tus.require("termination")
    r = tus.delete(tus.unknown_url())
    assert_gone(r)
    assert_tus_resumable(r)


def test_delete_unsupported_version_is_412(tus: Tus) -> None:
    tus.require("termination")
    url = tus.create(1)
    r = tus.request("DELETE", url, {"Tus-Resumable": "0.2.2"})
    assert r.status_code == 412
    assert tus.head(url).status_code == 200
