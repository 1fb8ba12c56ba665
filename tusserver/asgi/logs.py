"""`--log-format text|json`, and the per-request line `--access-log` writes in JSON mode.

JSON mode writes one object per line (time, level, logger, event, and where known method, path,
upload_id, status, bytes, duration_s) for log collectors. Nothing we log carries a token, and as a
second line of defence anything shaped like a JWT or a bearer credential is masked before it is written.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
from datetime import UTC, datetime
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..server.direct_body import flush_body_progress, listen_to_body

_SECRETS = re.compile(r"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*|(?i:bearer)\s+\S+")
_FIELDS = ("method", "path", "upload_id", "status", "bytes", "duration_s", "config")  # config: the banner
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

request_log = logging.getLogger("tusserver.access")


def redact(text: str) -> str:
    return _SECRETS.sub("[redacted]", text)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": record.getMessage(),
        }
        if record.name == "uvicorn.access" and isinstance(record.args, tuple) and len(record.args) == 5:
            _, data["method"], data["path"], _, data["status"] = record.args
        for name in _FIELDS:
            if hasattr(record, name):
                data[name] = getattr(record, name)
        if record.exc_info:
            data["error"] = self.formatException(record.exc_info)
        return redact(json.dumps(data, default=str))


def configure_logging(level: str, log_format: str) -> None:
    """The root handler for `level` and `log_format`; safe to call again (it replaces its own, never adds).

    Handlers someone else installed (an embedder, a test runner) are left alone."""
    root = logging.getLogger()
    for old in list(root.handlers):
        if getattr(old, "tusserver", False):
            root.removeHandler(old)
    handler = logging.StreamHandler(sys.stderr)
    handler.tusserver = True  # type: ignore[attr-defined]
    handler.setFormatter(JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT))
    root.addHandler(handler)
    root.setLevel(level.upper())
    # In JSON mode the app writes the request line (RequestLogMiddleware), with more than uvicorn's.
    logging.getLogger("uvicorn.access").disabled = log_format == "json"


class RequestLogMiddleware:
    """One JSON record per request (`--access-log --log-format json`): what uvicorn's line lacks,
    the upload id, the body bytes received and the duration."""

    def __init__(self, app: ASGIApp, base_path: str) -> None:
        self.app = app
        self.base_path = base_path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        seen = {"status": 500, "bytes": 0}

        async def sender(message: Message) -> None:
            if message["type"] == "http.response.start":
                seen["status"] = message["status"]
            await send(message)

        def moved(size: int) -> None:
            seen["bytes"] += size

        scope = listen_to_body(scope, moved)
        try:
            await self.app(scope, receive, sender)
        finally:
            flush_body_progress(scope)
            path: str = scope.get("path", "")
            tail = path[len(self.base_path) :] if path.startswith(self.base_path) else ""
            request_log.info(
                "request",
                extra={
                    "method": scope["method"],
                    "path": path,
                    "upload_id": tail if tail and "/" not in tail else None,
                    "status": seen["status"],
                    "bytes": seen["bytes"],
                    "duration_s": round(time.perf_counter() - start, 6),
                },
            )
