from __future__ import annotations

import httpx

from tests.protocol.verbs import OCTET, Case, run
from tests.support import TUS, LiveServer


def test_delete_then_gone(live: LiveServer) -> None:
    url = live.create(4)
    run(url, Case("PATCH", {"Upload-Offset": "0", "Content-Type": OCTET}, b"ab", 204))
    r = run(url, Case("DELETE", status=204))
    assert r.content == b""
    head = run(url, Case("HEAD", status=410))
    assert head.content == b""
    run(url, Case("PATCH", {"Upload-Offset": "2", "Content-Type": OCTET}, b"cd", 410))
    assert httpx.get(url).status_code == 410
    run(url, Case("DELETE", status=410))


def test_delete_finished_upload(live: LiveServer) -> None:
    url = live.create(0)
    run(url, Case("DELETE", status=204))
    assert httpx.get(url).status_code == 410


def test_delete_needs_tus_resumable(live: LiveServer) -> None:
    url = live.create(1)
    run(url, Case("DELETE", tus=False, status=412, expect={"Tus-Version": "1.0.0"}))
    assert httpx.head(url, headers=TUS).status_code == 200


def test_delete_unknown(live: LiveServer) -> None:
    run(live.endpoint + "f" * 32, Case("DELETE", status=404))
