from __future__ import annotations

import httpx

from tests.support import TUS, LiveServer


def test_upload_roundtrip(server: LiveServer) -> None:
    url = server.create(11)
    r = httpx.patch(
        url,
        content=b"hello world",
        headers={**TUS, "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"},
    )
    assert r.status_code == 204, r.text
    assert r.headers["Upload-Offset"] == "11"
    assert httpx.get(url).content == b"hello world"
