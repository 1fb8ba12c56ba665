from __future__ import annotations

from tests.protocol.verbs import Case, run
from tests.support import OCTET, TUS, InProcessServer


def test_delete_then_gone(live: InProcessServer) -> None:
    url = live.create(4)
    run(live.client, url, Case("PATCH", {"Upload-Offset": "0", "Content-Type": OCTET}, b"ab", 204))
    r = run(live.client, url, Case("DELETE", status=204))
    assert r.content == b""
    head = run(live.client, url, Case("HEAD", status=410))
    assert head.content == b""
    run(live.client, url, Case("PATCH", {"Upload-Offset": "2", "Content-Type": OCTET}, b"cd", 410))
    assert live.client.get(url).status_code == 410
    run(live.client, url, Case("DELETE", status=410))


def test_delete_finished_upload(live: InProcessServer) -> None:
    url = live.create(0)
    run(live.client, url, Case("DELETE", status=204))
    assert live.client.get(url).status_code == 410


def test_delete_needs_tus_resumable(live: InProcessServer) -> None:
    url = live.create(1)
    run(live.client, url, Case("DELETE", tus=False, status=412, expect={"Tus-Version": "1.0.0"}))
    assert live.client.head(url, headers=TUS).status_code == 200


def test_delete_unknown(live: InProcessServer) -> None:
    run(live.client, live.endpoint + "f" * 32, Case("DELETE", status=404))
