"""tus-js-client speaking the IETF draft in a real Chromium: the README's "single" block with only the
endpoint, the chunk size (4 MiB) and tus-js-client's `protocol` option changed, a 20 MiB file paused in
the middle until the token held is refused, then resumed on the same URL; bytes verified on disk.

A draft HEAD answers 204 (tus's answers 200), so the events show which protocol the page spoke.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.browser.test_browser import (
    AUTH,
    CHUNK_IN_README,
    ENDPOINT_IN_README,
    events,
    make_file,
    run_case,
    sent_bytes,
    sha256,
    stored,
    tools,  # noqa: F401 - the fixture
)
from tests.conftest import ServerFactory

MiB = 1024 * 1024


@pytest.mark.parametrize("protocol", ["ietf-draft-03", "ietf-draft-05"])
def test_tus_js_client_ietf_pause_and_resume_in_chromium(
    tools: dict[str, str],  # noqa: F811
    server_factory: ServerFactory,
    tmp_path: Path,
    protocol: str,
) -> None:
    server = server_factory(*AUTH)
    size = 20 * MiB
    upload = make_file(tmp_path, size)
    result = run_case(
        tools, server, tmp_path, case="pause", block="single", file=str(upload), uploadBytesPerS=4 * MiB,
        stopAt=0.3,
        replace=[[ENDPOINT_IN_README, server.endpoint], [CHUNK_IN_README, f"4 * 1024 * 1024, protocol: '{protocol}'"]],
    )  # fmt: skip
    assert result["url"] == result["urlBefore"]
    assert sha256(stored(server, result["url"])) == sha256(upload)
    posts = events(result, "POST")
    assert len(posts) == 1 and posts[0]["status"] == 201  # never started again
    heads = events(result, "HEAD", "after")
    assert heads and all(e["url"] == result["url"] for e in heads)
    assert heads[-1]["status"] == 204  # the draft's answer to an offset retrieval
    assert all(e["status"] == 204 for e in events(result, "PATCH") if e["status"] not in (0, 401))
    assert sent_bytes(result, "after") < 0.8 * size  # resumed from the stored offset, not from byte 0
