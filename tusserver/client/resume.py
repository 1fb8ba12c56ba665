"""Where an interrupted upload is remembered: file fingerprint → upload URL(s), in a small JSON file.

The fingerprint is the size, mtime and a hash of the first and last MiB, so a changed file never
resumes into the old upload, and hashing stays cheap for huge files.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from pathlib import Path
from typing import Any

_EDGE = 1024 * 1024


def fingerprint(path: str, endpoint: str, parallel: int, chunk_size: int) -> str:
    stat = os.stat(path)
    digest = hashlib.sha256(f"{endpoint}|{stat.st_size}|{stat.st_mtime_ns}|{parallel}|".encode())
    with open(path, "rb") as fh:
        digest.update(fh.read(_EDGE))
        if stat.st_size > _EDGE:
            fh.seek(max(_EDGE, stat.st_size - _EDGE))
            digest.update(fh.read(_EDGE))
    return digest.hexdigest()


class ResumeStore:
    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._lock = threading.Lock()

    def _load(self) -> dict[str, Any]:
        if self.path is None:
            return {}
        try:
            data = json.loads(self.path.read_text())
        except (FileNotFoundError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def get(self, key: str) -> dict[str, Any] | None:
        with self._lock:
            entry = self._load().get(key)
        return entry if isinstance(entry, dict) else None

    def put(self, key: str, entry: dict[str, Any]) -> None:
        self._write(key, entry)

    def remove(self, key: str) -> None:
        self._write(key, None)

    def _write(self, key: str, entry: dict[str, Any] | None) -> None:
        if self.path is None:
            return
        with self._lock:
            data = self._load()
            if entry is None:
                data.pop(key, None)
            else:
                data[key] = entry
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(json.dumps(data, indent=1))
            os.replace(tmp, self.path)
