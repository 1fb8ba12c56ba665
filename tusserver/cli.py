"""`tusserver serve | token | cleanup | upload`: flags mirror `Settings` fields, with env fallback."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import logging
import os
import secrets
import sys
from collections.abc import Sequence
from typing import Any

from starlette.types import ASGIApp

from .config import Settings, SettingsError, env_name, field_types, option_name, parse_value

_HELP = {
    "host": "interface to listen on",
    "hooks_url": "POST upload events (post-create, post-finish, post-terminate) as JSON to this URL",
    "metrics": "serve Prometheus metrics at /metrics",
    "port": "port to listen on",
    "base_path": "URL path under which uploads live",
    "data_dir": "directory for uploads (store 'file')",
    "store": "storage backend: file, memory or s3",
    "locker": "locker: file, memory or redis (default: file for store file, else memory)",
    "workers": "worker processes (needs locker file or redis)",
    "behind_proxy": "trust X-Forwarded-Host/Proto and Forwarded for Location URLs",
    "cors_origins": "comma-separated allowed CORS origins; '*' for any; '' to disable CORS",
    "max_size_bytes": "largest Upload-Length accepted (0: no limit)",
    "max_metadata_bytes": "longest Upload-Metadata header accepted",
    "max_header_bytes": "largest total size of request headers",
    "max_concat_parts": "most partial uploads one final concatenation may name",
    "max_unfinished": "most unfinished uploads one owner (everyone, with auth off) may have; 429 beyond (0: no cap)",
    "instant_upload": "Repr-Digest instant upload: auto (on only with auth), on, off",
    "lock_timeout_s": "how long a request waits for an upload's lock before 423",
    "shutdown_timeout_s": "on SIGTERM, how long requests in flight may run before they are cut",
    "expire_after_s": "unfinished uploads expire this long after their last write (0: never)",
    "sweep_interval_s": "how often the server removes expired uploads",
    "write_buffer_bytes": "bytes gathered per upload before one disk write (1 MiB: fastest while still in CPU cache)",
    "write_buffer_total_bytes": "buffer budget shared by all uploads writing at once (each gets at least 64 KiB)",
    "write_in_thread": "write to disk from a thread, overlapping the next receive (slow or network disks)",
    "tune_malloc": "glibc malloc thresholds that keep body buffers in a reused heap (about 2x upload speed)",
    "lean_http": "hand request bodies to the app without uvicorn's two extra copies (1.2x with many uploads)",
    "concat_wait_s": "a final concatenation POST waits this long for the assembly (then 201 with Upload-Offset)",
    "demo": "serve an upload page at / (with auth on, POST /demo/token hands tokens to anyone: a demo only)",
    "keep_partials": "keep partial uploads after their final concatenation is assembled",
    "jwt_secret": "HS256 secret: enables auth and signs rotated tokens",
    "jwt_public_key": "PEM public key file (RS256/ES256): enables auth",
    "jwks": "JWKS file (key chosen by kid): enables auth",
    "jwt_algorithms": "comma-separated accepted JWT algs (default: HS256 plus the public key's family; never none)",
    "jwt_leeway_s": "clock-skew leeway for exp/nbf",
    "jwt_issuer": "required iss claim",
    "jwt_audience": "required aud claim",
    "token_ttl_s": "lifetime of the rotated X-New-Token",
    "token_max_age_s": "absolute lifetime of a token chain from the platform token's iat; rotation stops there",
    "access_log": "log one line per request (off by default: it slows small uploads)",
}


def _add_settings_flags(parser: argparse.ArgumentParser, only: Sequence[str] | None = None) -> None:
    defaults = Settings()
    for name, kind in field_types().items():
        if only is not None and name not in only:
            continue
        flag = "--" + option_name(name).replace("_", "-")
        env = env_name(name)
        help_text = f"{_HELP.get(name, name.replace('_', ' '))} [env {env}; default {getattr(defaults, name)!r}]"
        if kind is bool:
            parser.add_argument(flag, dest=name, action=argparse.BooleanOptionalAction, default=None, help=help_text)
        else:
            parser.add_argument(flag, dest=name, default=None, metavar=name.split("_")[-1].upper(), help=help_text)


def settings_from_args(args: argparse.Namespace) -> Settings:
    """Flags win over `TUSSERVER_*` variables, which win over defaults."""
    overrides: dict[str, Any] = {}
    for name in field_types():
        value = getattr(args, name, None)
        if value is None:
            continue
        overrides[name] = value if isinstance(value, bool) else parse_value(name, value)
    return Settings.from_env(**overrides).validate()


def settings_to_env(settings: Settings) -> dict[str, str]:
    """The environment that makes `Settings.from_env()` rebuild `settings` (for uvicorn worker processes)."""
    env: dict[str, str] = {}
    for name in field_types():
        value = getattr(settings, name)
        env[env_name(name)] = "" if value is None else str(int(value) if isinstance(value, bool) else value)
    return env


def app_from_env() -> ASGIApp:
    """uvicorn factory for `--workers N`: each worker process rebuilds the settings from the environment."""
    from .allocator import tune_malloc
    from .app import create_app

    settings = Settings.from_env()
    if settings.tune_malloc:
        tune_malloc()  # here, not in create_app: it changes the whole process, which an embedder owns
    return create_app(settings)


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    settings = settings_from_args(args)
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if settings.auth_enabled and not settings.jwt_secret and settings.workers > 1:
        # Workers must sign rotated tokens with one secret, or a token rotated by one is refused by the next.
        logging.getLogger("tusserver.auth").warning(
            "no --jwt-secret: the workers share a random rotation secret made at start; "
            "several instances need a shared --jwt-secret"
        )
        settings = dataclasses.replace(settings, jwt_secret=secrets.token_urlsafe(32))
    os.environ.update(settings_to_env(settings))
    protocol: dict[str, Any] = {}
    if settings.lean_http:
        from .http_protocol import TusHttpToolsProtocol, supported

        if supported():
            protocol["http"] = TusHttpToolsProtocol
        else:
            logging.getLogger("tusserver").warning("this uvicorn differs from the one --lean-http knows; using its own")
    uvicorn.run(
        "tusserver.cli:app_from_env",
        **protocol,
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        log_level=settings.log_level,
        access_log=settings.access_log,
        proxy_headers=settings.behind_proxy,
        forwarded_allow_ips="*" if settings.behind_proxy else None,
        server_header=False,
        timeout_graceful_shutdown=settings.shutdown_timeout_s,
    )
    return 0


def _token(args: argparse.Namespace) -> int:
    from .auth.tokens import TokenService

    settings = settings_from_args(args)
    if not settings.jwt_secret:
        print("tusserver token: --jwt-secret (or TUSSERVER_JWT_SECRET) is required", file=sys.stderr)
        return 2
    if settings.jwt_public_key is not None or settings.jwks is not None:
        # Such a server takes HS256 only as its own rotated tokens: a token minted here would be refused.
        print(
            "tusserver token: a server with --jwt-public-key or --jwks refuses HS256 platform tokens; "
            "mint tokens with your private key",
            file=sys.stderr,
        )
        return 2
    service = TokenService.from_settings(settings)
    max_size = int(args.max_size) if args.max_size is not None else None
    print(service.issue(args.sub, ttl_s=int(args.ttl), max_size=max_size))
    return 0


def _cleanup(args: argparse.Namespace) -> int:
    from .app import create_app
    from .expiry import sweep_once

    settings = settings_from_args(args)
    app = create_app(settings)
    ctx = app.state.tus

    async def run() -> int:
        await ctx.store.prepare()
        await ctx.locker.prepare()
        result = await sweep_once(ctx)
        print(f"removed {result.removed} expired uploads, dropped {result.tombstones_dropped} tombstones")
        return 0

    return asyncio.run(run())


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tusserver", description="Resumable uploads with the tus protocol.")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the server")
    _add_settings_flags(serve)
    serve.set_defaults(func=_serve)

    token = sub.add_parser("token", help="print a JWT signed with the configured secret")
    token.add_argument("--sub", required=True, help="the user the token is for")
    token.add_argument("--ttl", default="30", help="lifetime in seconds")
    token.add_argument("--max-size", dest="max_size", default=None, help="max_size claim: cap on Upload-Length")
    _add_settings_flags(token, only=[n for n in field_types() if n.startswith("jwt_")])
    token.set_defaults(func=_token)

    cleanup = sub.add_parser("cleanup", help="remove expired uploads once (for cron)")
    _add_settings_flags(cleanup)
    cleanup.set_defaults(func=_cleanup)

    try:
        from .client.cli import add_upload_parser
    except ImportError:  # the client is optional while it is being built
        pass
    else:
        add_upload_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        result: int = args.func(args)
    except SettingsError as exc:
        print(f"tusserver: {exc}", file=sys.stderr)
        return 2
    return result
