"""Upload URLs as the client sees them: behind a proxy, under a mount point, never header-injected."""

from __future__ import annotations

import re

from starlette.requests import Request

from ..config import Settings


class PublicUrls:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def upload_url(self, request: Request, upload_id: str) -> str:
        return f"{self.external_origin(request)}{self.base_path(request)}{upload_id}"

    def base_path(self, request: Request) -> str:
        """The uploads' path as the client sees it: under the ASGI `root_path` when the app is mounted."""
        root: str = request.scope.get("root_path", "")
        return root.rstrip("/") + self.settings.base_path

    def external_origin(self, request: Request) -> str:
        """scheme://host as the client sees it; proxy headers count only with --behind-proxy."""
        headers = request.headers
        scheme: str = request.scope.get("scheme", "http")  # what `request.url.scheme` says, without building a URL
        host = headers.get("host") or f"{self.settings.host}:{self.settings.port}"
        if self.settings.behind_proxy:
            forwarded = _parse_forwarded(headers.get("forwarded", ""))
            scheme = forwarded.get("proto") or _first(headers.get("x-forwarded-proto")) or scheme
            host = forwarded.get("host") or _first(headers.get("x-forwarded-host")) or host
        scheme = scheme.lower()  # RFC 3986: schemes are case-insensitive ("HTTPS" from some proxies)
        if scheme not in ("http", "https"):
            scheme = "http"
        return f"{scheme}://{_safe_host(host)}"


def _first(value: str | None) -> str | None:
    if not value:
        return None
    return value.split(",")[0].strip() or None


def _parse_forwarded(value: str) -> dict[str, str]:
    """The first element of an RFC 7239 `Forwarded` header, as lower-cased keys."""
    result: dict[str, str] = {}
    first = value.split(",")[0]
    for pair in first.split(";"):
        key, _, raw = pair.partition("=")
        if raw:
            result[key.strip().lower()] = raw.strip().strip('"')
    return result


_NOT_IN_HOST = re.compile(r"[^A-Za-z0-9.\-:\[\]_]")


def _safe_host(host: str) -> str:
    """Keep only characters a host[:port] may have, so no header can inject into `Location`."""
    return _NOT_IN_HOST.sub("", host) or "localhost"
