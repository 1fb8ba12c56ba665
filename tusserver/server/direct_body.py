"""What the app sees of direct body transfers (the mechanism: http_protocol.DirectBody and body_pump.py).

The HTTP protocol offers, for a request with a large Content-Length body, a `DirectBodySource` in the
ASGI scope's extensions; the body reader exposes it to stores as `FileChunkStream.into_file`. Bytes
moved that way never pass through `receive()`, so middleware that counts body bytes from `receive()`
(metrics, the JSON access log) also wraps the source with `count_direct_bytes`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any, Protocol

from ..hashing.algorithms import Hasher
from .body_pump import Pumped, Stopper

# The ASGI scope extension under which the HTTP protocol offers a `DirectBodySource` for a request.
DIRECT_BODY = "tusserver.server.direct_body"
# The one under which it offers `take_buffered`: the body bytes it has read that `receive()` has not yet
# handed over, taken at once without waiting (a body cut by a lock release keeps them).
BUFFERED_BODY = "tusserver.server.buffered_body"


class DirectBodySource(Protocol):
    """The rest of a request body, moved into a file without passing through the app."""

    async def into_file(
        self, fd: int, position: int, room: int, hashers: Sequence[Hasher], stopper: Stopper
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


def count_direct_bytes(scope: Any, add: Callable[[int], None]) -> Any:
    """`scope`, or a copy whose direct body source reports every byte it moves to `add`."""
    source = direct_source(scope)
    if source is None:
        return scope
    return {**scope, "extensions": {**scope["extensions"], DIRECT_BODY: _Counted(source, add)}}


class _Counted:
    def __init__(self, source: DirectBodySource, add: Callable[[int], None]) -> None:
        self._source = source
        self._add = add

    async def into_file(
        self, fd: int, position: int, room: int, hashers: Sequence[Hasher], stopper: Stopper
    ) -> Pumped | None:
        pumped = await self._source.into_file(fd, position, room, hashers, stopper)
        if pumped is not None:
            self._add(pumped.moved)
        return pumped
