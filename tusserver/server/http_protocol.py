"""uvicorn's httptools protocol, guarded against slow and huge request heads, optionally with lean bodies.

Every `tusserver serve` uses `GuardedHttpToolsProtocol`; uvicorn has neither guard (issue #11):
- Read timeout: uvicorn only times out idle keep-alive connections, and only after a first response.
  A socket that connects and sends nothing, or dribbles a head or a body a byte now and then, stayed
  open forever (500 such sockets did; 1,100 idle ones exhausted a 1,024 open-files limit). Here a
  client that sends no byte for `read_timeout_s` while it is its turn to send (a request head, or a
  body the app is waiting for) is disconnected, and a request head must arrive whole within
  `read_timeout_s` of its first byte (a head is a few KiB; a slowloris sends a byte just often enough
  to never be idle). A body cut this way reaches the app as `http.disconnect`, the same path as a
  client that left, so the bytes received before are kept. Not the client's turn: the app is working
  on a request, waiting before it reads (lock, 100-continue not sent yet), or has paused reading
  because it is behind; uvicorn's `timeout_keep_alive` still closes idle keep-alive connections.
- Head cap: llhttp hands httptools each header in pieces, which httptools joins in memory, so four
  64 MiB header lines were buffered whole before any check could run (RSS 54 → 315 MB). Here at most
  `max_head_bytes` of a head are fed to the parser; beyond that the answer is 431 with a one-line
  reason and the connection is closed, the rest unread. A head that starts in the middle of a read
  (after a body or a pipelined request) is counted from the next read: at most one read more.
- Responses (issue #22): `send` returns once the socket has drained (`_DrainingCycle`), so a download
  reads its next piece only when the client took the last, and a connection whose write buffer does not
  shrink for `write_timeout_s` is aborted (`_Flow`): 1,000 GETs never read held 2.4 GB, for ever.

`LeanHttpToolsProtocol` (`--lean-http`, the default) adds the body hand-over: uvicorn appends every
body piece to a bytearray and hands the app `bytes(bytearray)`, two copies of every byte uploaded on
top of the parser's own. There the pieces stay the bytes objects the parser made and are handed over
as they are (joined only when several arrived between two reads). Measured with bench A/B runs
(interleaved, same server with and without): 64 uploads at once 1.22x the speed at 0.78x the CPU; one
big PATCH 1.05x at 0.92x. Keep-alive, pipelining, 100-continue and flow control at uvicorn's
high-water mark stay uvicorn's code. Both lean on uvicorn internals, so tests/server/test_http_protocol.py
drives them through the cases that use them, and `supported()` checks their shape at start-up.

`LeanHttpToolsProtocol` also offers the app a `DirectBody` (scope extension `DIRECT_BODY`) for each
request with a Content-Length, over plain HTTP: the app hands it the file and it moves the rest of the
body there in a worker thread (tusserver/body_pump.py), reading paused on the loop meanwhile, or, with
every body thread busy, writes each read into the file from `data_received` (`_LoopSink`). The parser
never sees those bytes: it was left at the start of the body, so once the body's last byte is taken a
fresh parser takes over the connection at the next request head. A transfer that ends before the body
does (the upload is full, another request wants the upload) leaves the rest to be read and dropped here,
outside the parser, so the connection stays in step for the next request.

Both offer the app informational (1xx) responses, which uvicorn cannot send: the scope extension
`INFORMATIONAL` is an `Informational` the app calls, `await extension.send(104, headers)` (the
resumable-upload draft's `104 (Upload Resumption Supported)`), before it starts its response. It is
written at once, or dropped when it no longer may be (a response started, an HTTP/1.0 client, a closed
socket). An object the app calls rather than an ASGI message through `send`: every response would
otherwise pay for a `send` that looks for it (bench/instructions.py).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, cast

import httptools
import uvicorn
from uvicorn.config import Config
from uvicorn.protocols.http.flow_control import HIGH_WATER_LIMIT, FlowControl
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol, RequestResponseCycle
from uvicorn.server import ServerState

from ..config import Settings
from ..constants import INFORMATIONAL, TUS_VERSION
from ..fileops import pwrite_all
from ..hashing.algorithms import Hasher
from . import body_pump
from .body_pump import Ended, Progress, Pumped, Stopper
from .direct_body import BUFFERED_BODY, DIRECT_BODY

logger = logging.getLogger("tusserver.http")


@dataclass(frozen=True)
class TransportLimits:
    max_head_bytes: int = 16384
    read_timeout_s: float = 60.0
    write_timeout_s: float = 60.0
    body_threads: int = 0  # direct body transfers at once (`LeanHttpToolsProtocol`); 0: none


# The transport's write buffer limits (asyncio's and uvloop's defaults, set again here so the bound the
# tests compute holds): `pause_writing` above the high-water mark, `resume_writing` below the low one.
WRITE_HIGH_WATER = 64 * 1024
WRITE_LOW_WATER = 16 * 1024


class _Flow(FlowControl):
    """uvicorn's flow control, noting when the app last asked for bytes (the client's turn starts then),
    and closing a connection whose write buffer stays full for `write_timeout_s` without shrinking.

    uvicorn calls `resume_reading` each time the app awaits `receive()` and when a response completes.
    A client that stops reading a response leaves the rest in the transport's buffer: uvicorn's own
    keep-alive timeout and the read timeout use `close()`, which waits for that buffer to be sent, so
    without this such a connection (and what its buffer holds) stayed forever.
    """

    asked_at = 0.0

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop, write_timeout_s: float) -> None:
        super().__init__(transport)
        self._loop = loop
        self._write_timeout_s = write_timeout_s
        self._write_timer: asyncio.TimerHandle | None = None
        self._buffered = 0  # the write buffer's size when last checked: smaller next time is progress

    def resume_reading(self) -> None:
        self.asked_at = time.monotonic()
        super().resume_reading()

    def pause_writing(self) -> None:
        super().pause_writing()
        if self._write_timer is None:
            self._buffered = self._transport.get_write_buffer_size()
            self._write_timer = self._loop.call_later(self._write_timeout_s, self._check_write_progress)

    def resume_writing(self) -> None:
        super().resume_writing()
        self.stop_write_timer()

    def stop_write_timer(self) -> None:
        if self._write_timer is not None:
            self._write_timer.cancel()
            self._write_timer = None

    def _check_write_progress(self) -> None:
        self._write_timer = None
        if not self.write_paused:
            return
        buffered = self._transport.get_write_buffer_size()
        if buffered < self._buffered:  # the client read something: a slow reader, not a stalled one
            self._buffered = buffered
            self._write_timer = self._loop.call_later(self._write_timeout_s, self._check_write_progress)
            return
        logger.debug("no response byte taken for %.0f s; closing", self._write_timeout_s)
        self._transport.abort()  # close() would wait for the buffer to be sent: forever


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    flow: _Flow

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
        *,
        limits: TransportLimits = TransportLimits(),  # noqa: B008 - frozen, shared safely
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.limits = limits
        self._in_head = True  # the next bytes belong to a request head (also while idle between requests)
        self._head_bytes = 0
        self._head_started = 0.0
        self._last_read = 0.0
        self._read_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        transport.set_write_buffer_limits(high=WRITE_HIGH_WATER, low=WRITE_LOW_WATER)
        self.flow = _Flow(transport, self.loop, self.limits.write_timeout_s)
        self._last_read = self.flow.asked_at = time.monotonic()
        self._read_timer = self.loop.call_later(self.limits.read_timeout_s, self._check_read_timeout)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._read_timer is not None:
            self._read_timer.cancel()
            self._read_timer = None
        super().connection_lost(exc)
        self.flow.stop_write_timer()

    def data_received(self, data: bytes) -> None:
        now = self._last_read = time.monotonic()
        self._unset_keepalive_if_required()
        rest: bytes | memoryview = data
        while self._in_head and rest:
            room = self.limits.max_head_bytes - self._head_bytes
            if room <= 0:
                self._refuse_head()
                return
            if self._head_bytes == 0:
                self._head_started = now
            piece = rest
            if len(rest) > room:
                view = memoryview(rest)
                piece, rest = view[:room], view[room:]
            else:
                rest = b""
            self._head_bytes += len(piece)
            if not self._feed(piece):
                return
        if rest:
            self._feed(rest)

    def _feed(self, data: bytes | memoryview) -> bool:
        """uvicorn's `data_received` body; False when the connection is done with this read."""
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            msg = "Invalid HTTP request received."
            self.logger.warning(msg)
            self.send_400_response(msg)
            return False
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()
            return False
        return True

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._head_bytes = 0
        super().on_headers_complete()
        cycle = self.cycle
        if type(cycle) is RequestResponseCycle:  # the one just made for this request; its task has not run yet
            # ASGI types extensions as dict[str, dict]; the value is our object
            self.scope["extensions"] = {INFORMATIONAL: Informational(cycle)}  # type: ignore[dict-item]
            self._new_cycle(cycle)

    def _new_cycle(self, cycle: RequestResponseCycle) -> None:
        cycle.__class__ = _KeptBodyCycle
        self._offer_buffered(cast(_KeptBodyCycle, cycle))

    def _offer_buffered(self, cycle: _KeptBodyCycle) -> None:
        extensions: dict[str, Any] = self.scope.setdefault("extensions", {})
        extensions[BUFFERED_BODY] = cycle.take_buffered  # ASGI types extensions as dict[str, dict]; ours differ

    def on_message_complete(self) -> None:
        self._in_head = True
        self._head_bytes = 0
        super().on_message_complete()

    def _refuse_head(self) -> None:
        cycle = self.cycle
        if cycle is None or cycle.response_complete:  # else a response is on the wire: just close
            reason = f"request headers exceed {self.limits.max_head_bytes} bytes\n".encode()
            content = [STATUS_LINE[431]]
            for name, value in self.server_state.default_headers:
                content.extend([name, b": ", value, b"\r\n"])
            content.append(b"tus-resumable: %s\r\ncontent-type: text/plain; charset=utf-8\r\n" % TUS_VERSION.encode())
            content.append(b"content-length: %d\r\nconnection: close\r\n\r\n" % len(reason))
            content.append(reason)
            self.transport.write(b"".join(content))
        logger.debug("%s: request head over %d bytes; closing", self.client, self.limits.max_head_bytes)
        self.transport.close()

    def _check_read_timeout(self) -> None:
        self._read_timer = None
        if self.transport.is_closing() or self.transport.get_protocol() is not self:  # closed, or a websocket now
            return
        timeout = self.limits.read_timeout_s
        due = self._read_due()
        now = time.monotonic()
        if due is not None and now >= due:
            logger.debug("%s: no byte for %.0f s while sending a request; closing", self.client, timeout)
            self._read_timed_out()
            self.transport.close()  # a body in progress reaches the app as http.disconnect
            return
        self._read_timer = self.loop.call_later(timeout if due is None else due - now, self._check_read_timeout)

    def _read_timed_out(self) -> None:
        """The client went silent mid-request; the connection closes right after this."""

    def _read_due(self) -> float | None:
        """When the client's silence becomes a timeout; None while it is not the client's turn to send."""
        timeout = self.limits.read_timeout_s
        cycle = self.cycle
        if self._in_head:
            if cycle is not None and not cycle.response_complete:
                return None  # the app is answering the last request; a pipelined head waits its turn
            due = max(self._last_read, self.flow.asked_at) + timeout
            return min(due, self._head_started + timeout) if self._head_bytes else due
        if cycle is None:
            return None
        if not cycle.response_complete and (cycle.waiting_for_100_continue or self.flow.read_paused):
            return None  # the app has not asked for the body yet, or is behind
        return max(self._last_read, self.flow.asked_at) + timeout


class Informational:
    """Writes the informational responses of one request (scope extension `INFORMATIONAL`)."""

    __slots__ = ("_cycle",)

    def __init__(self, cycle: RequestResponseCycle) -> None:
        self._cycle = cycle

    async def send(self, status: int, headers: Sequence[tuple[bytes, bytes]]) -> bool:
        """Write one 1xx response now; False when it may no longer be sent (it is then dropped)."""
        if not 100 <= status < 200 or status == 101:
            raise ValueError(f"{status} is not an informational status")
        cycle = self._cycle
        if cycle.response_started or cycle.disconnected or cycle.transport.is_closing():
            return False
        if cycle.scope.get("http_version", "1.1") != "1.1":
            return False  # RFC 9110 15.2: never to an HTTP/1.0 client
        lines = [b"HTTP/1.1 %d %s\r\n" % (status, _reason(status))]
        for name, value in headers:
            if b"\r" in name + value or b"\n" in name + value:
                raise ValueError("invalid header in an informational response")
            lines.append(b"%s: %s\r\n" % (name, value))
        lines.append(b"\r\n")
        cycle.transport.write(b"".join(lines))
        return True


def _reason(status: int) -> bytes:
    if status == 104:
        return b"Upload Resumption Supported"
    try:
        return HTTPStatus(status).phrase.encode()
    except ValueError:
        return b"Informational"


class _DrainingCycle(RequestResponseCycle):
    """uvicorn's cycle, whose `send` returns only once the socket has taken the write buffer down to its
    low-water mark.

    uvicorn waits for a drain before a write, so the app had already read its next piece from the store
    while the last one waited in the buffer: a response the client did not read held two pieces (2 MiB),
    of 1,000 such downloads 2.4 GB. Waiting after the write, the app reads the next piece only when the
    socket wants it; a stalled download holds at most the piece it wrote, until `--write-timeout`.
    """

    async def send(self, message: Any) -> None:
        await super().send(message)
        if self.flow.write_paused and not self.disconnected:
            await self.flow.drain()


class _KeptBodyCycle(_DrainingCycle):
    """The draining cycle, whose body bytes read before the client left also reach the app.

    uvicorn answers `http.disconnect` as soon as the connection is lost, dropping the body it holds. A
    client that sends its last bytes and closes at once delivers them with the end of the connection, so
    a store fed by `receive()` (S3: every PATCH body) kept none of them. `more_body` is kept as it was,
    so an unfinished body is still followed by the disconnect, never taken for a complete one.
    """

    async def receive(self) -> Any:
        if self.waiting_for_100_continue and not self.transport.is_closing():
            self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            self.waiting_for_100_continue = False
        if not self.disconnected and not self.response_complete:
            self.flow.resume_reading()
            await self.message_event.wait()
            self.message_event.clear()
        if self.response_complete or (self.disconnected and not self._holds_body()):
            return {"type": "http.disconnect"}
        return {"type": "http.request", "body": self._take_body(), "more_body": self.more_body}

    def take_buffered(self) -> bytes:
        if self.response_complete:
            return b""
        return self._take_body()

    def _holds_body(self) -> bool:
        return bool(self.body)

    def _take_body(self) -> bytes:
        body, self.body = bytes(self.body), bytearray()
        return body


# An answer given while at most this much of a request's body is still on its way waits for it (see
# `_PiecesCycle.send`); a larger rest is left unread, as before: the client learns the answer at once.
EARLY_ANSWER_DRAIN_BYTES = 64 * 1024
EARLY_ANSWER_WAIT_S = 1.0


class _PiecesCycle(_KeptBodyCycle):
    """The kept-body cycle, holding the body as the pieces the parser handed over (no copy into one buffer)."""

    pieces: list[bytes]
    pieces_size: int
    owner: LeanHttpToolsProtocol

    async def send(self, message: Any) -> None:
        if message["type"] == "http.response.start" and self.more_body:
            await self._drain_small_rest()
        await super().send(message)

    async def _drain_small_rest(self) -> None:
        """Before an answer given on the headers alone (a 400 for an unknown checksum algorithm, a 409 for
        a wrong offset), read and drop the rest of a small body still on its way, for up to
        `EARLY_ANSWER_WAIT_S`.

        Why: nginx streaming request bodies (`proxy_request_buffering off`, docs/scaling.md) that gets an
        answer while it still forwards the body passes the answer on as keep-alive and then closes the
        client's connection: the client's next request on it fails with no answer. A client whose body
        trails its headers by a few milliseconds (separate writes, a busy machine) met that after any early
        4xx (tests/cluster/test_conformance.py). A client waiting for `100 Continue` has sent nothing: it
        gets the answer at once, as does one with more than `EARLY_ANSWER_DRAIN_BYTES` still to send.
        """
        owner = self.owner
        if self.waiting_for_100_continue or owner._detached or not 0 < owner._body_left <= EARLY_ANSWER_DRAIN_BYTES:
            return
        deadline = time.monotonic() + EARLY_ANSWER_WAIT_S
        while self.more_body and not self.disconnected and not self.transport.is_closing():
            self.pieces, self.pieces_size = [], 0  # nobody reads them now
            self.flow.resume_reading()
            left = deadline - time.monotonic()
            if left <= 0:
                return
            self.message_event.clear()
            try:
                await asyncio.wait_for(self.message_event.wait(), left)
            except TimeoutError:
                return
        self.pieces, self.pieces_size = [], 0

    def _holds_body(self) -> bool:
        return bool(self.pieces)

    def _take_body(self) -> bytes:
        pieces, self.pieces, self.pieces_size = self.pieces, [], 0
        return pieces[0] if len(pieces) == 1 else b"".join(pieces)


class LeanHttpToolsProtocol(GuardedHttpToolsProtocol):
    cycle: _PiecesCycle
    # Bytes of the current request's body not yet read from the socket (-1: no Content-Length). While a
    # direct transfer runs or after it ended early (`_detached`), the parser is not fed them.
    _body_left = -1
    _detached = False
    _sink: _LoopSink | None = None  # a direct transfer done by `data_received` itself (no body thread free)

    def _new_cycle(self, cycle: RequestResponseCycle) -> None:
        cycle.__class__ = _PiecesCycle
        lean = cast("_PiecesCycle", cycle)
        self._offer_buffered(lean)
        lean.pieces, lean.pieces_size, lean.owner = [], 0, self
        self._body_left = _content_length(self.headers)
        if self._body_left >= DIRECT_MIN_BYTES and self.scheme == "http" and body_pump.AVAILABLE:
            # ASGI types extensions as dict[str, dict]; the key is ours, its value our object
            self.scope["extensions"][DIRECT_BODY] = DirectBody(self, lean)  # type: ignore[assignment]

    def on_body(self, body: bytes) -> None:
        self._body_left -= len(body)
        if (self.parser.should_upgrade() and self._should_upgrade()) or self.cycle.response_complete:
            return
        cycle = self.cycle
        cycle.pieces.append(body)
        cycle.pieces_size += len(body)
        if cycle.pieces_size > HIGH_WATER_LIMIT:
            self.flow.pause_reading()
        cycle.message_event.set()

    def data_received(self, data: bytes) -> None:
        if self._detached and self._body_left > 0:
            rest = self._outside_the_parser(data)
            if not rest:
                return
            data = rest  # type: ignore[assignment]  # the next request, fed as a view: no copy
        super().data_received(data)

    def _outside_the_parser(self, data: bytes) -> memoryview:
        """Body bytes the parser must not see: into the loop's sink while there is one, then dropped (a body
        cut short, or longer than the room it had). What follows the body is returned for the parser."""
        self._last_read = time.monotonic()
        self._unset_keepalive_if_required()
        view = memoryview(data)
        while view and self._detached and self._body_left > 0:
            sink = self._sink
            take = min(len(view), self._body_left if sink is None else sink.count - sink.moved)
            piece, view = view[:take], view[take:]
            self._body_left -= take  # taken from the socket, whatever happens to it now
            if sink is None:
                if not self._body_left:
                    self._reattach()
                continue
            try:
                pwrite_all(sink.fd, piece, sink.position + sink.moved)
            except OSError as exc:  # a full disk: the store reports what fit; the rest of the body is dropped
                self._sink = None
                sink.fail(exc)
                self._after_transfer(0, Ended.STOPPED)
                continue
            sink.moved += take
            if sink.progress is not None:
                sink.progress.add(take)
            if sink.moved == sink.count:
                self._end_sink(Ended.COMPLETE)
        return view

    # -- direct transfers (DirectBody) ----------------------------------------------------------

    def _detach(self) -> None:
        self._detached = True
        self.flow.pause_reading()

    def _reattach(self) -> None:
        """The detached body's last byte is read: a fresh parser starts at the next request head."""
        self._detached = False
        self.parser = httptools.HttpRequestParser(self)
        with contextlib.suppress(AttributeError):  # as uvicorn sets it up (httptools >= 0.6.3)
            self.parser.set_dangerous_leniencies(lenient_data_after_close=True)
        self._in_head = True
        self._head_bytes = 0
        cycle = self.cycle
        if not cycle.response_complete:
            cycle.more_body = False
            cycle.message_event.set()

    def _end_sink(self, ended: Ended) -> None:
        sink, self._sink = self._sink, None
        if sink is not None:
            sink.end(ended)
            self._after_transfer(0, ended)

    def _read_timed_out(self) -> None:
        self._end_sink(Ended.TIMEOUT)

    def connection_lost(self, exc: Exception | None) -> None:
        self._end_sink(Ended.EOF)  # the transport is closing: nothing else to settle
        super().connection_lost(exc)

    def _after_transfer(self, moved: int, ended: Ended) -> None:
        self._body_left -= moved
        if self.transport.is_closing():
            return
        if ended in (Ended.EOF, Ended.TIMEOUT):
            self.transport.close()  # the cycle sees the disconnect through connection_lost
            return
        if self._body_left == 0:
            self._reattach()
        self.flow.resume_reading()  # the next request, or the rest of a body cut short, to be dropped

    def _abandon(self) -> None:
        """A transfer failed with an unknown number of bytes taken: close once the response is out."""
        self.cycle.keep_alive = False


# A body shorter than this is received on the loop: a thread hop costs more than the copies it saves.
DIRECT_MIN_BYTES = 256 * 1024


class DirectBody:
    """Moves the rest of one request's body into a file from a worker thread (`body_pump.pump`).

    Offered in `scope["extensions"][DIRECT_BODY]`; `into_file` returns None when it cannot be used for
    this request (any more): the app then reads the body through `receive()` as usual.
    """

    def __init__(self, protocol: LeanHttpToolsProtocol, cycle: _PiecesCycle) -> None:
        self._protocol = protocol
        self._cycle = cycle

    async def into_file(
        self,
        fd: int,
        position: int,
        room: int,
        hashers: Sequence[Hasher],
        stopper: Stopper,
        progress: Progress | None = None,
    ) -> Pumped | None:
        """Write the body from `position` on (at most `room` bytes), hashing it, telling `progress` as it goes;
        what moved and why it ended."""
        protocol, cycle = self._protocol, self._cycle
        if (
            protocol.cycle is not cycle
            or cycle.response_complete
            or cycle.disconnected
            or protocol._detached
            or protocol.transport.is_closing()
            or protocol._body_left < DIRECT_MIN_BYTES
        ):
            return None
        if not _BODY_THREADS.take(protocol.limits.body_threads):
            if hashers:
                return None  # hashing on the loop would stall it: the body goes through receive()
            return await self._transfer(fd, position, room, hashers, stopper, progress, threaded=False)
        try:
            return await self._transfer(fd, position, room, hashers, stopper, progress, threaded=True)
        finally:
            _BODY_THREADS.give()

    async def _transfer(
        self,
        fd: int,
        position: int,
        room: int,
        hashers: Sequence[Hasher],
        stopper: Stopper,
        progress: Progress | None,
        threaded: bool,
    ) -> Pumped | None:
        protocol, cycle = self._protocol, self._cycle
        sock = protocol.transport.get_extra_info("socket")
        if sock is None:
            return None  # not a socket transport (nothing in tusserver serve makes one)
        if cycle.waiting_for_100_continue:
            protocol.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            cycle.waiting_for_100_continue = False
        written = 0
        pieces, cycle.pieces, cycle.pieces_size = cycle.pieces, [], 0
        for piece in pieces:  # what the parser handed over before the app asked comes first
            if len(piece) > room - written:
                piece = piece[: room - written]
            for hasher in hashers:
                hasher.update(piece)
            pwrite_all(fd, piece, position + written)
            written += len(piece)
            if progress is not None:
                progress.add(len(piece))
            if written == room:
                return Pumped(written, Ended.LIMIT)  # the parser goes on with the rest; the app reads no more
        count = min(protocol._body_left, room - written)
        if count == 0:
            return Pumped(written, Ended.LIMIT)
        if not threaded:
            return await self._on_the_loop(fd, position + written, count, written, stopper, progress)
        protocol._detach()
        timeout = protocol.limits.read_timeout_s
        future = _BODY_THREADS.pool().submit(
            body_pump.pump,
            sock.fileno(),
            fd,
            position + written,
            count,
            hashers,
            stopper,
            timeout,
            _BODY_THREADS.hash_pool(),
            progress,
        )
        cancelled = False
        try:
            try:
                pumped = await asyncio.shield(asyncio.wrap_future(future))
            except asyncio.CancelledError:
                stopper.stop()  # the server is shutting down: keep what arrived, as the loop path does
                pumped = future.result()  # the pump sees the stop within one read
                cancelled = True
        except BaseException:
            protocol._abandon()
            raise
        protocol._after_transfer(pumped.moved, pumped.ended)
        ended = pumped.ended
        if cancelled:
            ended = Ended.CANCELLED
        elif ended is Ended.COMPLETE and protocol._body_left:
            ended = Ended.LIMIT
        return Pumped(written + pumped.moved, ended)

    async def _on_the_loop(
        self, fd: int, position: int, count: int, written: int, stopper: Stopper, progress: Progress | None
    ) -> Pumped:
        """Every body thread is busy: `data_received` writes each read into the file as it comes.

        Not as cheap as a splice, but no parser copy, no task wake-up and no buffering per piece: what
        thousands of slow uploads at once cost the loop path (~70 us per 16 KiB piece) was mostly that.
        """
        protocol = self._protocol
        left = protocol._body_left
        sink = protocol._sink = _LoopSink(fd, position, count, asyncio.get_running_loop().create_future(), progress)
        protocol._detached = True
        stopper.on_stop = lambda: protocol._end_sink(Ended.STOPPED) if protocol._sink is sink else None
        protocol.flow.resume_reading()  # the parser may have paused it at its high-water mark
        try:
            ended = await sink.ended
        except asyncio.CancelledError:
            if protocol._sink is sink:
                protocol._end_sink(Ended.CANCELLED)
            ended = Ended.CANCELLED
        finally:
            stopper.on_stop = None
        if ended is Ended.COMPLETE and sink.moved < left:
            ended = Ended.LIMIT
        return Pumped(written + sink.moved, ended)


class _LoopSink:
    """A direct transfer done on the event loop by `LeanHttpToolsProtocol.data_received`."""

    def __init__(
        self, fd: int, position: int, count: int, ended: asyncio.Future[Ended], progress: Progress | None
    ) -> None:
        self.fd, self.position, self.count = fd, position, count
        self.moved = 0
        self.ended = ended
        self.progress = progress

    def end(self, ended: Ended) -> None:
        if not self.ended.done():
            self.ended.set_result(ended)

    def fail(self, exc: BaseException) -> None:
        if not self.ended.done():
            self.ended.set_exception(exc)


class _BodyThreads:
    """The worker threads of direct transfers, one per transfer, at most `body_threads` at once per process,
    and as many hashing threads: a transfer that got a body thread always gets its hashing thread too
    (sized apart, 8 body threads once shared 6 hashing threads, and stalled checksummed PATCHes held them all)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._busy = 0
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None
        self._hash_pool: concurrent.futures.ThreadPoolExecutor | None = None
        self._size = 0

    def take(self, limit: int) -> bool:
        with self._lock:
            if self._busy >= limit:
                return False
            if self._pool is None or self._size < limit:  # a larger limit only in tests that vary it
                for old in (self._pool, self._hash_pool):
                    if old is not None:
                        old.shutdown(wait=False)
                self._pool = concurrent.futures.ThreadPoolExecutor(limit, thread_name_prefix="tusserver-body")
                self._hash_pool = concurrent.futures.ThreadPoolExecutor(limit, thread_name_prefix="tusserver-hash")
                self._size = limit
            self._busy += 1
            return True

    def give(self) -> None:
        with self._lock:
            self._busy -= 1

    def pool(self) -> concurrent.futures.ThreadPoolExecutor:
        assert self._pool is not None
        return self._pool

    def hash_pool(self) -> concurrent.futures.ThreadPoolExecutor:
        assert self._hash_pool is not None
        return self._hash_pool


_BODY_THREADS = _BodyThreads()


def _content_length(headers: list[tuple[bytes, bytes]]) -> int:
    """The body's declared length; -1 without one, or when it is chunked (llhttp has checked the syntax)."""
    length = -1
    for name, value in headers:
        if name == b"transfer-encoding":
            return -1
        if name == b"content-length":
            length = int(value)
    return length


def limits_for(settings: Settings) -> TransportLimits:
    return TransportLimits(
        max_head_bytes=settings.max_header_bytes,
        read_timeout_s=settings.read_timeout_s,
        write_timeout_s=settings.write_timeout_s,
        body_threads=settings.body_threads,
    )


def protocol_for(settings: Settings) -> type[asyncio.Protocol]:
    """The protocol `uvicorn.run(http=...)` gets: a partial, so it pickles to `--workers` processes."""
    limits = limits_for(settings)
    kind = LeanHttpToolsProtocol if settings.lean_http else GuardedHttpToolsProtocol
    # uvicorn only ever calls it with keywords (server.py create_protocol), as it would the class
    return cast("type[asyncio.Protocol]", functools.partial(kind, limits=limits))


# uvicorn releases whose httptools protocol these classes were tested against (tests/server/test_http_protocol.py,
# tests/security/): they reuse its private cycle attributes, which a release may change without notice.
TESTED_UVICORN = ("0.55",)


def supported() -> bool:
    """Whether the installed uvicorn is a tested release with the attributes these protocols rely on."""
    if ".".join(uvicorn.__version__.split(".")[:2]) not in TESTED_UVICORN:
        return False
    needed = (
        "waiting_for_100_continue", "message_event", "body", "more_body", "disconnected", "response_complete",
        "response_started",
    )  # fmt: skip
    init = RequestResponseCycle.__init__.__code__
    hooks = (
        "on_body", "on_headers_complete", "on_message_complete", "on_response_complete", "send_400_response",
        "_unset_keepalive_if_required", "_should_upgrade", "handle_websocket_upgrade", "_unsupported_upgrade_warning",
    )  # fmt: skip
    made = HttpToolsProtocol.connection_made.__code__.co_names
    return (
        all(name in init.co_names for name in needed)
        and all(hasattr(HttpToolsProtocol, name) for name in hooks)
        and all(name in made for name in ("flow", "FlowControl"))
    )


class _BoundedProtocol(GuardedHttpToolsProtocol):
    """`GuardedHttpToolsProtocol` that refuses connections beyond `max_connections` open at once."""

    max_connections = 0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.server_state.connections) > self.max_connections:
            logger.debug("%s: over %d connections on a side port; closing", self.client, self.max_connections)
            transport.abort()


class SidePort:
    """A small ASGI app (the `/metrics` of `--metrics-listen`) served on the running event loop with the upload
    port's read timeout, head cap and write timeout, and at most `max_connections` connections at once.

    prometheus_client's own server took a thread per connection and had no timeout: 1,500 half-sent
    requests held 1,500 threads, and 2,037 idle connections used up the descriptors until the upload
    port stopped answering (issue #22). Here a connection costs a few KiB on the loop, a silent one is
    closed after `--read-timeout`, and those beyond the bound are closed at once.
    """

    def __init__(self, app: Any, host: str, port: int, limits: TransportLimits, max_connections: int) -> None:
        self.config = Config(
            app=app, host=host, port=port, lifespan="off", ws="none", log_config=None, access_log=False,
            proxy_headers=False, server_header=False, date_header=False,
        )  # fmt: skip
        self.limits = limits
        self.max_connections = max_connections
        self.state = ServerState()
        self.server: asyncio.Server | None = None

    async def start(self) -> None:
        self.config.load()
        loop = asyncio.get_running_loop()
        kind = type("BoundedProtocol", (_BoundedProtocol,), {"max_connections": self.max_connections})

        def factory() -> asyncio.Protocol:
            return cast("asyncio.Protocol", kind(self.config, self.state, {}, loop, limits=self.limits))

        self.server = await loop.create_server(factory, host=self.config.host, port=self.config.port)

    async def aclose(self) -> None:
        if self.server is not None:
            self.server.close()
            self.server = None
        for connection in list(self.state.connections):
            connection.transport.abort()


class _HandshakeTimeout:
    """`create_server`/`create_unix_server` with the TLS handshake under `--read-timeout`.

    uvicorn gives the loop no `ssl_handshake_timeout`, and a TLS handshake happens before the protocol
    (and its read timer) sees the connection, so a client that opened TLS and sent nothing was closed
    only at the loop's default of 60 s whatever `--read-timeout` said (issue #22).
    """

    handshake_timeout_s = 60.0

    async def create_server(self, *args: Any, **kwargs: Any) -> asyncio.Server:
        if kwargs.get("ssl") is not None:
            kwargs.setdefault("ssl_handshake_timeout", self.handshake_timeout_s)
        return await super().create_server(*args, **kwargs)  # type: ignore[misc, no-any-return]

    async def create_unix_server(self, *args: Any, **kwargs: Any) -> asyncio.Server:
        if kwargs.get("ssl") is not None:
            kwargs.setdefault("ssl_handshake_timeout", self.handshake_timeout_s)
        return await super().create_unix_server(*args, **kwargs)  # type: ignore[misc, no-any-return]


def guarded_loop() -> asyncio.AbstractEventLoop:
    """uvicorn's `loop=` factory for `tusserver serve` (every worker calls it): uvloop where uvicorn would use
    it, else asyncio's loop, with the handshake timeout read from the settings in the environment."""
    timeout = Settings.from_env().read_timeout_s
    try:
        import uvloop

        base: type[asyncio.AbstractEventLoop] = uvloop.Loop
    except ImportError:  # uvicorn[standard] has no uvloop on Windows
        base = asyncio.SelectorEventLoop
    kind = type("GuardedLoop", (_HandshakeTimeout, base), {"handshake_timeout_s": timeout})
    return cast("asyncio.AbstractEventLoop", kind())
