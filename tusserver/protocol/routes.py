"""The tus routes under `--base-path`; storage, locking and auth come in through `TusContext`."""

from __future__ import annotations

from starlette.routing import Route

from .context import TusContext
from .creation import CreationHandler
from .download import DownloadHandler
from .handlers import TusHandler
from .paths import literal_upload_path


def routes(ctx: TusContext) -> list[Route]:
    tus = TusHandler(ctx)
    creation = CreationHandler(ctx)
    download = DownloadHandler(ctx)
    base = ctx.settings.base_path
    upload = base + "{upload_id}"
    disabled = {"GET"} if ctx.settings.disable_download else set()
    if ctx.settings.disable_termination:
        disabled.add("DELETE")
    found = [
        Route(base, creation.post, methods=["POST"]),
        Route(base, tus.options, methods=["OPTIONS"]),
        Route(base.rstrip("/"), creation.post, methods=["POST"]),
        Route(base.rstrip("/"), tus.options, methods=["OPTIONS"]),
        Route(upload, literal_upload_path(tus.head), methods=["HEAD"]),
        Route(upload, literal_upload_path(tus.patch), methods=["PATCH"]),
        Route(upload, literal_upload_path(tus.delete), methods=["DELETE"]),
        Route(upload, literal_upload_path(download.get), methods=["GET"]),
        Route(upload, tus.options, methods=["OPTIONS"]),
    ]
    return [r for r in found if not (r.methods or set()) & disabled]
