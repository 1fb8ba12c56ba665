"""Reading and dropping a request body nobody needs (the bytes of an instant upload are already here)."""

from __future__ import annotations

from starlette.requests import ClientDisconnect, Request

from ..server.direct_body import body_progress


async def discard_body(request: Request, limit: int) -> bool:
    """Read and drop a creation body that is not needed; False when the connection must close instead.

    Not reading it would break keep-alive (uvicorn then parses the leftover bytes as the next request),
    and closing with bytes unread sends the client a RST that can eat our response. A client waiting
    on `Expect: 100-continue` has sent nothing yet: closing is free and saves it the whole body.
    """
    if "100-continue" in request.headers.get("expect", "").lower():
        return False
    received = 0
    progress = body_progress(request.scope)
    try:
        async for chunk in request.stream():
            received += len(chunk)
            if progress is not None:
                progress.add(len(chunk))
            if received > limit:
                return False
    except ClientDisconnect:
        return False
    return True
