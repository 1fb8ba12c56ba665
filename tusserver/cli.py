"""`tusserver serve | token | cleanup | upload`: flags mirror `Settings` fields, with env fallback."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import logging
import os
import secrets
import socket
import stat
import sys
from collections.abc import Sequence
from pathlib import PurePath
from typing import Any

from starlette.types import ASGIApp

from .config import (
    Settings,
    SettingsError,
    env_name,
    field_types,
    format_size,
    option_name,
    parse_size,
    parse_value,
    unknown_env_names,
)

# One line per Settings field. The unit comes from the metavar (SECONDS, SIZE, N…), the default and the
# environment variable are added by _add_settings_flags; a test checks that every field has a line here.
_HELP = {
    "host": "interface to listen on (0.0.0.0 for every interface)",
    "port": "TCP port to listen on",
    "base_path": "URL path under which uploads live",
    "data_dir": "directory where the file store keeps uploads (created if missing)",
    "store": "storage backend: file, memory, s3, azure or gcs",
    "locker": "upload locks: file, memory or redis (default: file with the file store, else memory)",
    "workers": "worker processes (needs locker file or redis)",
    "behind_proxy": "trust X-Forwarded-Host/Proto and Forwarded when building Location URLs",
    "cors_origins": "comma-separated allowed browser origins; '*' for any; empty disables CORS",
    "cors_allow_headers": "comma-separated request headers a page may send besides the tus ones (X-Request-ID, ...)",
    "cors_expose_headers": "comma-separated response headers a page may read besides the tus ones",
    "cors_allow_credentials": "let pages send cookies and HTTP auth (needs --cors-origins naming the origins)",
    "cors_max_age_s": "how long a browser may reuse a preflight answer",
    "log_level": "log level: debug, info, warning or error",
    "access_log": "log one line per request (off by default: it costs CPU on small uploads; a proxy usually logs)",
    "shutdown_timeout_s": "on SIGTERM, how long requests in flight may run before they are cut",
    "hooks_url": "tusd v2 HTTP hooks: POST each enabled event as tusd's JSON to this URL",
    "hooks_dir": "tusd file hooks: run DIR/<event> with the JSON on stdin, its response JSON on stdout",
    "hooks_grpc": "tusd gRPC hooks: call HookHandler/InvokeHook (tusd's hook.proto v2) at HOST:PORT; extra [grpc]",
    "hooks_grpc_secure": "TLS to the --hooks-grpc receiver, trusting the system roots (or --hooks-grpc-ca)",
    "hooks_grpc_ca": "PEM roots the --hooks-grpc receiver's certificate must chain to (turns TLS on)",
    "hooks_grpc_cert": "PEM client certificate for the --hooks-grpc receiver (mutual TLS; needs --hooks-grpc-key)",
    "hooks_grpc_key": "PEM private key for --hooks-grpc-cert",
    "hooks_enabled": "comma-separated hook events (pre-create, post-create, post-receive, pre-finish, "
    "post-finish, pre-terminate, post-terminate, pre-access: one round trip per request)",
    "hooks_timeout_s": "how long one hook delivery may take",
    "hooks_retry": "further attempts for a hook that failed in a way that may pass (network, timeout, 5xx)",
    "hooks_backoff_s": "wait before the first hook retry, doubled for each next one",
    "hooks_concurrency": "post-hook deliveries in flight at once",
    "hooks_queue": "post-hook events waiting for delivery; beyond it they are dropped, logged and counted",
    "progress_interval_s": "send post-receive at most this often per upload",
    "disable_download": "refuse GET on uploads (405)",
    "disable_termination": "refuse DELETE on uploads (405) and leave termination out of Tus-Extension",
    "log_format": "text, or json: one JSON object per line (time, level, event, upload id, status, bytes, duration)",
    "tls_cert": "serve HTTPS with this PEM certificate chain (needs --tls-key)",
    "tls_key": "PEM private key for --tls-cert",
    "unix_socket": "listen on this Unix socket instead of --host/--port",
    "unix_socket_mode": "octal permissions of --unix-socket (who may connect: write permission); 660 lets the "
    "owner and group in",
    "metrics_listen": "serve /metrics on this HOST:PORT, apart from uploads and without a token (implies --metrics)",
    "metrics": "serve Prometheus metrics at /metrics",
    "metrics_max_connections": "connections --metrics-listen keeps open at once (a scraper needs one or two); "
    "more are closed at once",
    "max_size_bytes": "largest Upload-Length accepted, advertised as Tus-Max-Size (0: no limit)",
    "max_metadata_bytes": "longest Upload-Metadata header accepted (400 beyond)",
    "max_header_bytes": "largest request head (request line + headers): beyond it 431, and the rest is not read",
    "read_timeout_s": "disconnect a client silent this long while it sends a request head or body (a head must "
    "also arrive whole within it); the bytes of a PATCH received before are kept",
    "write_timeout_s": "disconnect a client that takes no byte of a response this long (a download it stopped "
    "reading holds its buffer until then)",
    "max_concat_parts": "most partial uploads one final concatenation may name",
    "max_digest_states": "running Repr-Digest hashes kept in memory between PATCHes (older ones are rebuilt from disk)",
    "lock_timeout_s": "how long a request waits for a busy upload's lock before 423",
    "lock_poll_s": "how often a waiting request checks a file or redis lock again",
    "max_unfinished": "most unfinished uploads one owner (a client address, with auth off) may have; 429 beyond"
    " (0: no cap)",
    "max_owner_bytes_bytes": "bytes one owner (a client address, with auth off) may hold in unfinished uploads"
    " and finals; 413 beyond (0: no cap)",
    "max_part_repeats": "times one final concatenation may name the same part; 400 beyond (0: no cap)",
    "max_finals_per_part": "finals that may wait on one unfinished part; 429 beyond (0: no cap)",
    "instant_upload": "Repr-Digest instant upload: auto (on only with auth), on, off",
    "expire_after_s": "unfinished uploads expire this long after their last write (0: never)",
    "sweep_interval_s": "how often the server removes expired uploads",
    "concat_wait_s": "a final concatenation POST waits this long for the assembly (then 201 with Upload-Offset)",
    "demo": "serve an upload page at / (with auth on, POST /demo/token hands tokens to anyone: a demo only)",
    "keep_partials": "keep partial uploads after their final concatenation is assembled",
    "write_buffer_bytes": "bytes gathered per upload before one disk write (see docs/benchmarks.md)",
    "write_buffer_total_bytes": "buffer budget split evenly between the uploads writing at once",
    "write_in_thread": "write to disk from a thread, overlapping the next receive (slow or network disks)",
    "tune_malloc": "glibc malloc thresholds that keep body buffers in a reused heap, and free pages handed back "
    "after 2 s idle (see docs/benchmarks.md)",
    "tune_gc": "run Python's cycle collector far less often, and never over start-up objects: no pauses of the "
    "server with thousands of connections open (see tusserver/server/allocator.py)",
    "lean_http": "hand request bodies to the app without uvicorn's two extra copies (see docs/benchmarks.md)",
    "body_threads": "large PATCH bodies moved straight from the socket into the file by this many threads at "
    "most (splice, Linux); the others are written by the event loop as they arrive; 0: no threads",
    "jwt_secret": "HS256 secret: turns auth on and signs rotated tokens (prefer the env variable: flags show in ps)",
    "jwt_public_key": "PEM public key file (RS256/PS256, ES256, EdDSA): turns auth on",
    "jwks": "JWKS file of public keys (the token's kid picks one): turns auth on",
    "jwt_algorithms": "comma-separated accepted JWT algs (unset: HS256 plus the public key's family; never none)",
    "jwt_leeway_s": "clock-skew allowance for exp and nbf",
    "jwt_issuer": "when set, tokens must carry this iss claim",
    "jwt_audience": "when set, tokens must carry this aud claim",
    "token_ttl_s": "lifetime of each rotated token sent in X-New-Token",
    "token_max_age_s": "absolute lifetime of a token chain from the platform token's iat; rotation stops there",
    "redis_url": "Redis server for --locker redis",
    "s3_bucket": "bucket for --store s3 (required with it)",
    "s3_endpoint_url": "S3 endpoint of a service other than AWS, such as MinIO (none: AWS)",
    "s3_region": "S3 region",
    "s3_prefix": "key prefix for every object the S3 store writes",
    "s3_part_size_bytes": "preferred S3 part size (5M-5G); larger when 10,000 parts would not hold an upload",
    "s3_parts_in_flight": "S3 parts one PATCH sends at once (each holds one part in memory)",
    "s3_memory_bytes": "memory for S3 parts being sent, shared by all PATCHes of a process (a PATCH waits, not "
    "reading its body, when its next part does not fit)",
    "azure_container": "container for --store azure (required with it)",
    "azure_connection_string": "Azure storage connection string (none: AZURE_STORAGE_CONNECTION_STRING; prefer "
    "the env variable: flags show in ps)",
    "azure_prefix": "name prefix for every blob the Azure store writes",
    "gcs_bucket": "bucket for --store gcs (required with it)",
    "gcs_project": "Google Cloud project (none: GOOGLE_CLOUD_PROJECT or the credentials'); STORAGE_EMULATOR_HOST "
    "selects an emulator",
    "gcs_prefix": "name prefix for every object the GCS store writes",
    "store_spool_bytes": "temporary disk for parts still arriving, shared by all PATCHes of a process (object "
    "stores); a PATCH whose next bytes do not fit waits, reading nothing, instead of filling the disk",
}

_METAVARS = {
    "host": "HOST",
    "port": "PORT",
    "base_path": "PATH",
    "data_dir": "DIR",
    "store": "NAME",
    "locker": "NAME",
    "cors_origins": "ORIGINS",
    "cors_allow_headers": "HEADERS",
    "cors_expose_headers": "HEADERS",
    "log_level": "LEVEL",
    "hooks_url": "URL",
    "hooks_dir": "DIR",
    "hooks_grpc": "HOST:PORT",
    "hooks_grpc_ca": "FILE",
    "hooks_grpc_cert": "FILE",
    "hooks_grpc_key": "FILE",
    "hooks_enabled": "LIST",
    "log_format": "FORMAT",
    "unix_socket": "PATH",
    "unix_socket_mode": "MODE",
    "metrics_listen": "HOST:PORT",
    "jwt_secret": "SECRET",
    "jwt_algorithms": "ALGS",
    "jwt_issuer": "ISS",
    "jwt_audience": "AUD",
    "redis_url": "URL",
    "s3_bucket": "BUCKET",
    "s3_endpoint_url": "URL",
    "s3_region": "REGION",
    "s3_prefix": "PREFIX",
    "azure_container": "NAME",
    "azure_connection_string": "STRING",
    "azure_prefix": "PREFIX",
    "gcs_bucket": "BUCKET",
    "gcs_project": "ID",
    "gcs_prefix": "PREFIX",
    "instant_upload": "MODE",  # auto, on, off
}

# `--help` shows the settings grouped by concern, in this order; a test checks every field is in one group.
SETTING_GROUPS: dict[str, tuple[str, ...]] = {
    "network": (
        "host", "port", "base_path", "unix_socket", "unix_socket_mode", "tls_cert", "tls_key", "behind_proxy",
        "cors_origins", "cors_allow_headers", "cors_expose_headers", "cors_allow_credentials", "cors_max_age_s",
        "workers", "shutdown_timeout_s",
    ),
    "storage": (
        "store", "data_dir", "locker", "lock_timeout_s", "lock_poll_s", "redis_url",
        "s3_bucket", "s3_endpoint_url", "s3_region", "s3_prefix", "s3_part_size_bytes", "s3_parts_in_flight",
        "s3_memory_bytes", "azure_container", "azure_connection_string", "azure_prefix", "gcs_bucket", "gcs_project",
        "gcs_prefix", "store_spool_bytes",
    ),
    "uploads": ("disable_download", "disable_termination", "concat_wait_s", "keep_partials", "instant_upload", "demo"),
    "limits": (
        "max_size_bytes", "max_metadata_bytes", "max_header_bytes", "max_concat_parts", "max_unfinished",
        "max_owner_bytes_bytes", "max_part_repeats", "max_finals_per_part", "read_timeout_s", "write_timeout_s",
        "max_digest_states",
    ),
    "expiry": ("expire_after_s", "sweep_interval_s"),
    "auth": (
        "jwt_secret", "jwt_public_key", "jwks", "jwt_algorithms", "jwt_leeway_s", "jwt_issuer", "jwt_audience",
        "token_ttl_s", "token_max_age_s",
    ),
    "hooks": (
        "hooks_url", "hooks_dir", "hooks_grpc", "hooks_grpc_secure", "hooks_grpc_ca", "hooks_grpc_cert",
        "hooks_grpc_key", "hooks_enabled", "hooks_timeout_s", "hooks_retry", "hooks_backoff_s",
        "hooks_concurrency", "hooks_queue", "progress_interval_s",
    ),
    "observability": ("log_level", "log_format", "access_log", "metrics", "metrics_listen", "metrics_max_connections"),
    "performance": (
        "write_buffer_bytes", "write_buffer_total_bytes", "write_in_thread", "tune_malloc", "tune_gc", "lean_http",
        "body_threads",
    ),
}  # fmt: skip

SIZES_NOTE = "SIZE: bytes, or with a suffix K, M, G, T (powers of 1024): 512K, 8M, 10G. SECONDS may be fractional."

# What `tusserver cleanup` reads: where the uploads are, how they are locked, and when they expire.
CLEANUP_FIELDS = (
    "data_dir", "store", "locker", "redis_url", "s3_bucket", "s3_endpoint_url", "s3_region", "s3_prefix",
    "azure_container", "azure_connection_string", "azure_prefix", "gcs_bucket", "gcs_project", "gcs_prefix",
    "expire_after_s", "log_level",
)  # fmt: skip
# What `tusserver token` reads: the secret it signs with, the claims the server checks, and the keys that
# make the server refuse what it would mint.
TOKEN_FIELDS = ("jwt_secret", "jwt_public_key", "jwks", "jwt_issuer", "jwt_audience")


def metavar(name: str, kind: Any) -> str:
    if name in _METAVARS:
        return _METAVARS[name]
    if name.endswith("_s"):
        return "SECONDS"
    if name.endswith("_bytes"):
        return "SIZE"
    if kind is int:
        return "N"
    if kind is float:
        return "NUMBER"
    if kind is not str:
        return "FILE"
    return "VALUE"


def describe_default(name: str, value: Any) -> str:
    """A default as a user would type it: `100G`, `./data`, `on`; never a Python repr."""
    if isinstance(value, bool):
        return "on" if value else "off"
    if value is None or value == "":
        return "none"
    if name.endswith("_bytes") and isinstance(value, int):
        return format_size(value)
    if isinstance(value, PurePath) and not value.is_absolute() and not str(value).startswith("."):
        return f"./{value}"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _add_settings_flags(parser: argparse.ArgumentParser, only: Sequence[str] | None = None) -> None:
    """One flag per Settings field (or per field in `only`), in argument groups by concern."""
    defaults = Settings()
    kinds = field_types()
    for title, names in SETTING_GROUPS.items():
        chosen = [name for name in names if only is None or name in only]
        if chosen:
            group = parser.add_argument_group(f"{title} settings")
            for name in chosen:
                _add_setting_flag(group, name, kinds[name], getattr(defaults, name))


def _add_setting_flag(group: Any, name: str, kind: Any, default_value: Any) -> None:
    """`--name VALUE` (or `--name/--no-name`) with its help, unit, default and environment variable."""
    flag = "--" + option_name(name).replace("_", "-")
    text = _HELP[name]  # a test checks every field has a line
    shown = name not in ("locker", "jwt_algorithms")  # their help says what "unset" means
    default = f"default {describe_default(name, default_value)}; " if shown else ""
    help_text = f"{text} [{default}env {env_name(name)}]"
    if kind is bool:
        group.add_argument(flag, dest=name, action=argparse.BooleanOptionalAction, default=None, help=help_text)
    else:
        group.add_argument(flag, dest=name, default=None, metavar=metavar(name, kind), help=help_text)


def settings_from_args(args: argparse.Namespace, environ: dict[str, str] | None = None) -> Settings:
    """Flags win over `TUSSERVER_*` variables (of `environ`, else the process), which win over defaults."""
    overrides: dict[str, Any] = {}
    for name in field_types():
        value = getattr(args, name, None)
        if value is None:
            continue
        overrides[name] = value if isinstance(value, bool) else parse_value(name, value)
    from .wiring import check  # the backend registries: not for `tusserver upload`, which never gets here

    return check(Settings.from_env(environ, **overrides))


def settings_to_env(settings: Settings) -> dict[str, str]:
    """The environment that makes `Settings.from_env()` rebuild `settings` (for uvicorn worker processes)."""
    env: dict[str, str] = {}
    for name in field_types():
        value = getattr(settings, name)
        env[env_name(name)] = "" if value is None else str(int(value) if isinstance(value, bool) else value)
    return env


def app_from_env() -> ASGIApp:
    """uvicorn factory for `--workers N`: each worker process rebuilds the settings from the environment."""
    from .app import create_app
    from .server.allocator import TrimWhenIdle, idle_cleanup, malloc_trimmer, tune_gc, tune_malloc

    settings = Settings.from_env()
    if settings.log_format == "json":  # a worker process starts with no logging set up
        from .asgi.logs import configure_logging

        configure_logging(settings.log_level, settings.log_format)
    app = create_app(settings)
    if settings.tune_gc:
        tune_gc()  # like tune_malloc: the whole process's, so only where tusserver owns the process
    trim = None
    if settings.tune_malloc:
        tune_malloc()  # here, not in create_app: it changes the whole process, which an embedder owns
        trim = malloc_trimmer()
    cleanup = idle_cleanup(settings.tune_gc, trim)
    return app if cleanup is None else TrimWhenIdle(app, cleanup)


def _ops_options(settings: Settings) -> dict[str, Any]:
    """uvicorn options for `--tls-cert`/`--tls-key` and `--log-format json` (`--unix-socket`: `bind_unix_socket`)."""
    options: dict[str, Any] = {}
    if settings.tls_cert is not None and settings.tls_key is not None:
        options.update(ssl_certfile=str(settings.tls_cert), ssl_keyfile=str(settings.tls_key))
    if settings.log_format == "json":
        # uvicorn's own formatters would write text: its loggers go to our JSON root handler instead, and
        # with --access-log the app writes the richer JSON request line in place of uvicorn's.
        options["log_config"] = None
    return options


def bind_unix_socket(path: str, mode: int) -> socket.socket:
    """`--unix-socket`, bound here and handed to uvicorn as a descriptor, with `--unix-socket-mode`.

    uvicorn chmods the socket it binds to 0666, so any local user (`nobody` did) could upload (issue #22).
    Bound with a umask of 0777 the socket admits no one until the chmod: no moment with a wider mode. A
    stale socket left by an earlier run is replaced, as uvicorn would; any other file there is an error.
    """
    with contextlib.suppress(FileNotFoundError):
        if stat.S_ISSOCK(os.lstat(path).st_mode):
            os.unlink(path)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old_umask = os.umask(0o777)  # before uvicorn starts any thread: nothing else is creating files now
    try:
        sock.bind(path)
    except OSError:
        sock.close()
        raise
    finally:
        os.umask(old_umask)
    os.chmod(path, mode)
    return sock


def raise_open_files_limit() -> None:
    """Soft RLIMIT_NOFILE up to the hard limit: each connection is a descriptor, and a default soft limit
    of 1,024 let 1,100 idle sockets lock real clients out (ECONNRESET). Unprivileged, so it cannot fail
    for lack of rights; a platform without it keeps its limit."""
    try:
        import resource

        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft != hard:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        logging.getLogger("tusserver").debug("open-files limit %s (was %s, hard %s)", hard, soft, hard)
    except (ImportError, ValueError, OSError) as exc:
        logging.getLogger("tusserver").debug("open-files limit left as it is: %s", exc)


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from . import __version__
    from .asgi.logs import configure_logging
    from .server.banner import log_banner

    unknown = unknown_env_names()
    if unknown:
        raise SettingsError("; ".join(unknown))
    settings = settings_from_args(args)
    configure_logging(settings.log_level, settings.log_format)
    log_banner(settings, __version__)
    if settings.auth_enabled and not settings.jwt_secret and settings.workers > 1:
        # Workers must sign rotated tokens with one secret, or a token rotated by one is refused by the next.
        logging.getLogger("tusserver.auth").warning(
            "no --jwt-secret: the workers share a random rotation secret made at start; "
            "several instances need a shared --jwt-secret"
        )
        settings = dataclasses.replace(settings, jwt_secret=secrets.token_urlsafe(32))
    os.environ.update(settings_to_env(settings))
    raise_open_files_limit()
    protocol: dict[str, Any] = {}
    from .server.http_protocol import TESTED_UVICORN, protocol_for, supported

    if supported():
        protocol["http"] = protocol_for(settings)
    else:
        logging.getLogger("tusserver").warning(
            "uvicorn %s is not a release tusserver was tested with (%s): using its own protocol, "
            "without --read-timeout, --write-timeout, the --max-header cap while parsing, or --lean-http",
            uvicorn.__version__,
            ", ".join(TESTED_UVICORN),
        )
    listener = None
    if settings.unix_socket:
        try:
            listener = bind_unix_socket(settings.unix_socket, int(settings.unix_socket_mode, 8))
        except OSError as exc:
            print(f"tusserver: --unix-socket {settings.unix_socket}: {exc.strerror or exc}", file=sys.stderr)
            return 1
        protocol["fd"] = listener.fileno()
    try:
        _run_uvicorn(settings, protocol)
    finally:
        if listener is not None:
            listener.close()
            with contextlib.suppress(OSError):
                os.unlink(settings.unix_socket)
    return 0


def _run_uvicorn(settings: Settings, options: dict[str, Any]) -> None:
    import uvicorn

    uvicorn.run(
        "tusserver.cli:app_from_env",
        **options,
        loop="tusserver.server.http_protocol:guarded_loop",
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
        **_ops_options(settings),
    )


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
    print(service.issue(args.sub, ttl_s=args.ttl, max_size=args.max_size))
    return 0


def _cleanup(args: argparse.Namespace) -> int:
    from .errors import as_unavailable
    from .uploads.sweeper import sweep_once
    from .wiring import build

    backends = build(settings_from_args(args))  # the backends alone: no app, no routes, no middleware

    async def run() -> int:
        try:
            await backends.prepare()
            result = await sweep_once(backends.uploads)
        except Exception as exc:
            unavailable = as_unavailable(exc)
            if unavailable is None:
                raise
            print(f"tusserver cleanup: {unavailable.detail}", file=sys.stderr)  # from cron: one line, no traceback
            return 1
        finally:
            await backends.aclose()
        print(f"removed {result.removed} expired uploads, dropped {result.tombstones_dropped} tombstones")
        return 0

    return asyncio.run(run())


def _size_arg(value: str) -> int:
    try:
        return parse_size(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _seconds_arg(value: str) -> int:
    try:
        seconds = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number of seconds: {value!r}") from None
    if seconds <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {seconds}")
    return seconds


def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = argparse.ArgumentParser(prog="tusserver", description="Resumable uploads with the tus protocol.")
    parser.add_argument("--version", action="version", version=f"tusserver {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="{serve,token,cleanup,upload}")
    serve = sub.add_parser(
        "serve",
        help="run the server",
        description="Run the tus server. Every flag is also an environment variable; the flag wins.",
        epilog=SIZES_NOTE,
    )
    _add_settings_flags(serve)
    serve.set_defaults(func=_serve)

    token = sub.add_parser(
        "token",
        help="print a JWT signed with the configured secret",
        description="Print a token the server accepts (for curl, Postman and tests). Give the secret through "
        "TUSSERVER_JWT_SECRET rather than --jwt-secret: flags show in ps.",
        epilog="SIZE: bytes, or with a suffix K, M, G, T (powers of 1024): 512K, 8M, 10G.",
    )
    token.add_argument("--sub", required=True, metavar="NAME", help="the user the token is for (owner of its uploads)")
    token.add_argument("--ttl", type=_seconds_arg, default=30, metavar="SECONDS", help="lifetime [default 30]")
    token.add_argument(
        "--max-size", dest="max_size", type=_size_arg, default=None, metavar="SIZE",
        help="max_size claim: the largest Upload-Length this token may create [default none]",
    )  # fmt: skip
    _add_settings_flags(token, only=TOKEN_FIELDS)
    token.set_defaults(func=_token)

    cleanup = sub.add_parser(
        "cleanup",
        help="remove expired uploads once (for cron)",
        description="Remove expired unfinished uploads once and exit, as the server's sweeper does.",
    )
    _add_settings_flags(cleanup, only=CLEANUP_FIELDS)
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
