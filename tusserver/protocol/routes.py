"""The upload routes under `--base-path`; storage, locking and auth come in through `TusContext`.

Each route serves tus 1.0 and the resumable-upload draft: `by_protocol` sends a request carrying
`Upload-Draft-Interop-Version` to the draft's handler, any other to the tus one. On an upload URL it
also checks the path names the upload literally (paths.py): one wrapper, not two, since each costs
every request a coroutine (bench/instructions.py).

One route per path, not one per method: Starlette answers a method no route takes with the Allow of
the first route whose path matched, so PUT on an upload said `Allow: HEAD` (RFC 9110 wants every
method the resource supports), and a PATCH was matched against six routes before its own (three
regular-expression matches more per small upload than needed).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route, request_response
from starlette.types import Receive, Scope, Send

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


class MethodsRoute(Route):
    """A path and an endpoint per method; any other method gets 405 with every method of the path in Allow."""

    def __init__(self, path: str, endpoints: dict[str, Endpoint]) -> None:
        super().__init__(path, _refuse, methods=sorted(endpoints))
        self.allow = ", ".join(sorted(endpoints))
        self._apps = {method: request_response(endpoint) for method, endpoint in endpoints.items()}

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        app = self._apps.get(scope["method"])
        if app is None:
            raise HTTPException(405, headers={"Allow": self.allow})
        await app(scope, receive, send)


async def _refuse(request: Request) -> Response:  # never called: `handle` picks the method's own endpoint
    raise HTTPException(405)


def routes(ctx: TusContext) -> list[Route]:
    tus = TusHandler(ctx)
    download = DownloadHandler(ctx)
    ietf = IetfHandler(ctx, download.get)
    creation = by_protocol(CreationHandler(ctx).post, ietf.post)
    options = by_protocol(tus.options, ietf.options)
    base = ctx.settings.base_path
    disabled = {"GET"} if ctx.settings.disable_download else set()
    if ctx.settings.disable_termination:
        disabled.add("DELETE")
    upload: dict[str, Endpoint] = {
        "HEAD": by_protocol(tus.head, ietf.head, upload_url=True),
        "PATCH": by_protocol(tus.patch, ietf.patch, upload_url=True),
        "DELETE": by_protocol(tus.delete, ietf.delete, upload_url=True),
        "GET": by_protocol(download.get, ietf.get, upload_url=True),
        "OPTIONS": options,
    }
    endpoint: dict[str, Endpoint] = {"POST": creation, "OPTIONS": options}
    # The upload URL first: most requests are PATCH and HEAD; a POST's path never matches it (no id).
    return [
        MethodsRoute(base + "{upload_id}", {m: e for m, e in upload.items() if m not in disabled}),
        MethodsRoute(base, endpoint),
        MethodsRoute(base.rstrip("/"), endpoint),
    ]
