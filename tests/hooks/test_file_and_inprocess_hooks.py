"""tusd's file hooks (`--hooks-dir`) and in-process hooks (`create_app(..., hooks=...)`) run for the
same events through the one dispatcher; the older `Hooks.add(callback)` API keeps working."""

from __future__ import annotations

import asyncio
import json
import stat
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import ServerFactory
from tests.support import TUS, wait_for
from tusserver import Settings, create_app
from tusserver.hooks import Hooks
from tusserver.models import UploadInfo

PATCH = {**TUS, "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"}
EVENTS = "pre-create,post-create,post-receive,post-finish"

# Writes every hook it gets to OUT/<type>-<n>.json; pre-create refuses uploads named "*.exe".
SCRIPT = """#!{python}
import json, os, sys, uuid
hook = json.load(sys.stdin)
kind = os.path.basename(sys.argv[0])
with open(os.path.join({out!r}, kind + "-" + uuid.uuid4().hex + ".json"), "w") as f:
    json.dump(hook, f)
if kind == "pre-create" and hook["Event"]["Upload"]["MetaData"].get("filename", "").endswith(".exe"):
    print(json.dumps({{"RejectUpload": True, "HTTPResponse": {{"StatusCode": 415, "Body": "file hook says no"}}}}))
"""


def make_hooks_dir(tmp_path: Path) -> tuple[Path, Path]:
    hooks_dir, out = tmp_path / "hooks", tmp_path / "hook-out"
    hooks_dir.mkdir()
    out.mkdir()
    for event in EVENTS.split(","):
        path = hooks_dir / event
        path.write_text(SCRIPT.format(python=sys.executable, out=str(out)))
        path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return hooks_dir, out


def seen(out: Path) -> list[str]:
    return sorted(p.name.split("-")[0] + "-" + p.name.split("-")[1] for p in out.iterdir())


def test_file_hooks_with_a_real_server(server_factory: ServerFactory, tmp_path: Path) -> None:
    hooks_dir, out = make_hooks_dir(tmp_path)
    server = server_factory("--hooks-dir", str(hooks_dir), "--hooks-enabled", EVENTS)
    refused = httpx.post(server.endpoint, headers={**TUS, "Upload-Length": "1", "Upload-Metadata": "filename YS5leGU="})
    assert refused.status_code == 415 and refused.text.strip() == "file hook says no"
    url = server.create(3)
    assert httpx.patch(url, content=b"abc", headers=PATCH).status_code == 204
    wait_for(lambda: len(seen(out)) == 5, what="five file hooks")
    assert seen(out) == ["post-create", "post-finish", "post-receive", "pre-create", "pre-create"]
    finish = json.loads(next(out.glob("post-finish-*")).read_text())
    assert finish["Type"] == "post-finish" and finish["Event"]["Upload"]["ID"] == url.rsplit("/", 1)[1]


def test_file_and_in_process_hooks_see_the_same_events(tmp_path: Path) -> None:
    hooks_dir, out = make_hooks_dir(tmp_path)
    received: list[tuple[str, dict[str, Any]]] = []
    legacy: list[tuple[str, str]] = []

    async def handler(hook_type: str, request: dict[str, Any]) -> dict[str, Any] | None:
        received.append((hook_type, request))
        if hook_type == "pre-create" and request["Event"]["Upload"]["MetaData"].get("filename") == "blocked":
            return {"RejectUpload": True, "HTTPResponse": {"StatusCode": 403, "Body": "in-process says no"}}
        return None

    async def callback(event: str, info: UploadInfo) -> None:
        legacy.append((event, info.id))

    hooks = Hooks()
    hooks.add_handler(handler)
    hooks.add(callback)
    settings = Settings(data_dir=tmp_path / "data", hooks_dir=hooks_dir, hooks_enabled=EVENTS)
    app = create_app(settings, hooks=hooks)

    async def run() -> str:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            blocked = await client.post(
                "/files/", headers={**TUS, "Upload-Length": "1", "Upload-Metadata": "filename YmxvY2tlZA=="}
            )
            assert blocked.status_code == 403 and blocked.text.strip() == "in-process says no"
            created = await client.post("/files/", headers={**TUS, "Upload-Length": "3"})
            assert created.status_code == 201
            url = created.headers["Location"]
            assert (await client.patch(url, content=b"abc", headers=PATCH)).status_code == 204
            for _ in range(600):
                if len(seen(out)) >= 4:
                    break
                await asyncio.sleep(0.05)
            await hooks.drain(5)
            return str(url).rsplit("/", 1)[1]

    upload_id = asyncio.run(run())
    in_process = [t for t, _ in received]
    assert in_process == ["pre-create", "pre-create", "post-create", "post-finish", "post-receive"]
    # The file hooks got the same, except the pre-create the in-process hook refused before them.
    assert seen(out) == sorted(set(in_process)) and len(seen(out)) == 4
    assert legacy == [("post-create", upload_id), ("post-finish", upload_id), ("post-receive", upload_id)]


def test_bad_hooks_enabled_is_a_start_up_error() -> None:
    from tusserver.config import SettingsError
    from tusserver.wiring import check

    with pytest.raises(SettingsError, match="unknown hook events: post-upload"):
        check(Settings(hooks_enabled="post-create,post-upload"))


def test_post_hooks_survive_a_new_event_loop_and_a_second_configure(tmp_path: Path) -> None:
    """An embedder's app restarted in a fresh loop (or its Hooks given to a second app) still delivers,
    once per event: the queue follows the running loop and `configure` replaces what it made before."""
    delivered: list[str] = []

    class Recorder:
        name = "recorder"

        async def call(self, hook_type: str, body: bytes) -> dict[str, Any] | None:
            delivered.append(json.loads(body)["Event"]["Upload"]["ID"])
            return None

    hooks = Hooks()
    hooks.add_transport(Recorder())
    settings = Settings(data_dir=tmp_path / "data", hooks_enabled="post-finish").validate()
    for _ in range(2):
        create_app(settings, hooks=hooks)

    async def finish(upload_id: str) -> None:
        await hooks.emit("post-finish", UploadInfo(id=upload_id, length=0))
        await hooks.drain(5)

    asyncio.run(finish("a" * 20))
    asyncio.run(finish("b" * 20))
    assert delivered == ["a" * 20, "b" * 20]


def test_post_receive_at_most_once_per_progress_interval(tmp_path: Path) -> None:
    offsets: list[int] = []

    async def handler(hook_type: str, request: dict[str, Any]) -> None:
        offsets.append(request["Event"]["Upload"]["Offset"])

    hooks = Hooks()
    hooks.add_handler(handler)
    settings = Settings(data_dir=tmp_path / "data", hooks_enabled="post-receive", progress_interval_s=3600)
    app = create_app(settings, hooks=hooks)

    async def run() -> None:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            url = (await client.post("/files/", headers={**TUS, "Upload-Length": "4"})).headers["Location"]
            for offset in range(4):
                headers = {**PATCH, "Upload-Offset": str(offset)}
                assert (await client.patch(url, content=b"x", headers=headers)).status_code == 204

    asyncio.run(run())
    # The first, then none within the interval but the last byte's. The first is sent while its body
    # arrives (a task for an in-process handler), so it may run after the last one: post-hooks are unordered.
    assert sorted(offsets) == [1, 4]
