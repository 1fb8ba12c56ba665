"""Errors of a draft request told the draft's way: problem details with the draft's problem types
(where its version defines them), `Upload-Offset` and `Upload-Complete: ?0` on a mismatching offset.

The handlers raise the same `TusError`s as tus; this only decides how `errors.render_error` tells them.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from ...errors import HookRejected, LengthMismatch, OffsetMismatch, Problem, TusError, UploadCompleted
from .versions import Draft


def annotate(exc: TusError, draft: Draft) -> None:
    if isinstance(exc, HookRejected):
        return  # the hook chose status, body and headers: the client gets them as they are
    exc.headers.setdefault("Upload-Draft-Interop-Version", str(draft.interop))
    problem = Problem()
    if isinstance(exc, OffsetMismatch):
        problem = Problem(
            draft.problem_type("mismatching-upload-offset"),
            {"expected-offset": exc.expected, "provided-offset": exc.provided},
        )
        exc.headers["Upload-Offset"] = str(exc.expected)
        exc.headers["Upload-Complete"] = "?0"
    elif isinstance(exc, LengthMismatch):
        problem = Problem(draft.problem_type("inconsistent-upload-length"))
        exc.headers.setdefault("Upload-Complete", "?0")
    elif isinstance(exc, UploadCompleted):
        problem = Problem(draft.problem_type("completed-upload"))
    exc.problem = problem


@contextmanager
def as_problems(draft: Draft) -> Iterator[None]:
    try:
        yield
    except TusError as exc:
        annotate(exc, draft)
        raise
