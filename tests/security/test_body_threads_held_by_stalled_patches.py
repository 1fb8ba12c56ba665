"""Body threads held by stalled PATCHes must not stall anyone else's upload.

A direct transfer holds one of `--body-threads` until its body ends or `--read-timeout` passes. A client
with a valid (perhaps leaked) token can open as many slow PATCHes as there are threads and let them go
quiet. Every other large body must then still be stored at once: with no thread free it is written by
the event loop from each read (`_LoopSink`), and a checksummed one goes through the request stream.
"""

from __future__ import annotations

import base64
import hashlib
import os

import httpx

from tests.conftest import ServerFactory
from tests.support import PATCH, TUS, half_patch

MiB = 1024 * 1024


def test_stalled_patches_holding_every_body_thread_do_not_stall_other_uploads(server_factory: ServerFactory) -> None:
    server = server_factory("--body-threads", "2", "--read-timeout", "60")
    stalled = []
    try:
        for _ in range(3):  # one more than there are threads: the third takes the loop's sink
            url = server.create(4 * MiB)
            stalled.append(half_patch(server, url, os.urandom(64 * 1024), promised=4 * MiB))
        data = os.urandom(3 * MiB)
        plain = server.create(len(data))
        r = httpx.patch(plain, content=data, headers={**PATCH, "Upload-Offset": "0"}, timeout=10)
        assert r.status_code == 204, r.text
        checked = server.create(len(data))
        digest = "sha256 " + base64.b64encode(hashlib.sha256(data).digest()).decode()
        headers = {**PATCH, "Upload-Offset": "0", "Upload-Checksum": digest}
        r = httpx.patch(checked, content=data, headers=headers, timeout=10)
        assert r.status_code == 204, r.text
        assert httpx.get(plain, headers=TUS).content == data == httpx.get(checked, headers=TUS).content
    finally:
        for sock in stalled:
            sock.close()
