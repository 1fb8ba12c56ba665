"""--concat-wait: a final POST answers once the file is assembled (tusd's behaviour), or after S seconds
without `Upload-Offset`, the assembly going on; HEAD then says `Retry-After`, and CORS lets a page read it.

In-process, with a store whose concatenation waits for the test's go, so "slow" needs no big file.
"""

from __future__ import annotations

import asyncio

import httpx

from tusserver.app import create_app
from tusserver.config import Settings
from tusserver.models import UploadInfo
from tusserver.storage.memory import MemoryStore

TUS = {"Tus-Resumable": "1.0.0"}
PATCH = {**TUS, "Content-Type": "application/offset+octet-stream"}
ORIGIN = {"Origin": "https://app.example.test"}


class GatedStore(MemoryStore):
    """Concatenation waits until `go` is set: an assembly as slow as the test wants."""

    def __init__(self) -> None:
        super().__init__()
        self.go = asyncio.Event()

    async def concatenate(self, final: UploadInfo, parts: list[UploadInfo]) -> None:
        await self.go.wait()
        await super().concatenate(final, parts)


async def _parts(client: httpx.AsyncClient, chunks: list[bytes]) -> list[str]:
    urls = []
    for data in chunks:
        r = await client.post("/files/", headers={**TUS, "Upload-Concat": "partial", "Upload-Length": str(len(data))})
        url = r.headers["Location"]
        assert (await client.patch(url, content=data, headers={**PATCH, "Upload-Offset": "0"})).status_code == 204
        urls.append(url)
    return urls


def _final(urls: list[str]) -> dict[str, str]:
    return {**TUS, **ORIGIN, "Upload-Concat": "final;" + " ".join(urls)}


def test_final_post_answers_once_assembled_and_the_download_works_at_once() -> None:
    store = GatedStore()
    app = create_app(Settings(store="memory", concat_wait_s=30), store=store)
    chunks = [b"a" * 1000, b"b" * 10, b"c" * 5000]

    async def run() -> None:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://tus.test") as client:
            urls = await _parts(client, chunks)
            post = asyncio.create_task(client.post("/files/", headers=_final(urls)))
            await asyncio.sleep(0.2)
            assert not post.done()  # waiting for the assembly, not answering early
            store.go.set()
            r = await post
            assert r.status_code == 201
            assert r.headers["Upload-Offset"] == str(sum(map(len, chunks)))
            got = await client.get(r.headers["Location"])
            assert got.status_code == 200 and got.content == b"".join(chunks)

    asyncio.run(run())


def test_longer_assembly_answers_without_offset_and_head_says_retry_after() -> None:
    store = GatedStore()
    app = create_app(Settings(store="memory", concat_wait_s=0.2), store=store)

    async def run() -> None:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://tus.test") as client:
            urls = await _parts(client, [b"x" * 100, b"y" * 100])
            r = await client.post("/files/", headers=_final(urls))
            assert r.status_code == 201 and "Upload-Offset" not in r.headers
            exposed = {h.strip().lower() for h in r.headers["Access-Control-Expose-Headers"].split(",")}
            assert {"location", "upload-offset", "retry-after", "x-new-token", "upload-expires"} <= exposed
            final = r.headers["Location"]
            head = await client.head(final, headers={**TUS, **ORIGIN})
            assert "Upload-Offset" not in head.headers and head.headers["Retry-After"] == "1"
            assert (await client.get(final)).status_code == 409
            store.go.set()  # the assembly carried on after the POST answered: it finishes now
            for _ in range(200):
                head = await client.head(final, headers=TUS)
                if "Upload-Offset" in head.headers:
                    break
                await asyncio.sleep(0.01)
            assert head.headers["Upload-Offset"] == "200" and "Retry-After" not in head.headers
            assert (await client.get(final)).content == b"x" * 100 + b"y" * 100

    asyncio.run(run())


def test_concat_wait_is_a_flag() -> None:
    assert Settings().concat_wait_s == 10
    assert Settings.from_env({"TUSSERVER_CONCAT_WAIT": "2.5"}).concat_wait_s == 2.5
