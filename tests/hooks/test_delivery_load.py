"""No post-hook is lost with a slow receiver: before, with one delivery at a time and a 1,000-event
queue, a receiver taking 1 s per event lost 1,198 of 2,200 events."""

from __future__ import annotations

import httpx

from tests.conftest import ServerFactory
from tests.hooks.receiver import Receiver
from tests.support import TUS, wait_for

UPLOADS = 1000
CONCURRENCY = 128  # 1,000 events x 1 s / 128 in flight: about 8 s of delivery


def test_no_event_lost_with_a_one_second_receiver(server_factory: ServerFactory, receiver: Receiver) -> None:
    receiver.delay_s = 1.0
    server = server_factory(
        "--hooks-url", receiver.url, "--hooks-enabled", "post-finish", "--hooks-concurrency", str(CONCURRENCY),
        "--metrics",
    )  # fmt: skip
    headers = {**TUS, "Upload-Length": "1", "Content-Type": "application/offset+octet-stream"}
    ids = set()
    with httpx.Client() as client:
        for _ in range(UPLOADS):  # creation-with-upload: each POST makes and finishes one upload
            response = client.post(server.endpoint, content=b"x", headers=headers)
            assert response.status_code == 201
            ids.add(response.headers["Location"].rsplit("/", 1)[1])
    wait_for(lambda: len(receiver.requests) >= UPLOADS, timeout=120, what=f"{UPLOADS} post-finish hooks")
    delivered = [hook["Event"]["Upload"]["ID"] for hook in receiver.requests]
    assert sorted(delivered) == sorted(ids)  # every one, each once
    metrics = httpx.get(f"{server.url}/metrics").text
    assert "tusserver_hook_drops_total{" not in metrics or all(
        line.endswith(" 0.0") for line in metrics.splitlines() if line.startswith("tusserver_hook_drops_total{")
    )
