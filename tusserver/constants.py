"""Protocol constants shared by the handlers and the error renderer."""

from __future__ import annotations

TUS_RESUMABLE = "1.0.0"
TUS_VERSION = "1.0.0"
OFFSET_CONTENT_TYPE = "application/offset+octet-stream"
MAX_INT = 2**63 - 1  # the largest length or offset a header may carry

TUS_HEADERS = (
    "Tus-Resumable",
    "Tus-Version",
    "Tus-Extension",
    "Tus-Max-Size",
    "Tus-Checksum-Algorithm",
    "Upload-Length",
    "Upload-Offset",
    "Upload-Metadata",
    "Upload-Defer-Length",
    "Upload-Concat",
    "Upload-Expires",
    "Upload-Checksum",
    "Repr-Digest",
)

# Scope extension (and ASGI message type) of the informational responses our HTTP layer can send.
INFORMATIONAL = "http.response.informational"

# The resumable-upload draft's fields (docs/ietf.md), exposed to and allowed from browsers with the tus ones.
IETF_HEADERS = ("Upload-Complete", "Upload-Limit", "Upload-Draft-Interop-Version")

# tusd's hook events (tusserver.hooks), here so that `Settings` can name the default without importing
# the hooks. The default is tusd's `-hooks-enabled-events`: pre-access (a round trip per
# request), pre-finish and pre-terminate are opt-in.
HOOK_PRE_EVENTS = ("pre-create", "pre-access", "pre-terminate", "pre-finish")
HOOK_POST_EVENTS = ("post-create", "post-receive", "post-finish", "post-terminate")
DEFAULT_HOOK_EVENTS = "pre-create,post-create,post-receive,post-terminate,post-finish"
