"""Hashing below every layer that hashes: one `Hasher`, the algorithm registries, `Repr-Digest` values
and digest state that can be saved and resumed elsewhere.

The body pump (`server/`), the header parsers (`protocol/`) and the upload service (`uploads/`) all
feed or compare hashes; keeping the one interface and the registries here lets each import them
downwards instead of the service reaching up into the HTTP layer for checksum types.

- `algorithms`: `Hasher`, the `Upload-Checksum` registry (`ALGORITHMS`, `new_hasher`) and the
  `Repr-Digest` one (`DIGEST_ALGORITHMS`, `new_digest_hasher`), `Checksum` (a parsed Upload-Checksum).
- `repr_digest`: `ReprDigest`, `parse_repr_digest`, `format_repr_digest` (RFC 9530 values).
- `resumable`: SHA-256/512 whose running state saves to bytes (OpenSSL's SHA*_CTX through ctypes).
"""
