from __future__ import annotations

import pytest

from tests.protocol.verbs import ABSENT, Case, patch, run
from tests.support import InProcessServer


def test_head_fresh_upload(live: InProcessServer) -> None:
    url = live.create(10)
    r = run(
        live.client,
        url,
        Case("HEAD", expect={"Cache-Control": "no-store", "Upload-Offset": "0", "Upload-Length": "10"}),
    )
    assert r.content == b""
    assert "Upload-Defer-Length" not in r.headers


def test_head_after_patch(live: InProcessServer) -> None:
    url = live.create(10)
    patch(live.client, url, 0, b"1234")
    run(live.client, url, Case("HEAD", expect={"Upload-Offset": "4", "Upload-Metadata": ABSENT}))


@pytest.mark.parametrize(
    "case",
    [
        Case("HEAD", {"Tus-Resumable": "2.0.0"}, status=412, expect={"Tus-Version": "1.0.0"}),
    ],
)
def test_head_rejects_other_tus_versions(live: InProcessServer, case: Case) -> None:
    run(live.client, live.create(1), case)


@pytest.mark.parametrize("upload_id", ["0123456789abcdef0123456789abcdef", "nope", "a" * 300])
def test_head_unknown_is_404_without_body(live: InProcessServer, upload_id: str) -> None:
    r = run(live.client, live.endpoint + upload_id, Case("HEAD", status=404, expect={"Cache-Control": "no-store"}))
    assert r.content == b""
