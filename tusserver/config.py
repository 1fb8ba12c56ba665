"""All configuration in one typed, frozen object.

`Settings` is populated by the CLI or by `Settings.from_env()`, never read from globals. `validate()`
normalises and fails at start-up with a message naming the option, so a bad value never reaches a request.
This module is a leaf: it names no store, locker or hook module. The checks that need the chosen
backend (and the locker an empty `--locker` means) are `wiring.check`'s, which calls `validate()`.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import re
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, get_type_hints

from .constants import DEFAULT_HOOK_EVENTS

ENV_PREFIX = "TUSSERVER_"
# `TUSSERVER_*` names that are not settings but are read elsewhere: the upload client's token and the
# fuzz test's seed. Any other unknown name is a start-up error (a misspelt secret must not mean "no auth").
OTHER_ENV_NAMES = frozenset({"TUSSERVER_TOKEN", "TUSSERVER_FUZZ_SEED"})


class SettingsError(ValueError):
    """A setting has a value the server cannot run with."""


@dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 1080
    base_path: str = "/files/"
    data_dir: Path = Path("./data")
    store: str = "file"
    locker: str = ""  # empty: the store's `default_locker` ("file" for file, "memory" otherwise), set by wiring.check
    workers: int = 1
    behind_proxy: bool = False
    cors_origins: str = "*"  # comma-separated list of allowed origins, "*" for any, "" for no CORS
    # tusd's -cors-* options. Extra request headers a page may send (X-Request-ID, ...) beside the tus ones,
    # extra response headers it may read, cookies/credentials, and how long a browser keeps a preflight.
    cors_allow_headers: str = ""
    cors_expose_headers: str = ""
    cors_allow_credentials: bool = False
    cors_max_age_s: int = 86400
    log_level: str = "info"
    access_log: bool = False  # one line per request costs ~15% server CPU on small uploads; a proxy usually logs
    shutdown_timeout_s: int = 5  # a stalled client must not keep the server from stopping
    hooks_url: str = ""  # tusd v2 HTTP hooks: each event POSTed here as tusd's JSON
    hooks_dir: Path | None = None  # tusd file hooks: an executable per event name, JSON on stdin and stdout
    hooks_grpc: str = ""  # tusd gRPC hooks (hook.proto v2): HOST:PORT of a HookHandler service; extra [grpc]
    hooks_grpc_secure: bool = False  # TLS to the gRPC receiver: system roots, or --hooks-grpc-ca
    hooks_grpc_ca: Path | None = None  # PEM roots the gRPC receiver's certificate must chain to (implies TLS)
    hooks_grpc_cert: Path | None = None  # PEM client certificate for the gRPC receiver (mutual TLS), with the key
    hooks_grpc_key: Path | None = None
    # tusd's default set; pre-access costs a round trip per HEAD/PATCH/GET/DELETE, so it is opt-in
    hooks_enabled: str = DEFAULT_HOOK_EVENTS
    hooks_timeout_s: float = 10.0  # one delivery attempt
    hooks_retry: int = 3  # further attempts after a failure that may pass (network, timeout, 5xx), as tusd
    hooks_backoff_s: float = 1.0  # wait before the first retry, doubled for each next one
    hooks_concurrency: int = 16  # post-hook deliveries in flight at once
    hooks_queue: int = 10000  # post-hook events waiting for delivery; beyond it they are dropped and counted
    progress_interval_s: float = 1.0  # post-receive at most this often per upload
    disable_download: bool = False  # no GET on uploads (downloads served elsewhere)
    disable_termination: bool = False  # no DELETE, and no "termination" in Tus-Extension
    log_format: str = "text"  # "json": one JSON object per line, for log collectors
    tls_cert: Path | None = None  # serve HTTPS with this certificate chain (PEM), with --tls-key
    tls_key: Path | None = None
    unix_socket: str = ""  # listen on this Unix socket instead of host:port
    # Octal permissions of --unix-socket: owner and group may connect, others not (uvicorn made it 0666)
    unix_socket_mode: str = "660"
    metrics_listen: str = ""  # host:port where /metrics is served on its own (no token), instead of the main port
    metrics_max_connections: int = 32  # connections open at once on --metrics-listen; more are closed at once
    metrics: bool = False  # serve Prometheus metrics at /metrics (needs the [metrics] extra)
    demo: bool = False  # an upload page at / (and POST /demo/token, which hands tokens to anyone)

    # Limits
    max_size_bytes: int = 100 * 1024**3
    max_metadata_bytes: int = 4096
    max_header_bytes: int = 16384
    max_concat_parts: int = 1024
    # A client silent this long while sending a request head or body is disconnected (http_protocol.py)
    read_timeout_s: float = 60.0
    # A connection whose response the client takes no byte of for this long is closed (http_protocol.py)
    write_timeout_s: float = 60.0
    max_digest_states: int = 4096  # running Repr-Digest hashes kept between PATCHes (LRU; rebuilt from disk)
    # Unfinished uploads one owner may have at once (0: no cap). 1000 is far above what real clients keep
    # open (a browser or `tusserver upload --parallel` has a handful), and caps what one token can make
    # the server hold: records, reserved lengths, expiry-sweep work.
    max_unfinished: int = 1000
    # Bytes one owner may hold in unfinished uploads (declared lengths) and finals (0: no cap): twice the
    # default --max-size. A final copies its parts, so without it a few-KB POST could write GiBs (issue #22).
    max_owner_bytes_bytes: int = 200 * 1024**3
    max_part_repeats: int = 4  # times one final may name the same part (0: no cap); clients name each once
    max_finals_per_part: int = 16  # finals that may wait on one unfinished part (0: no cap); clients use one
    # Repr-Digest instant upload: "auto" is on only with auth, since without owners a digest is a key
    # to anyone's file; "on" with auth off makes every upload share one scope.
    instant_upload: str = "auto"

    # Locking
    lock_timeout_s: float = 10.0
    lock_poll_s: float = 0.05

    # Expiration
    expire_after_s: float = 24 * 3600.0
    sweep_interval_s: float = 60.0
    keep_partials: bool = True
    # A final concatenation POST waits this long for the assembly, so a 201 with Upload-Offset means the
    # file is there (as tusd does); a longer one answers 201 without it and finishes in the background.
    concat_wait_s: float = 10.0

    # Streaming
    # Bytes gathered before one pwritev. 1 MiB: about 1.17x the speed and 0.89x the CPU of 256 KiB on one
    # stream, while what was just received is still in the CPU cache (4 MiB was 2x slower: it is not).
    write_buffer_bytes: int = 1024 * 1024
    # All uploads writing at once share this much buffer: 64 at once get 256 KiB each, 2,000 get 8 KiB, so
    # memory stays flat however many write.
    write_buffer_total_bytes: int = 16 * 1024 * 1024
    write_in_thread: bool = False  # hand each buffered write to a thread: for slow or network disks
    tune_malloc: bool = True  # glibc thresholds that keep body buffers in a reused heap; trim when idle (allocator.py)
    tune_gc: bool = True  # collect Python's garbage cycles far less often: no pauses with thousands of connections
    lean_http: bool = True  # request bodies reach the app without uvicorn's two extra copies (http_protocol.py)
    # Large request bodies moved socket -> file by worker threads, at most this many at once; the others are
    # written by the event loop as they arrive (http_protocol.DirectBody, body_pump.py). 0: no threads.
    body_threads: int = 4

    # Authentication
    jwt_secret: str = ""
    jwt_public_key: Path | None = None
    jwks: Path | None = None
    jwt_algorithms: str = ""  # empty: HS256 with a secret, RS256/ES256 (and friends) with a key
    jwt_leeway_s: float = 5.0
    jwt_issuer: str = ""
    jwt_audience: str = ""
    token_ttl_s: int = 30
    token_max_age_s: int = 86400  # absolute lifetime of a rotation chain, counted from the platform token's iat

    # Redis (locker "redis")
    redis_url: str = "redis://127.0.0.1:6379/0"

    # S3 (store "s3")
    s3_bucket: str = ""
    s3_endpoint_url: str = ""
    s3_region: str = "us-east-1"
    s3_prefix: str = ""
    s3_part_size_bytes: int = 8 * 1024**2  # preferred; grown per upload when 10,000 parts would not hold it
    s3_parts_in_flight: int = 3  # each costs one part of memory per PATCH
    s3_memory_bytes: int = 128 * 1024**2  # parts held in memory by all PATCHes of a process at once
    # Azure Blob Storage (store "azure")
    azure_container: str = ""
    azure_connection_string: str = ""  # empty: AZURE_STORAGE_CONNECTION_STRING
    azure_prefix: str = ""

    # Google Cloud Storage (store "gcs")
    gcs_bucket: str = ""
    gcs_project: str = ""  # empty: GOOGLE_CLOUD_PROJECT, or the credentials' own
    gcs_prefix: str = ""

    # Object stores (s3, azure, gcs)
    store_spool_bytes: int = 256 * 1024**2  # local spool (temporary files) held by all PATCHes of a process at once

    @property
    def auth_enabled(self) -> bool:
        return bool(self.jwt_secret or self.jwt_public_key or self.jwks)

    @property
    def instant_upload_enabled(self) -> bool:
        return self.instant_upload == "on" or (self.instant_upload == "auto" and self.auth_enabled)

    @property
    def cors_origin_list(self) -> list[str]:
        return [o.strip() for o in self.cors_origins.split(",") if o.strip()]

    @property
    def cors_allow_header_list(self) -> list[str]:
        return [h.strip() for h in self.cors_allow_headers.split(",") if h.strip()]

    @property
    def cors_expose_header_list(self) -> list[str]:
        return [h.strip() for h in self.cors_expose_headers.split(",") if h.strip()]

    def validate(self) -> Settings:
        """Return a normalised copy, or raise SettingsError naming the first bad option (see `wiring.check`)."""
        base = "/" + self.base_path.strip("/") + "/"
        base = base.replace("//", "/")
        changes: dict[str, Any] = {"base_path": base, "data_dir": Path(self.data_dir)}
        positive = {
            "port": self.port,
            "workers": self.workers,
            "max_metadata_bytes": self.max_metadata_bytes,
            "max_header_bytes": self.max_header_bytes,
            "max_concat_parts": self.max_concat_parts,
            "max_digest_states": self.max_digest_states,
            "metrics_max_connections": self.metrics_max_connections,
            "read_timeout_s": self.read_timeout_s,
            "write_timeout_s": self.write_timeout_s,
            "lock_timeout_s": self.lock_timeout_s,
            "lock_poll_s": self.lock_poll_s,
            "shutdown_timeout_s": self.shutdown_timeout_s,
            "sweep_interval_s": self.sweep_interval_s,
            "write_buffer_bytes": self.write_buffer_bytes,
            "write_buffer_total_bytes": self.write_buffer_total_bytes,
            "token_ttl_s": self.token_ttl_s,
            "token_max_age_s": self.token_max_age_s,
            "store_spool_bytes": self.store_spool_bytes,
        }
        for name, value in positive.items():
            if value <= 0:
                raise SettingsError(f"--{_flag(name)} must be positive, got {value!r}")
        never_negative = (
            "max_size_bytes", "max_unfinished", "max_owner_bytes_bytes", "max_part_repeats", "max_finals_per_part",
            "expire_after_s", "jwt_leeway_s", "concat_wait_s",
        )  # fmt: skip
        for name in (*never_negative, "body_threads"):
            if getattr(self, name) < 0:
                raise SettingsError(f"--{_flag(name)} must not be negative, got {getattr(self, name)!r}")
        for name in ("hooks_timeout_s", "hooks_concurrency", "hooks_queue"):
            if getattr(self, name) <= 0:
                raise SettingsError(f"--{_flag(name)} must be positive, got {getattr(self, name)!r}")
        for name in ("hooks_retry", "hooks_backoff_s", "progress_interval_s"):
            if getattr(self, name) < 0:
                raise SettingsError(f"--{_flag(name)} must not be negative, got {getattr(self, name)!r}")
        if self.hooks_url and not self.hooks_url.startswith(("http://", "https://")):
            raise SettingsError(f"--hooks-url must be an http:// or https:// URL; got {self.hooks_url!r}")
        if self.hooks_grpc and not re.fullmatch(r"[^\s/:]+:\d{1,5}|\[[0-9A-Fa-f:.]+\]:\d{1,5}", self.hooks_grpc):
            raise SettingsError(f"--hooks-grpc must be HOST:PORT; got {self.hooks_grpc!r}")
        if self.hooks_dir is not None and not Path(self.hooks_dir).is_dir():
            raise SettingsError(f"--hooks-dir {self.hooks_dir} is not a directory")
        if self.log_format not in ("text", "json"):
            raise SettingsError(f"--log-format must be text or json; got {self.log_format!r}")
        if (self.tls_cert is None) != (self.tls_key is None):
            raise SettingsError("--tls-cert and --tls-key go together")
        if (self.hooks_grpc_cert is None) != (self.hooks_grpc_key is None):
            raise SettingsError("--hooks-grpc-cert and --hooks-grpc-key go together")
        for name in ("tls_cert", "tls_key", "hooks_grpc_ca", "hooks_grpc_cert", "hooks_grpc_key"):
            path = getattr(self, name)
            if path is not None and not Path(path).is_file():
                raise SettingsError(f"--{_flag(name)} {path} is not a readable file")
        try:
            mode = int(self.unix_socket_mode, 8)
        except ValueError:
            mode = -1
        if not 0 <= mode <= 0o777:
            raise SettingsError(
                f"--unix-socket-mode must be octal permissions such as 660; got {self.unix_socket_mode!r}"
            )
        if self.metrics_listen:
            host, _, port = self.metrics_listen.rpartition(":")
            if not host or not port.isdigit():
                raise SettingsError(f"--metrics-listen must be HOST:PORT; got {self.metrics_listen!r}")
            if self.workers > 1:
                raise SettingsError("--metrics-listen serves one process's metrics; it cannot run with --workers > 1")
        if self.cors_allow_credentials and "*" in self.cors_origin_list:
            # Browsers refuse credentials from a server that allows any origin; naming them is the fix.
            raise SettingsError("--cors-allow-credentials needs --cors-origins naming the origins, not '*'")
        if self.cors_max_age_s < 0:
            raise SettingsError(f"--cors-max-age must not be negative, got {self.cors_max_age_s!r}")
        if self.instant_upload not in ("auto", "on", "off"):
            raise SettingsError(f"--instant-upload must be one of auto, on, off; got {self.instant_upload!r}")
        for name in ("jwt_public_key", "jwks"):
            path = getattr(self, name)
            if path is not None and not Path(path).is_file():
                raise SettingsError(f"--{_flag(name)} {path} is not a readable file")
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, prefix: str = ENV_PREFIX, **overrides: Any) -> Settings:
        """Build settings from `TUSSERVER_<NAME>` variables; keyword overrides win (that is how flags win)."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in fields(cls):
            key = env_name(f.name, prefix)
            if key in env:
                values[f.name] = parse_value(f.name, env[key])
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)


def unknown_env_names(environ: dict[str, str] | None = None, prefix: str = ENV_PREFIX) -> list[str]:
    """One line per `TUSSERVER_*` variable no setting reads, naming the nearest real one.

    Checked by `tusserver serve` at start: `TUSSERVER_JWT_SECERT` silently ignored was a server taking
    anonymous uploads while its operator believed auth was on."""
    env = os.environ if environ is None else environ
    known = {env_name(f.name, prefix) for f in fields(Settings)} | OTHER_ENV_NAMES
    problems = []
    for key in sorted(env):
        if key.startswith(prefix) and key not in known:
            # Compared without the prefix, which every name shares and which would make anything look near.
            near = difflib.get_close_matches(key[len(prefix) :], [k[len(prefix) :] for k in sorted(known)], n=1)
            hint = f" (did you mean {prefix}{near[0]}?)" if near else ""
            problems.append(f"{key} is not a setting{hint}")
    return problems


def option_name(name: str) -> str:
    """The flag and env name of a field: its unit suffix dropped (`token_ttl_s` → `token_ttl`), per the contract."""
    for suffix in ("_bytes", "_s"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def _flag(name: str) -> str:
    return option_name(name).replace("_", "-")


def env_name(name: str, prefix: str = ENV_PREFIX) -> str:
    return prefix + option_name(name).upper()


def field_types() -> dict[str, Any]:
    hints = get_type_hints(Settings)
    return {f.name: hints[f.name] for f in fields(Settings)}


_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?", re.IGNORECASE)
_SIZE_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}


def parse_size(value: str) -> int:
    """Bytes from `512K`, `8M`, `10G`, `1.5T` (powers of 1024, like curl's --limit-rate) or a plain number.

    The one size parser: serve flags, `TUSSERVER_*` variables, `tusserver token` and the upload client.
    """
    match = _SIZE.fullmatch(value.strip())
    if not match:
        raise ValueError(f"not a size: {value!r} (bytes, or with a suffix: 512K, 8M, 10G)")
    return int(float(match.group(1)) * _SIZE_UNITS[match.group(2).lower()])


def format_size(value: int) -> str:
    """The shortest exact form `parse_size` reads back: 1048576 → `1M`, 1000 → `1000`."""
    for suffix, unit in (("T", 1024**4), ("G", 1024**3), ("M", 1024**2), ("K", 1024)):
        if value and value % unit == 0:
            return f"{value // unit}{suffix}"
    return str(value)


def parse_value(name: str, raw: str) -> Any:
    """Convert one environment/flag string to the type of the setting `name`."""
    kind = field_types()[name]
    try:
        if kind is bool:
            lowered = raw.strip().lower()
            if lowered in ("1", "true", "yes", "on"):
                return True
            if lowered in ("0", "false", "no", "off", ""):
                return False
            raise ValueError(raw)
        if kind is int and name.endswith("_bytes"):
            return parse_size(raw)
        if kind is int:
            return int(raw)
        if kind is float:
            return float(raw)
        if kind is Path or kind == (Path | None):
            return Path(raw) if raw else None
    except ValueError:
        raise SettingsError(f"{env_name(name)} / --{_flag(name)}: cannot read {raw!r}") from None
    return raw
