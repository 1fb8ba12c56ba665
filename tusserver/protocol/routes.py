"""The upload routes under `--base-path`; storage, locking and auth come in through `TusContext`.

Each route serves tus 1.0 and the resumable-upload draft: `by_protocol` sends a request carrying
`Upload-Draft-Interop-Version` to the draft's handler, any other to the tus one. On an upload URL it
also checks the path names the upload literally (paths.py): one wrapper, not two, since each costs
every request a coroutine (bench/instructions.py).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .context import TusContext
from .creation import CreationHandler
from .download import DownloadHandler
from .handlers import TusHandler
from .ietf import Draft, IetfHandler, as_problems, draft_of
from .paths import Endpoint, check_literal

DraftEndpoint = Callable[[Request, Draft], Awaitable[Response]]


def by_protocol(tus: Endpoint, ietf: DraftEndpoint, *, upload_url: bool = False) -> Endpoint:
    async def endpoint(request: Request) -> Response:
        if upload_url:
            check_literal(request)
        draft = draft_of(request)
        if draft is None:
            return await tus(request)
        with as_problems(draft):
            return await ietf(request, draft)

    return endpoint


def routes(ctx: TusContext) -> list[Route]:
    tus = TusHandler(ctx)
    download = DownloadHandler(ctx)
    ietf = IetfHandler(ctx, download.get)
    creation = by_protocol(CreationHandler(ctx).post, ietf.post)
    options = by_protocol(tus.options, ietf.options)
    base = ctx.settings.base_path
    upload = base + "{upload_id}"
    disabled = {"GET"} if ctx.settings.disable_download else set()
    if ctx.settings.disable_termination:
        disabled.add("DELETE")
    found = [
        Route(base, creation, methods=["POST"]),
        Route(base, options, methods=["OPTIONS"]),
        Route(base.rstrip("/"), creation, methods=["POST"]),
        Route(base.rstrip("/"), options, methods=["OPTIONS"]),
        Route(upload, by_protocol(tus.head, ietf.head, upload_url=True), methods=["HEAD"]),
        Route(upload, by_protocol(tus.patch, ietf.patch, upload_url=True), methods=["PATCH"]),
        Route(upload, by_protocol(tus.delete, ietf.delete, upload_url=True), methods=["DELETE"]),
        Route(upload, by_protocol(download.get, ietf.get, upload_url=True), methods=["GET"]),
        Route(upload, options, methods=["OPTIONS"]),
    ]
    return [r for r in found if not (r.methods or set()) & disabled]
