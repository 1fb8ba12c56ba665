"""The two protocols the client speaks on the same endpoint: tus 1.0 (`--protocol tus`) and the IETF
draft "Resumable Uploads for HTTP" at interop version 8 (`--protocol ietf`). What differs is only
which fields a request carries and which status a HEAD answers; the upload loop is the same.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

OCTET = "application/offset+octet-stream"
PARTIAL = "application/partial-upload"
IETF_INTEROP = "8"
# --checksum as a `Content-Digest` (RFC 9530) algorithm: the draft has no Upload-Checksum.
_DIGESTS = {"sha256": "sha-256", "sha512": "sha-512"}


@dataclass(frozen=True)
class Dialect:
    name: str  # "tus" or "ietf"

    @property
    def ietf(self) -> bool:
        return self.name == "ietf"

    @property
    def headers(self) -> dict[str, str]:
        """On every request."""
        return {"Upload-Draft-Interop-Version": IETF_INTEROP} if self.ietf else {"Tus-Resumable": "1.0.0"}

    @property
    def head_status(self) -> int:
        return 204 if self.ietf else 200

    def creation(self) -> dict[str, str]:
        """A creation without content: the bytes follow in appends."""
        return {"Upload-Complete": "?0"} if self.ietf else {}

    def append(self, offset: int, end: int, length: int) -> dict[str, str]:
        headers = {"Upload-Offset": str(offset), "Content-Length": str(end - offset)}
        if self.ietf:
            headers["Content-Type"] = PARTIAL
            headers["Upload-Complete"] = "?1" if end == length else "?0"
        else:
            headers["Content-Type"] = OCTET
        return headers

    def checksum(self, tus_value: str) -> dict[str, str]:
        """The per-append checksum field from tus's `<algorithm> <base64>`."""
        if not self.ietf:
            return {"Upload-Checksum": tus_value}
        algorithm, _, encoded = tus_value.partition(" ")
        try:
            base64.b64decode(encoded, validate=True)
        except binascii.Error:
            raise ValueError(f"{tus_value!r} is not '<algorithm> <base64>'") from None
        return {"Content-Digest": f"{_DIGESTS[algorithm]}=:{encoded}:"}

    def check(self, parallel: int, checksum: str | None) -> str | None:
        """Why these options cannot go with this protocol; None when they can."""
        if not self.ietf:
            return None
        if parallel > 1:
            return "--parallel needs --protocol tus (the draft has no concatenation)"
        if checksum is not None and checksum not in _DIGESTS:
            return f"--checksum {checksum} needs --protocol tus (the draft's Content-Digest takes sha256, sha512)"
        return None
