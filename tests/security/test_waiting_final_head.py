"""HEAD on a final that waits on unfinished parts must cost about what a normal HEAD costs.

The attack of issue #11: a final naming 500 unfinished parts made every HEAD re-read all 500 part
records (~30x a normal HEAD), so polling it was a cheap way to make the server work. Now a final
known to wait is parked: its parts are re-checked when one finishes, or at most every couple of
seconds. Measured as read system calls of the server process (/proc/<pid>/io), never as time.
"""

from __future__ import annotations

import sys
from pathlib import Path

import httpx
import pytest

from tests.conftest import ServerFactory
from tests.support import TUS, LiveServer, wait_for

PARTS = 500
HEADS = 100
PATCH = {**TUS, "Content-Type": "application/offset+octet-stream", "Upload-Offset": "0"}

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/<pid>/io")


def read_calls(server: LiveServer) -> int:
    assert server.proc is not None
    for line in Path(f"/proc/{server.proc.pid}/io").read_text().splitlines():
        if line.startswith("syscr:"):
            return int(line.split()[1])
    raise AssertionError("no syscr in /proc/<pid>/io")


def reads_for_heads(server: LiveServer, http: httpx.Client, url: str) -> int:
    before = read_calls(server)
    for _ in range(HEADS):
        assert http.head(url, headers=TUS).status_code == 200
    return read_calls(server) - before


def test_polling_a_waiting_final_does_not_reread_its_parts(server_factory: ServerFactory) -> None:
    server = server_factory("--max-header", "65536")  # 500 part URLs in one Upload-Concat
    with httpx.Client(timeout=60) as http:
        parts = []
        for _ in range(PARTS):
            r = http.post(server.endpoint, headers={**TUS, "Upload-Length": "1", "Upload-Concat": "partial"})
            assert r.status_code == 201
            parts.append(r.headers["Location"])
        plain = server.create(1)
        r = http.post(server.endpoint, headers={**TUS, "Upload-Concat": "final;" + " ".join(parts)})
        assert r.status_code == 201
        final = r.headers["Location"]
        head = http.head(final, headers=TUS)
        assert "Upload-Offset" not in head.headers  # waiting

        normal = reads_for_heads(server, http, plain)
        waiting = reads_for_heads(server, http, final)
        # Re-reading the parts on each HEAD would be >= PARTS reads per HEAD (50,000 here). A parked
        # final may be re-checked once or twice during the loop (one re-check ~ 2 reads per part).
        assert waiting < 3 * normal + 3 * 2 * PARTS, (waiting, normal)

        # Parking never delays the real thing: finishing the parts assembles the final.
        for part in parts:
            assert http.patch(part, headers=PATCH, content=b"x").status_code == 204
        wait_for(lambda: http.head(final, headers=TUS).headers.get("Upload-Offset") == str(PARTS), timeout=60)
        assert http.get(final).content == b"x" * PARTS
