"""`tune_malloc` (on by default): a large upload reuses heap pages instead of faulting in fresh ones.

Minor page faults are counted by the kernel, not timed, so this is a behaviour check, not a benchmark:
with glibc's defaults every piece of a request body lands on never-touched pages (about one fault per
4 KiB received); with the tuning the server faults a few hundred times for the whole upload.
"""

from __future__ import annotations

import os
import platform
from pathlib import Path

import httpx
import pytest

from tests.conftest import ServerFactory
from tests.support import TUS, LiveServer

pytestmark = pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc malloc tuning")

SIZE = 32 * 1024 * 1024
PAGES = SIZE // 4096


def minor_faults(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[7])


def faults_for_one_upload(server: LiveServer, body: bytes) -> int:
    assert server.proc is not None
    url = server.create(len(body))
    before = minor_faults(server.proc.pid)
    headers = {**TUS, "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"}
    response = httpx.patch(url, content=body, headers=headers, timeout=60)
    assert response.status_code == 204, response.text
    assert response.headers["Upload-Offset"] == str(len(body))
    return minor_faults(server.proc.pid) - before


def test_large_body_reuses_heap_pages(server_factory: ServerFactory) -> None:
    body = os.urandom(SIZE)
    tuned = faults_for_one_upload(server_factory(), body)
    untuned = faults_for_one_upload(server_factory("--no-tune-malloc"), body)
    assert tuned < PAGES // 10, f"{tuned} minor faults for {PAGES} pages received"
    assert untuned > 4 * tuned, f"without tuning: {untuned} faults, with: {tuned}"
