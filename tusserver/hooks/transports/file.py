"""tusd's file hooks (`--hooks-dir`): `DIR/<hook type>` run with the hook JSON on stdin, its answer on stdout.

The hook is somebody's script, so the server guards itself: the hook need not read its input, its
answer is capped while read, it runs past the timeout only to be killed with everything it started,
and it never sees the server's secrets (issue #22).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

from ..delivery import HookFailure
from .answer import parse_response, read_capped

log = logging.getLogger("tusserver.hooks")

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
