"""What differs between the interop versions of draft-ietf-httpbis-resumable-upload we speak: one table.

    interop 5  draft -03            no media type on PATCH, no Upload-Limit, no problem types
    interop 6  drafts -04 and -05   application/partial-upload, Upload-Limit with `expires`,
                                    problem types mismatching-upload-offset and completed-upload
    interop 8  drafts -09 to -11    Upload-Limit with `max-age` (also on HEAD and the 104), the
               and the editor's     inconsistent-upload-length problem type, no completed-upload
               draft                type, no 400 for upload fields on HEAD/DELETE, GET retrieves the
                                    offset as HEAD does

The handler (`handler.py`) asks the table, never the number. docs/ietf.md has the long version.
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request

from ...errors import BadRequest
from .fields import parse_integer

INTEROP_HEADER = "upload-draft-interop-version"
_INTEROP_RAW = INTEROP_HEADER.encode()
PARTIAL_UPLOAD = "application/partial-upload"
PROBLEM_BASE = "https://iana.org/assignments/http-problem-types#"


@dataclass(frozen=True)
class Draft:
    interop: int
    drafts: str
    patch_media_type: str | None  # the Content-Type a PATCH must carry (415 otherwise); None: any
    upload_limit: bool  # has the `Upload-Limit` field (OPTIONS, creation, HEAD)
    lifetime_key: str | None  # the Upload-Limit member that tells the upload's remaining lifetime
    limit_on_interim: bool  # Upload-Limit on the creation's 104 too
    forbidden_on_head: tuple[str, ...]  # request fields that make HEAD and DELETE a 400
    replays_completion: bool  # an empty `Upload-Complete: ?1` append to a complete upload succeeds again
    get_retrieves_offset: bool  # GET on the upload URL answers as HEAD does (else it is the download)
    problem_types: frozenset[str]  # the draft's problem types this version defines

    def problem_type(self, name: str) -> str:
        return PROBLEM_BASE + name if name in self.problem_types else "about:blank"


DRAFTS: dict[int, Draft] = {
    5: Draft(
        interop=5,
        drafts="-03",
        patch_media_type=None,
        upload_limit=False,
        lifetime_key=None,
        limit_on_interim=False,
        forbidden_on_head=("upload-offset", "upload-complete"),
        replays_completion=False,
        get_retrieves_offset=False,
        problem_types=frozenset(),
    ),
    6: Draft(
        interop=6,
        drafts="-04, -05",
        patch_media_type=PARTIAL_UPLOAD,
        upload_limit=True,
        lifetime_key="expires",
        limit_on_interim=True,
        forbidden_on_head=("upload-offset", "upload-complete", "upload-length"),
        replays_completion=False,
        get_retrieves_offset=False,
        problem_types=frozenset({"mismatching-upload-offset", "completed-upload"}),
    ),
    8: Draft(
        interop=8,
        drafts="-09 to -11 and the editor's draft",
        patch_media_type=PARTIAL_UPLOAD,
        upload_limit=True,
        lifetime_key="max-age",
        limit_on_interim=True,
        forbidden_on_head=(),
        replays_completion=True,
        get_retrieves_offset=True,
        problem_types=frozenset({"mismatching-upload-offset", "inconsistent-upload-length"}),
    ),
}
SUPPORTED = ", ".join(str(v) for v in DRAFTS)


def draft_of(request: Request) -> Draft | None:
    """The draft a request speaks; None for tus 1.0 (no interop header). 400 for a version we do not speak."""
    # Every tus request asks this first: one pass over the raw headers, no exception for a missing one
    # (Headers.get raises and catches a KeyError; bench/instructions.py counted it).
    for name, raw in request.scope["headers"]:
        if name == _INTEROP_RAW:
            return _draft(raw.decode("latin-1"))
    return None


def _draft(value: str) -> Draft:
    try:
        version = parse_integer("Upload-Draft-Interop-Version", value)
    except BadRequest:
        version = None
    draft = DRAFTS.get(version) if version is not None else None
    if draft is None:
        raise BadRequest(f"Upload-Draft-Interop-Version {value[:20]!r} is not supported; we speak {SUPPORTED}")
    return draft
