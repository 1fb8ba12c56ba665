"""`104 (Upload Resumption Supported)` interim responses, where the HTTP layer can send them.

Our uvicorn protocol (server/http_protocol.py) offers the `INFORMATIONAL` scope extension; under any
other server the extension is absent and the client learns the upload's URL from the final response,
which the draft allows ("unless the server is not capable of sending interim responses").
"""

from __future__ import annotations

from starlette.requests import Request

from ...constants import INFORMATIONAL

UPLOAD_RESUMPTION_SUPPORTED = 104


async def send_interim(request: Request, headers: dict[str, str]) -> bool:
    """Send one 104; False when this server cannot (or no longer may)."""
    extension = request.scope.get("extensions", {}).get(INFORMATIONAL)
    if extension is None:
        return False
    encoded = [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers.items()]
    sent: bool = await extension.send(UPLOAD_RESUMPTION_SUPPORTED, encoded)
    return sent
