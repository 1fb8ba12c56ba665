"""`Repr-Digest` values (RFC 9530): parsing a declared digest and formatting a computed one."""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass

from ..errors import BadRequest


@dataclass(frozen=True)
class ReprDigest:
    algorithm: str  # "sha-256" or "sha-512"
    digest: bytes


_DIGEST_LENGTHS = {"sha-256": 32, "sha-512": 64}
_DICT_MEMBER = re.compile(r"\s*([a-z][a-z0-9_.*-]*)\s*=\s*:([A-Za-z0-9+/=]*):\s*(;.*)?")


def parse_repr_digest(value: str | None) -> ReprDigest | None:
    """`Repr-Digest` (RFC 9530, a structured-field dictionary of byte sequences).

    Malformed syntax is 400; algorithms other than sha-256/sha-512 are ignored as the RFC says.
    The strongest supported algorithm wins when several are given.
    """
    if value is None:
        return None
    found: dict[str, bytes] = {}
    for member in value.split(","):
        if not member.strip():
            raise BadRequest("Repr-Digest is not a structured dictionary")
        match = _DICT_MEMBER.fullmatch(member)
        if not match:
            raise BadRequest("Repr-Digest must look like sha-256=:<base64>:")
        alg, encoded = match.group(1), match.group(2)
        try:
            digest = base64.b64decode(encoded, validate=True)
        except binascii.Error:
            raise BadRequest(f"Repr-Digest {alg} value is not base64") from None
        if alg in _DIGEST_LENGTHS:
            if len(digest) != _DIGEST_LENGTHS[alg]:
                raise BadRequest(f"Repr-Digest {alg} must be {_DIGEST_LENGTHS[alg]} bytes")
            found[alg] = digest
    for alg in ("sha-512", "sha-256"):
        if alg in found:
            return ReprDigest(alg, found[alg])
    return None


def format_repr_digest(digest: ReprDigest) -> str:
    return f"{digest.algorithm}=:{base64.b64encode(digest.digest).decode()}:"
