"""The upload routes under `--base-path`; storage, locking and auth come in through `TusContext`.

Each route serves tus 1.0 and the resumable-upload draft: `by_protocol` sends a request carrying
`Upload-Draft-Interop-Version` to the draft's handler, any other to the tus one.
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
from .paths import literal_upload_path

Endpoint = Callable[[Request], Awaitable[Response]]
DraftEndpoint = Callable[[Request, Draft], Awaitable[Response]]


def by_protocol(tus: Endpoint, ietf: DraftEndpoint) -> Endpoint:
    async def endpoint(request: Request) -> Response:
        draft = draft_of(request)
        if draft is None:
            return await tus(request)
        with as_problems(draft):
            return await ietf(request, draft)

    return endpoint


def routes(ctx: TusContext) -> list[Route]:
    tus = TusHandler(ctx)
    ietf = IetfHandler(ctx)
    creation = by_protocol(CreationHandler(ctx).post, ietf.post)
    options = by_protocol(tus.options, ietf.options)
    download = DownloadHandler(ctx)
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
        Route(upload, literal_upload_path(by_protocol(tus.head, ietf.head)), methods=["HEAD"]),
        Route(upload, literal_upload_path(by_protocol(tus.patch, ietf.patch)), methods=["PATCH"]),
        Route(upload, literal_upload_path(by_protocol(tus.delete, ietf.delete)), methods=["DELETE"]),
        Route(upload, literal_upload_path(download.get), methods=["GET"]),
        Route(upload, options, methods=["OPTIONS"]),
    ]
    return [r for r in found if not (r.methods or set()) & disabled]
