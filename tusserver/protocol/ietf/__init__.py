"""Resumable Uploads for HTTP (draft-ietf-httpbis-resumable-upload) beside tus 1.0 on the same endpoint.

`routes.py` picks per request: a request with `Upload-Draft-Interop-Version` goes to `IetfHandler`
with its `Draft` (versions.py), one without to the tus handlers. docs/ietf.md says what differs.
"""

from __future__ import annotations

from .handler import IetfHandler
from .problems import as_problems
from .versions import DRAFTS, Draft, draft_of

__all__ = ["DRAFTS", "Draft", "IetfHandler", "as_problems", "draft_of"]
