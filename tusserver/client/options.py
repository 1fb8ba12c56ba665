"""Everything an upload can be told, in one object shared by the CLI and the Python API."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ..config import parse_size

__all__ = ["ProgressCallback", "UploadOptions", "default_resume_file", "parse_size"]

ProgressCallback = Callable[[int, int], None]  # (bytes stored on the server, total bytes)


def default_resume_file() -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "tusserver" / "resume.json"


@dataclass
class UploadOptions:
    token: str | None = None
    token_command: str | None = None  # shell command printing a fresh token (pipes allowed); run when one is refused
    chunk_size: int = 8 * 1024 * 1024
    parallel: int = 1
    checksum: str | None = None  # per-PATCH Upload-Checksum algorithm
    metadata: dict[str, str] = field(default_factory=dict)
    dedup: bool = False
    limit_rate: int | None = None  # bytes per second, across all parallel parts
    retries: int = 8
    retry_base_s: float = 0.5
    retry_max_s: float = 20.0
    resume_file: Path | None = None  # None: default_resume_file(); resume records per file fingerprint
    resume: bool = True
    timeout_s: float = 60.0
    headers: dict[str, str] = field(default_factory=dict)
    progress: ProgressCallback | None = None
    # TLS: a CA bundle (PEM) to trust instead of the system's, as curl's --cacert; or no check at all
    # (--insecure). Neither: the system store, or the bundle named by SSL_CERT_FILE / SSL_CERT_DIR.
    cacert: Path | None = None
    insecure: bool = False
    protocol: str = "tus"  # or "ietf": the resumable-upload draft, interop 8 (client/dialect.py)
