"""What the app sees of direct body transfers (the mechanism: http_protocol.DirectBody and body_pump.py).

The HTTP protocol offers, for a request with a large Content-Length body, a `DirectBodySource` in the
ASGI scope's extensions; the body reader exposes it to stores as `FileChunkStream.into_file`. Bytes
moved that way never pass through `receive()`, so middleware that counts body bytes (metrics, the JSON
access log) does not wrap `receive()`: it listens to the request's `Progress` (`listen_to_body`), which
every body path feeds as bytes arrive.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any, Protocol

from ..hashing.algorithms import Hasher
from .body_pump import Progress, Pumped, Stopper

# The ASGI scope extension under which the HTTP protocol offers a `DirectBodySource` for a request.
DIRECT_BODY = "tusserver.server.direct_body"
# The one under which it offers `take_buffered`: the body bytes it has read that `receive()` has not yet
# handed over, taken at once without waiting (a body cut by a lock release keeps them).
BUFFERED_BODY = "tusserver.server.buffered_body"

# The ASGI scope extension holding the request body's `Progress`, made by the first listener.
BODY_PROGRESS = "tusserver.server.body_progress"


class DirectBodySource(Protocol):
    """The rest of a request body, moved into a file without passing through the app."""

    async def into_file(
        self,
        fd: int,
        position: int,
        room: int,
        hashers: Sequence[Hasher],
        stopper: Stopper,
        progress: Progress | None = None,
    ) -> Pumped | None: ...


class FileChunkStream(Protocol):
    """A chunk stream that can also write itself into an open file; the local-file store asks for that.

    `into_file` returns the bytes it wrote at `position` on, or None when it cannot (then iterate).
    """

    def __aiter__(self) -> AsyncIterator[bytes]: ...

    async def into_file(self, fd: int, position: int) -> int | None: ...


def direct_source(scope: Any) -> DirectBodySource | None:
    extensions = scope.get("extensions") or {}
    source: DirectBodySource | None = extensions.get(DIRECT_BODY)
    return source


def take_buffered(scope: Any) -> bytes:
    """The body bytes the HTTP protocol read and `receive()` has not handed over yet (b"" if it cannot say)."""
    extensions = scope.get("extensions") or {}
    take: Callable[[], bytes] | None = extensions.get(BUFFERED_BODY)
    return take() if take is not None else b""


def listen_to_body(scope: Any, listener: Callable[[int], None]) -> Any:
    """`scope`, or a copy holding a `Progress` of its body, with `listener` told each batch of body bytes.

    Middleware calls it on its way in and `flush_body_progress` on its way out (then its sum is exact)."""
    extensions = scope.get("extensions") or {}
    progress: Progress | None = extensions.get(BODY_PROGRESS)
    if progress is None:
        progress = Progress(asyncio.get_running_loop())
        scope = {**scope, "extensions": {**extensions, BODY_PROGRESS: progress}}
    progress.listen(listener)
    return scope


def body_progress(scope: Any) -> Progress | None:
    """The request body's `Progress` when somebody listens to it (None: nobody, so nothing to count)."""
    progress: Progress | None = (scope.get("extensions") or {}).get(BODY_PROGRESS)
    return progress


def flush_body_progress(scope: Any) -> None:
    progress = body_progress(scope)
    if progress is not None:
        progress.flush()
