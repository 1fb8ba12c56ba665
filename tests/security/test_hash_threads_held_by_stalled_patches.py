"""Stalled checksummed PATCHes must not use up the hashing threads of the body threads (issue #22, Low).

A direct transfer with `Upload-Checksum` hashes in a second thread from a hashing pool. That pool was
the default executor size (cores + 4, 6 on a 2-core machine) whatever `--body-threads` said: with
`--body-threads 8`, 6 trickling checksummed PATCHes held every hashing thread, and the next
checksummed PATCH got a body thread, stored its bytes, then waited for a hashing thread until the
stalled ones timed out (120 s), holding its upload's lock. Now there is one hashing thread per body
thread, so a transfer that has a body thread always has its hashing thread too.
"""

from __future__ import annotations

import base64
import hashlib
import os

import httpx

from tests.conftest import ServerFactory
from tests.support import PATCH, TUS, half_patch

MiB = 1024 * 1024
OLD_POOL = min(32, (os.cpu_count() or 1) + 4)  # what ThreadPoolExecutor() gives by default


def checksum(data: bytes) -> str:
    return "sha256 " + base64.b64encode(hashlib.sha256(data).digest()).decode()


def test_stalled_checksummed_patches_leave_a_hashing_thread_for_the_next(server_factory: ServerFactory) -> None:
    server = server_factory("--body-threads", str(OLD_POOL + 2), "--read-timeout", "120")
    stalled = []
    try:
        for _ in range(OLD_POOL):  # every hashing thread the old pool had, each held by a quiet client
            url = server.create(4 * MiB)
            headers = {"Upload-Checksum": checksum(b"never sent whole")}
            stalled.append(half_patch(server, url, os.urandom(64 * 1024), promised=4 * MiB, headers=headers))
        data = os.urandom(3 * MiB)
        checked = server.create(len(data))
        headers = {**PATCH, "Upload-Offset": "0", "Upload-Checksum": checksum(data)}
        r = httpx.patch(checked, content=data, headers=headers, timeout=20)  # hung for the read timeout before
        assert r.status_code == 204, r.text
        assert httpx.get(checked, headers=TUS).content == data
    finally:
        for sock in stalled:
            sock.close()
