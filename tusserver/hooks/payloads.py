"""tusd v2's hook request JSON: `{"Type": ..., "Event": {"Upload": {...}, "HTTPRequest": {...}}}`.

Receivers written for tusd read these field names and shapes, so they follow tusd's `FileInfo` and
`HTTPRequest` exactly (metadata decoded, headers as lists, `Size` 0 while deferred).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..models import UploadInfo

if TYPE_CHECKING:
    from starlette.requests import Request


def upload_json(info: UploadInfo, storage: Mapping[str, str] | None = None) -> dict[str, Any]:
    """tusd's `FileInfo`; `storage` is where the bytes are (`Type`, and `Path` or `Bucket` and `Key`)."""
    return {
        "ID": info.id,
        "Size": info.length if info.length is not None else 0,
        "SizeIsDeferred": info.length is None,
        "Offset": info.offset,
        "MetaData": {key: decode_value(value) for key, value in info.metadata.items()},
        "IsPartial": info.is_partial,
        "IsFinal": info.is_final,
        "PartialUploads": list(info.parts) if info.is_final else None,
        "Storage": dict(storage or {}),
    }


def request_json(request: Request | None) -> dict[str, Any]:
    if request is None:  # an event with no request behind it (a background assembly)
        return {"Method": "", "URI": "", "RemoteAddr": "", "Header": {}}
    scope = request.scope
    uri = scope.get("root_path", "") + scope.get("path", "")
    if scope.get("query_string"):
        uri += "?" + scope["query_string"].decode("latin-1")
    client = scope.get("client")
    headers: dict[str, list[str]] = {}
    for name, value in request.headers.items():
        headers.setdefault("-".join(p.capitalize() for p in name.split("-")), []).append(value)
    return {
        "Method": request.method,
        "URI": uri,
        "RemoteAddr": f"{client[0]}:{client[1]}" if client else "",
        "Header": headers,
    }


def hook_request(
    hook_type: str, info: UploadInfo, request: Request | None, storage: Mapping[str, str] | None = None
) -> bytes:
    """The whole request body every transport sends (encoded once, whatever the number of transports)."""
    event = {"Upload": upload_json(info, storage), "HTTPRequest": request_json(request)}
    return json.dumps({"Type": hook_type, "Event": event}).encode()


def decode_value(value: str | None) -> str:
    """An `Upload-Metadata` value (base64) as the text tusd hands hooks; undecodable values are empty."""
    if not value:
        return ""
    try:
        return base64.b64decode(value).decode("utf-8", errors="replace")
    except ValueError:
        return ""


def encode_value(value: object) -> str | None:
    """A hook's metadata value back into our stored (base64) form; empty values are stored as None."""
    text = "" if value is None else str(value)
    return base64.b64encode(text.encode()).decode() if text else None
