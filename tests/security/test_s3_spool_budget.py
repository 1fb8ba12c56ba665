"""Issue #22 (Medium, S3 spool): PATCHes that send most of a part and then stall filled the temporary
directory, and a normal PATCH got 507 "0 bytes stored".

Attacked as found: a real `tusserver serve` on moto whose TMPDIR is a 16 MiB tmpfs; three PATCHes each send
4.5 MiB of a 5 MiB part and go quiet, holding their spool. Before: the fourth, normal PATCH hit ENOSPC and
answered 507. Now (`--store-spool`, one budget per process): it waits, reading nothing, and completes once
the stalled ones are gone; their bytes are kept too.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import ServerFactory
from tests.s3_support import CREDENTIALS, S3Server
from tests.support import PATCH, TUS, half_patch, small_tmpfs, wait_for

MiB = 1024 * 1024
STALLED = 3
STALLED_SENT = 4 * MiB + MiB // 2


@pytest.fixture
def tmp16(tmp_path: Path) -> Iterator[Path]:
    with small_tmpfs(tmp_path / "tmp16", 16 * MiB, "the temporary directory") as directory:
        yield directory


def used(directory: Path) -> int:
    st = os.statvfs(directory)
    return (st.f_blocks - st.f_bfree) * st.f_frsize


def test_stalled_patches_holding_spool_make_others_wait_not_507(
    server_factory: ServerFactory, s3_server: S3Server, tmp16: Path
) -> None:
    server = server_factory(
        *s3_server.serve_flags, "--s3-part-size", "5M", "--store-spool", "12M", "--read-timeout", "300",
        env={**CREDENTIALS, "TMPDIR": str(tmp16)},
    )  # fmt: skip
    stalled_urls = [server.create(20 * MiB) for _ in range(STALLED)]
    stalled = [half_patch(server, url, os.urandom(STALLED_SENT), promised=20 * MiB) for url in stalled_urls]
    try:
        # Two hold 4.5 MiB each on the disk; the third holds what fits in the budget and waits for more.
        wait_for(lambda: used(tmp16) >= 10 * MiB, timeout=60, what="the stalled PATCHes' spool on the disk")
        data = os.urandom(12 * MiB)
        url = server.create(len(data))
        answer: list[httpx.Response] = []

        def normal_patch() -> None:
            headers = {**PATCH, "Upload-Offset": "0"}
            answer.append(httpx.patch(url, content=data, headers=headers, timeout=120))

        thread = threading.Thread(target=normal_patch)
        thread.start()
        thread.join(timeout=5)  # not a timed assertion: before, the 507 came at once; now it waits
        assert not answer or answer[0].status_code != 507, answer[0].text
    finally:
        for sock in stalled:
            sock.close()
    thread.join(timeout=120)
    assert answer and answer[0].status_code == 204, answer and answer[0].text
    assert hashlib.sha256(httpx.get(url, timeout=60).content).digest() == hashlib.sha256(data).digest()
    for stalled_url in stalled_urls:  # what the stalled PATCHes sent is kept, as for any client that left
        offset = wait_for(
            lambda u=stalled_url: int(httpx.head(u, headers=TUS).headers["Upload-Offset"]),  # type: ignore[misc]
            what="HEAD of a stalled upload",
        )
        assert 0 < offset <= STALLED_SENT
