"""What a request on an existing upload passes before it may touch it, whichever protocol it speaks.

Access is checked before the lock is taken: waiting for a lock asks the holder to let go, so a request
that is going to be refused (another owner, a token restricted to another upload) must never wait for
one, or anyone with a valid token could cut other people's PATCHes. The service checks it again under
the lock.
"""

from __future__ import annotations

from starlette.requests import Request

from ..auth.access import check_upload_access, identity_of
from ..errors import BadRequest
from ..models import UploadInfo
from .context import TusContext


async def check_access(ctx: TusContext, request: Request, upload_id: str) -> UploadInfo | None:
    """Refuse before locking; the checks are repeated under the lock.

    Only with auth on: without it no one is refused for who they are, and a PATCH saves a read."""
    if identity_of(request.scope) is None:
        return None
    info = await ctx.uploads.get(upload_id)
    check_upload_access(request.scope, info.id, info.owner)
    return info


async def pre_access(ctx: TusContext, request: Request, upload_id: str, known: UploadInfo | None) -> UploadInfo | None:
    """The pre-access hook (and pre-terminate's need of the record) before any lock is taken."""
    hooks = ctx.hooks
    if not (hooks.wants("pre-access") or hooks.wants("pre-terminate")):
        return known
    info = known or await ctx.uploads.get(upload_id)
    await hooks.pre_access(request, info)
    return info


async def admit(ctx: TusContext, request: Request, upload_id: str) -> UploadInfo | None:
    """Both checks above, in order; the record when one of them had to read it."""
    return await pre_access(ctx, request, upload_id, await check_access(ctx, request, upload_id))


async def terminate(ctx: TusContext, request: Request, upload_id: str) -> None:
    """DELETE: admitted, the pre-terminate hook, then the service (which asks a running PATCH to let go)."""
    if ctx.stores.terminater is None:
        raise BadRequest("this server does not support termination")
    known = await admit(ctx, request, upload_id)
    if known is not None and ctx.hooks.wants("pre-terminate"):
        await ctx.hooks.pre_terminate(request, known)
    await ctx.uploads.terminate(upload_id, ctx.caller(request))
