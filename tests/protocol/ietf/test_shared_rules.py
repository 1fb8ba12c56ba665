"""The rules tus requests live by hold for draft requests too, because they are the same code: hooks,
owners, rotation, --max-unfinished, the pre-create hook's refusal (told as the hook chose)."""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from tests.auth.session import ROTATING, mint
from tests.conftest import ServerFactory
from tests.hooks.test_file_and_inprocess_hooks import EVENTS, make_hooks_dir, seen
from tests.support import wait_for

from .raw import PARTIAL, v8


def test_file_hooks_run_for_draft_requests(server_factory: ServerFactory, tmp_path: Path) -> None:
    hooks_dir, out = make_hooks_dir(tmp_path)
    server = server_factory("--hooks-dir", str(hooks_dir), "--hooks-enabled", EVENTS)
    refused = httpx.post(
        server.endpoint,
        headers=v8(Upload_Complete="?1", Content_Disposition='attachment; filename="a.exe"'),
        content=b"MZ",
    )
    assert refused.status_code == 415 and refused.text.strip() == "file hook says no"  # the hook's own answer
    created = httpx.post(server.endpoint, headers=v8(Upload_Complete="?0", Upload_Length="3"))
    url = created.headers["Location"]
    appended = httpx.patch(
        url, headers=v8(Upload_Offset="0", Upload_Complete="?1", Content_Type=PARTIAL), content=b"abc"
    )
    assert (appended.status_code, appended.headers["Upload-Complete"]) == (204, "?1")
    wait_for(lambda: len(seen(out)) == 5, what="five file hooks")
    assert seen(out) == ["post-create", "post-finish", "post-receive", "pre-create", "pre-create"]
    finish = json.loads(next(out.glob("post-finish-*")).read_text())
    assert finish["Event"]["Upload"]["ID"] == url.rsplit("/", 1)[1]
    assert finish["Event"]["HTTPRequest"]["Header"]["Upload-Draft-Interop-Version"] == ["8"]


def test_owners_rotation_and_the_unfinished_cap(server_factory: ServerFactory) -> None:
    server = server_factory(*ROTATING, "--token-ttl", "30", "--max-unfinished", "1")
    alice, mallory = (
        {"Authorization": f"Bearer {mint('alice', ttl=30)}"},
        {"Authorization": f"Bearer {mint('mallory', ttl=30)}"},
    )
    created = httpx.post(server.endpoint, headers={**v8(Upload_Complete="?0", Upload_Length="9"), **alice})
    assert created.status_code == 201 and created.headers["X-New-Token"]
    url = created.headers["Location"]
    rotated = {"Authorization": f"Bearer {created.headers['X-New-Token']}"}  # the rotated token goes on
    head = httpx.head(url, headers={**v8(), **rotated})
    assert head.status_code == 204 and head.headers["X-New-Token"]
    foreign = httpx.head(url, headers={**v8(), **mallory})
    assert foreign.status_code == 403 and foreign.headers["X-New-Token"]  # every answer rotates, refusals too
    second = httpx.post(server.endpoint, headers={**v8(Upload_Complete="?0", Upload_Length="9"), **rotated})
    assert second.status_code == 429  # --max-unfinished 1, whichever protocol asks
    assert second.headers["Content-Type"] == "application/problem+json"
    unauthenticated = httpx.head(url, headers=v8())
    assert unauthenticated.status_code == 401
