"""The start-up banner: how this server is set up, in one block (one JSON record with `--log-format json`).

An operator reading the first lines of the log must see what uvicorn's four lines never said: where
uploads go, whether a token is needed, and the limits a client will meet. It is built from `Settings`
alone (no backend is touched, so it prints even when the bucket or Redis is not there yet), and it
never holds a secret: the JWT secret is "set", URLs lose their passwords.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from ..config import Settings, format_size

log = logging.getLogger("tusserver")


def without_password(url: str) -> str:
    """`redis://:pw@host/0` → `redis://:***@host/0`, `https://h/hook?key=k` → `https://h/hook?***`: where it
    points, never a credential (a query string often carries one)."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if parts.password is not None:
        netloc = f"{parts.username or ''}:***@{parts.hostname or ''}" + (f":{parts.port}" if parts.port else "")
    query = "***" if parts.query else ""
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


def _seconds(value: float) -> str:
    return f"{int(value)} s" if float(value).is_integer() else f"{value} s"


def _upload_url(settings: Settings) -> str:
    scheme = "https" if settings.tls_cert else "http"
    if settings.unix_socket:
        return f"{scheme}://localhost{settings.base_path} (through unix:{settings.unix_socket})"
    host = settings.host
    if host in ("0.0.0.0", "::", ""):
        host = "<this host>"
    elif ":" in host:
        host = f"[{host}]"
    return f"{scheme}://{host}:{settings.port}{settings.base_path}"


def _auth(settings: Settings) -> dict[str, Any]:
    if not settings.auth_enabled:
        return {"mode": "off", "note": "anyone may upload; set TUSSERVER_JWT_SECRET or a public key to require tokens"}
    if settings.jwks is not None:
        mode = f"JWKS {Path(settings.jwks).resolve()}"
    elif settings.jwt_public_key is not None:
        mode = f"public key {Path(settings.jwt_public_key).resolve()}"
    else:
        mode = "HS256 (secret set)"
    auth: dict[str, Any] = {"mode": mode}
    if settings.jwt_algorithms:
        auth["algorithms"] = settings.jwt_algorithms
    auth["issuer"] = settings.jwt_issuer or "any"
    auth["audience"] = settings.jwt_audience or "any"
    auth["token_ttl"] = _seconds(settings.token_ttl_s)
    auth["token_max_age"] = _seconds(settings.token_max_age_s)
    return auth


def _store(settings: Settings) -> str:
    if settings.store == "file":
        return f"file {Path(settings.data_dir).resolve()}"
    if settings.store == "s3":
        where = settings.s3_endpoint_url or f"AWS {settings.s3_region}"
        prefix = f"/{settings.s3_prefix}" if settings.s3_prefix else ""
        return f"s3 bucket {settings.s3_bucket}{prefix} at {without_password(where)}"
    if settings.store == "memory":
        return "memory (uploads are lost when the process stops)"
    return settings.store


def _locker(settings: Settings) -> str:
    name = settings.locker or "the store's default"  # resolved by wiring.check before `serve` gets here
    if name == "redis":
        return f"redis {without_password(settings.redis_url)}"
    return name


def _hooks(settings: Settings) -> str:
    where = [without_password(settings.hooks_url)] if settings.hooks_url else []
    if settings.hooks_dir is not None:
        where.append(f"files in {Path(settings.hooks_dir).resolve()}")
    if not where:
        return "off"
    return f"{' and '.join(where)} ({settings.hooks_enabled})"


def _metrics(settings: Settings) -> str:
    if settings.metrics_listen:
        return f"http://{settings.metrics_listen}/metrics (no token)"
    if settings.metrics:
        return "/metrics on the upload port"
    return "off"


def _cors(settings: Settings) -> str:
    if not settings.cors_origin_list:
        return "off"
    parts = [f"origins {settings.cors_origins}", f"preflight cached {_seconds(settings.cors_max_age_s)}"]
    if settings.cors_allow_credentials:
        parts.append("credentials allowed")
    if settings.cors_allow_headers:
        parts.append(f"extra request headers {settings.cors_allow_headers}")
    if settings.cors_expose_headers:
        parts.append(f"extra exposed headers {settings.cors_expose_headers}")
    return ", ".join(parts)


def describe(settings: Settings, version: str) -> dict[str, Any]:
    """The banner's content, as the JSON record carries it."""
    listen = f"unix:{settings.unix_socket}" if settings.unix_socket else f"{settings.host}:{settings.port}"
    if settings.instant_upload_enabled:
        instant = "on"
    elif settings.instant_upload == "auto":
        instant = "off (auto: needs auth)"
    else:
        instant = "off"
    return {
        "version": version,
        "listen": listen + (" (TLS)" if settings.tls_cert else ""),
        "upload_url": _upload_url(settings),
        "workers": settings.workers,
        "store": _store(settings),
        "locker": _locker(settings),
        "auth": _auth(settings),
        "limits": {
            "max_size": format_size(settings.max_size_bytes) if settings.max_size_bytes else "none",
            "max_metadata": format_size(settings.max_metadata_bytes),
            "max_header": format_size(settings.max_header_bytes),
            "max_concat_parts": settings.max_concat_parts,
            "max_unfinished": settings.max_unfinished or "none",
            "read_timeout": _seconds(settings.read_timeout_s),
        },
        "expiry": (
            f"unfinished uploads after {_seconds(settings.expire_after_s)}, swept every "
            f"{_seconds(settings.sweep_interval_s)}"
            if settings.expire_after_s
            else "never"
        ),
        "hooks": _hooks(settings),
        "metrics": _metrics(settings),
        "cors": _cors(settings),
        "instant_upload": instant,
        "demo": "on: a page at / " + ("(POST /demo/token hands out tokens)" if settings.auth_enabled else "")
        if settings.demo
        else "off",
    }


def render_text(content: dict[str, Any]) -> str:
    """`name: value` lines under a title, nested dicts indented one level: one block in the log."""
    lines = [f"tusserver {content['version']} starting"]
    for key, value in content.items():
        if key == "version":
            continue
        if isinstance(value, dict):
            inner = ", ".join(f"{k} {v}" for k, v in value.items())
            lines.append(f"  {key:<15} {inner}")
        else:
            lines.append(f"  {key:<15} {value}")
    return "\n".join(lines)


def log_banner(settings: Settings, version: str) -> None:
    """Write the banner at INFO: one record, whose `config` field the JSON formatter writes as an object."""
    content = describe(settings, version)
    if settings.log_format == "json":
        log.info("tusserver starting", extra={"config": content})
    else:
        log.info("%s", render_text(content))
