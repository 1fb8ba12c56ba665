"""How a hook request reaches its receiver: tusd's HTTP hooks (`--hooks-url`) and file hooks (`--hooks-dir`).

Each transport makes ONE attempt and says whether a failure is worth retrying; retries, back-off and
queueing are the dispatcher's (hooks.py), the same for every transport.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
from pathlib import Path
from typing import Any

import httpx

from .dispatcher import HookFailure

log = logging.getLogger("tusserver.hooks.dispatcher")

_MAX_RESPONSE_BYTES = 1024 * 1024  # a hook response is a small JSON object; never buffer more


def parse_response(raw: bytes, source: str) -> dict[str, Any]:
    if not raw.strip():
        return {}
    if len(raw) > _MAX_RESPONSE_BYTES:
        raise HookFailure(f"{source} answered more than {_MAX_RESPONSE_BYTES} bytes", retry=False)
    try:
        data = json.loads(raw)
    except ValueError:
        raise HookFailure(f"{source} answered something that is not JSON", retry=False) from None
    if not isinstance(data, dict):
        raise HookFailure(f"{source} answered JSON that is not an object", retry=False)
    return data


class HttpTransport:
    """POSTs tusd's hook JSON; 2xx is success (tusd wants 200; 204 and friends are taken as "no opinion").

    Worth retrying: connection errors, timeouts, 429 and 5xx. Any other status is the receiver's
    answer and is not retried.
    """

    name = "http"

    def __init__(self, url: str, timeout_s: float) -> None:
        self.url = url
        self.timeout_s = timeout_s
        self._client: httpx.AsyncClient | None = None

    async def call(self, hook_type: str, body: bytes) -> dict[str, Any] | None:
        if self._client is None:
            limits = httpx.Limits(max_connections=256, max_keepalive_connections=64)
            self._client = httpx.AsyncClient(timeout=self.timeout_s, limits=limits)
        try:
            response = await self._client.post(
                self.url, content=body, headers={"Content-Type": "application/json", "Hook-Name": hook_type}
            )
        except httpx.HTTPError as exc:
            raise HookFailure(f"{self.url}: {type(exc).__name__} {exc}".strip(), retry=True) from None
        if response.status_code >= 500 or response.status_code == 429:
            raise HookFailure(f"{self.url} answered {response.status_code}", retry=True)
        if not 200 <= response.status_code < 300:
            raise HookFailure(f"{self.url} answered {response.status_code}", retry=False)
        return parse_response(response.content, self.url)

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None


class FileTransport:
    """Runs `<hooks-dir>/<hook type>` with the JSON on stdin and reads the response JSON from stdout.

    As in tusd: no file for a type means no hook; a non-zero exit is a failure (stderr is logged).
    A hook that runs past the timeout is killed and may be retried.
    """

    name = "file"

    def __init__(self, directory: Path, timeout_s: float) -> None:
        self.directory = Path(directory)
        self.timeout_s = timeout_s

    async def call(self, hook_type: str, body: bytes) -> dict[str, Any] | None:
        path = self.directory / hook_type
        if not path.is_file():
            return None
        if not os.access(path, os.X_OK):
            raise HookFailure(f"{path} is not executable", retry=False)
        process = await asyncio.create_subprocess_exec(
            str(path),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env={**os.environ, "TUS_HOOK": hook_type},
        )
        try:
            stdout, stderr = await asyncio.wait_for(process.communicate(body), self.timeout_s)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()
            raise HookFailure(f"{path} ran longer than {self.timeout_s} s", retry=True) from None
        if stderr.strip():
            log.info("%s: %s", path.name, stderr.decode(errors="replace").strip()[:2000])
        if process.returncode != 0:
            raise HookFailure(f"{path} exited with status {process.returncode}", retry=False)
        return parse_response(stdout, str(path))
