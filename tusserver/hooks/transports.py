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
import signal
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import httpx

from .dispatcher import HookFailure

log = logging.getLogger("tusserver.hooks.dispatcher")

_MAX_RESPONSE_BYTES = 1024 * 1024  # a hook response is a small JSON object; never buffer more
_MAX_STDERR_BYTES = 2000  # what a file hook's stderr may put in one log line

# Never handed to a file hook: the server's own settings (`tusserver serve` puts every one, the JWT
# secret included, into its environment for worker processes) and cloud credentials.
_CLOUD_PREFIXES = ("AWS_", "AZURE_", "GOOGLE_", "GCP_", "GCLOUD_", "CLOUDSDK_", "ALIBABA_", "OCI_", "DO_", "B2_")
_SECRET_WORDS = ("SECRET", "TOKEN", "KEY", "PASSWORD", "CREDENTIAL", "CONNECTION_STRING", "SAS")


def hook_environment(hook_type: str, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment a file hook runs with: the server's, minus `TUSSERVER_*` and cloud credentials."""
    env: dict[str, str] = {}
    for name, value in (os.environ if environ is None else environ).items():
        upper = name.upper()
        if upper.startswith("TUSSERVER_"):
            continue
        if upper.startswith(_CLOUD_PREFIXES) and any(word in upper for word in _SECRET_WORDS):
            continue
        env[name] = value
    env["TUS_HOOK"] = hook_type
    return env


async def read_capped(chunks: AsyncIterator[bytes], source: str, cap: int = _MAX_RESPONSE_BYTES) -> bytes:
    """A hook's answer, read no further than `cap` bytes: a receiver cannot make the server buffer more."""
    parts: list[bytes] = []
    size = 0
    async for chunk in chunks:
        size += len(chunk)
        if size > cap:
            raise HookFailure(f"{source} answered more than {cap} bytes", retry=False)
        parts.append(chunk)
    return b"".join(parts)


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
            async with self._client.stream(
                "POST", self.url, content=body, headers={"Content-Type": "application/json", "Hook-Name": hook_type}
            ) as response:
                if response.status_code >= 500 or response.status_code == 429:
                    raise HookFailure(f"{self.url} answered {response.status_code}", retry=True)
                if not 200 <= response.status_code < 300:
                    raise HookFailure(f"{self.url} answered {response.status_code}", retry=False)
                declared = response.headers.get("Content-Length", "")
                if declared.isdigit() and int(declared) > _MAX_RESPONSE_BYTES:
                    raise HookFailure(f"{self.url} answered more than {_MAX_RESPONSE_BYTES} bytes", retry=False)
                raw = await read_capped(response.aiter_bytes(), self.url)
        except httpx.HTTPError as exc:
            raise HookFailure(f"{self.url}: {type(exc).__name__} {exc}".strip(), retry=True) from None
        return parse_response(raw, self.url)

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
            env=hook_environment(hook_type),
            start_new_session=True,  # its own process group: a kill reaches what it started too
        )
        try:
            stdout, stderr, _ = await asyncio.wait_for(
                asyncio.gather(
                    read_capped(_chunks(process.stdout), str(path)),
                    _head(process.stderr, _MAX_STDERR_BYTES),
                    _feed(process.stdin, body),
                ),
                self.timeout_s,
            )
            await asyncio.wait_for(process.wait(), self.timeout_s)
        except TimeoutError:
            await _kill(process)
            raise HookFailure(f"{path} ran longer than {self.timeout_s} s", retry=True) from None
        except BaseException:
            await _kill(process)
            raise
        if stderr.strip():
            log.info("%s: %s", path.name, stderr.decode(errors="replace").strip())
        if process.returncode != 0:
            raise HookFailure(f"{path} exited with status {process.returncode}", retry=False)
        return parse_response(stdout, str(path))


async def _feed(stdin: asyncio.StreamWriter | None, body: bytes) -> None:
    """Write the hook's input; a hook that exits without reading it all is a normal hook (tusd's are)."""
    if stdin is None:
        return
    try:
        if not stdin.is_closing():
            stdin.write(body)
            await stdin.drain()
    except (BrokenPipeError, ConnectionResetError, RuntimeError):
        pass  # RuntimeError: uvloop's "handler is closed", the pipe's reader already gone
    finally:
        stdin.close()
        with contextlib.suppress(BrokenPipeError, ConnectionResetError, RuntimeError):
            await stdin.wait_closed()


async def _chunks(stream: asyncio.StreamReader | None) -> AsyncIterator[bytes]:
    while stream is not None and (chunk := await stream.read(65536)):
        yield chunk


async def _head(stream: asyncio.StreamReader | None, keep: int) -> bytes:
    """The first `keep` bytes of a stream, read to its end so the writer never blocks on a full pipe."""
    head = b""
    async for chunk in _chunks(stream):
        if len(head) < keep:
            head += chunk[: keep - len(head)]
    return head


async def _kill(process: asyncio.subprocess.Process) -> None:
    if process.returncode is None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):
            process.kill()
    await process.wait()
