"""`104 (Upload Resumption Supported)` interim responses, where the HTTP layer can send them.

Our uvicorn protocol (server/http_protocol.py) offers the `INFORMATIONAL` scope extension; under any
other server the extension is absent and the client learns the upload's URL from the final response,
which the draft allows ("unless the server is not capable of sending interim responses").
"""

from __future__ import annotations

from starlette.requests import Request

from ...constants import INFORMATIONAL

UPLOAD_RESUMPTION_SUPPORTED = 104


def can_send_interim(request: Request) -> bool:
    return INFORMATIONAL in request.scope.get("extensions", {})


async def send_interim(request: Request, headers: dict[str, str]) -> bool:
    """Send one 104; False when this server cannot."""
    if not can_send_interim(request):
        return False
    message = {
        "type": INFORMATIONAL,
        "status": UPLOAD_RESUMPTION_SUPPORTED,
        "headers": [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers.items()],
    }
    # Starlette keeps the ASGI `send` of a request endpoint there (its own send_push_promise uses it).
    await request._send(message)
    return True
