"""Every error a request can meet, as exceptions carrying status, stable code and a one-line message.

    TusError
    ├── BadRequest (400)              malformed header, unsupported checksum algorithm, bad concat
    │   ├── InvalidInteger (400)
    │   ├── LengthMismatch (400)      a length contradicting the recorded one
    │   └── UploadCompleted (400)     appending to a complete upload (resumable-upload draft)
    ├── Unauthorized (401)            missing/invalid token (WWW-Authenticate set)
    ├── Forbidden (403)               another owner, PATCH on a final upload, token for another upload
    ├── UploadNotFound (404)
    ├── MethodNotAllowed (405)
    ├── OffsetMismatch (409)
    ├── Conflict (409)                unfinished download, length already set
    ├── UploadGone (410)              terminated or expired
    ├── PreconditionFailed (412)      unsupported Tus-Resumable
    ├── TooLarge (413)
    ├── UnsupportedMediaType (415)
    ├── TooManyUploads (429)          --max-unfinished reached
    ├── HeaderTooLarge (431)
    ├── Locked (423)                  lock held and not released in time
    ├── ChecksumMismatch (460)
    ├── HookRejected (4xx/5xx)        a pre-hook said no: its HTTPResponse status, body and headers
    ├── HookUnavailable (503)         a blocking hook could not be reached or failed: fail closed
    │   └── PlacementRefused (503)    a pre-create hook's ChangeFileInfo.Storage the store will not use
    ├── BackendUnavailable (503)      the bucket or Redis is not there (yet): Retry-After, no traceback
    ├── StorageError (500)            a backend failed; logged, never shows internals
    └── InsufficientStorage (507)     no space left (ENOSPC/EDQUOT); the bytes that fit are kept

`render_error` (installed by `app.create_app`) is the one place these become responses: plain text for
tus, or problem details (RFC 9457) when the request's protocol set `problem` (the resumable-upload draft,
protocol/ietf/problems.py), with the problem type the draft names, if any.
"""

from __future__ import annotations

import errno
import json
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from .constants import TUS_RESUMABLE, TUS_VERSION

log = logging.getLogger("tusserver")


@dataclass
class Problem:
    """How an error is told as problem details: `type` (a URI; "about:blank" for a plain status) and
    extension members, on a response that carries none of tus's own headers."""

    type: str = "about:blank"
    members: dict[str, Any] = field(default_factory=dict)


class TusError(Exception):
    status_code = 500
    code = "internal_error"

    def __init__(self, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.headers = headers or {}
        self.problem: Problem | None = None


class BadRequest(TusError):
    status_code = 400
    code = "bad_request"


class InvalidInteger(BadRequest):
    code = "invalid_integer"


class LengthMismatch(BadRequest):
    """A length that contradicts one recorded before (or the bytes stored)."""

    code = "inconsistent_length"


class UploadCompleted(BadRequest):
    """Appending to an upload that is already complete (the resumable-upload draft's `completed-upload`)."""

    code = "completed_upload"


class Unauthorized(TusError):
    status_code = 401
    code = "unauthorized"


class Forbidden(TusError):
    status_code = 403
    code = "forbidden"


class UploadNotFound(TusError):
    status_code = 404
    code = "not_found"

    def __init__(self, message: str = "upload not found", headers: dict[str, str] | None = None) -> None:
        super().__init__(message, headers)


class MethodNotAllowed(TusError):
    status_code = 405
    code = "method_not_allowed"


class OffsetMismatch(TusError):
    status_code = 409
    code = "offset_mismatch"

    def __init__(
        self, message: str, headers: dict[str, str] | None = None, *, expected: int = 0, provided: int = 0
    ) -> None:
        super().__init__(message, headers)
        self.expected = expected
        self.provided = provided


class Conflict(TusError):
    status_code = 409
    code = "conflict"


class UploadGone(TusError):
    status_code = 410
    code = "gone"

    def __init__(
        self, message: str = "upload was terminated or has expired", headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message, headers)


class PreconditionFailed(TusError):
    status_code = 412
    code = "unsupported_version"


class TooLarge(TusError):
    status_code = 413
    code = "too_large"


class UnsupportedMediaType(TusError):
    status_code = 415
    code = "unsupported_media_type"


class Locked(TusError):
    status_code = 423
    code = "locked"


class TooManyUploads(TusError):
    status_code = 429
    code = "too_many_uploads"


class HeaderTooLarge(TusError):
    status_code = 431
    code = "header_too_large"


class ChecksumMismatch(TusError):
    status_code = 460
    code = "checksum_mismatch"


class HookRejected(TusError):
    """A pre-hook refused the request; the client gets the status, body and headers the hook chose."""

    code = "rejected_by_hook"

    def __init__(self, status: int, message: str, headers: dict[str, str]) -> None:
        super().__init__(message, headers)
        self.status_code = status


class HookUnavailable(TusError):
    """A blocking hook failed or could not be reached: the request is refused, never waved through."""

    status_code = 503
    code = "hook_unavailable"


class PlacementRefused(HookUnavailable):
    """A pre-create hook asked for a storage location (`ChangeFileInfo.Storage`) that is unsafe, taken, or
    one this store cannot honour: the creation fails closed, as for an invalid ID, because storing the
    upload elsewhere would lie to the receiver. `reason` is one line, for the log and the client."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"pre-create hook returned an unusable ChangeFileInfo.Storage: {reason}")
        self.reason = reason


class BackendUnavailable(TusError):
    """A backend the server needs (the bucket, Redis) is missing or does not answer: an expected state while
    a cluster starts or a backend restarts, so the client is told when to come back and the log gets one
    line saying what is missing, never a traceback. The server recovers by itself when it is there."""

    status_code = 503
    code = "backend_unavailable"
    retry_after_s = 5

    def __init__(self, detail: str) -> None:
        # The client learns only that it should come back; `detail` (which bucket, which Redis, what to
        # do) is for the log and /readyz, which the operator reads.
        super().__init__("storage is not available yet; try again later", {"Retry-After": str(self.retry_after_s)})
        self.detail = detail


# Exception types of optional libraries that mean "the backend is not reachable", with what to tell the
# operator; registered by the module that opens the backend (redis_client.connect), so this module needs
# none of those libraries.
_UNAVAILABLE: dict[type[BaseException], str] = {}


def register_unavailable(kind: type[BaseException], message: str) -> None:
    _UNAVAILABLE[kind] = message


def unavailable_types() -> tuple[type[BaseException], ...]:
    """For the app's exception handlers: caught there, so Starlette's outermost error middleware (which
    logs a traceback and re-raises after any handler) never sees them."""
    return tuple(_UNAVAILABLE)


def as_unavailable(exc: BaseException) -> BackendUnavailable | None:
    """The BackendUnavailable an exception (or the one it was raised from) stands for, if it does."""
    for candidate in (exc, exc.__cause__):
        if isinstance(candidate, BackendUnavailable):
            return candidate
        for kind, message in _UNAVAILABLE.items():
            if isinstance(candidate, kind):
                return BackendUnavailable(message)
    return None


class _OncePerInterval:
    """The same warning at most every `interval_s`: a backend down under load must not flood the log."""

    def __init__(self, interval_s: float = 10.0) -> None:
        self.interval_s = interval_s
        self.last: dict[str, float] = {}

    def __call__(self, message: str) -> bool:
        now = time.monotonic()
        if now - self.last.get(message, -self.interval_s) < self.interval_s:
            return False
        if len(self.last) > 1000:
            self.last.clear()
        self.last[message] = now
        return True


_warn_due = _OncePerInterval()


class StorageError(TusError):
    status_code = 500
    code = "storage_error"


class InsufficientStorage(TusError):
    """Not a server fault the operator must read a traceback for: the disk is full, which a client can wait out."""

    status_code = 507
    code = "insufficient_storage"

    def __init__(
        self,
        message: str = "no space left on the server; the bytes that fit were kept, resume later",
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message, headers)
        self.stored: int | None = None  # bytes of the request body kept, when the store knows


_OUT_OF_SPACE = frozenset({errno.ENOSPC, errno.EDQUOT})


def is_out_of_space(exc: BaseException) -> bool:
    """A full filesystem or an exhausted quota: both are a 507 for the client, not a server fault."""
    return isinstance(exc, OSError) and exc.errno in _OUT_OF_SPACE


def error_response(exc: TusError, method: str) -> Response:
    if exc.problem is not None:
        return problem_response(exc, exc.problem, method)
    headers = {"Tus-Resumable": TUS_RESUMABLE, "Cache-Control": "no-store", **exc.headers}
    if exc.status_code == 412:
        headers.setdefault("Tus-Version", TUS_VERSION)
    body = b"" if method == "HEAD" else (exc.message.replace("\n", " ") + "\n").encode()
    return Response(body, status_code=exc.status_code, headers=headers, media_type="text/plain; charset=utf-8")


def problem_response(exc: TusError, problem: Problem, method: str) -> Response:
    """RFC 9457 problem details: `title` is the one-line reason a tus client would get as text."""
    document = {"type": problem.type, "title": exc.message.replace("\n", " "), "status": exc.status_code}
    document.update(problem.members)
    body = b"" if method == "HEAD" else json.dumps(document).encode()
    headers = {"Cache-Control": "no-store", **exc.headers}
    return Response(body, status_code=exc.status_code, headers=headers, media_type="application/problem+json")


async def render_error(request: Request, exc: Exception) -> Response:
    """The one exception handler: TusError → its response; anything else → a logged, bodiless-detail 500."""
    unavailable = as_unavailable(exc) if not isinstance(exc, TusError) or exc.status_code >= 500 else None
    if unavailable is not None:
        exc = unavailable
    if isinstance(exc, TusError):
        if isinstance(exc, (BackendUnavailable, HookUnavailable)):
            # Expected while a backend or a hook receiver is away; the hook's own failure is logged already.
            if isinstance(exc, BackendUnavailable) and _warn_due(exc.detail):
                log.warning("%s (answering 503 until it is back)", exc.detail)
        elif isinstance(exc, InsufficientStorage):
            log.warning("%s %s: %s", request.method, request.url.path, exc.message)
        elif exc.status_code >= 500:
            log.error("%s %s: %s", request.method, request.url.path, exc.message, exc_info=exc.__cause__ or exc)
        return error_response(exc, request.method)
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(TusError("internal server error"), request.method)
