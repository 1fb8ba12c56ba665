"""The upload service: what happens to uploads, below the HTTP handlers and above the store.

- `service.Uploads`: create, write, finish, terminate, called by `protocol/` handlers with a `Caller`;
- `assembler.Assembler`: the one owner of final concatenation;
- `expiration.ExpiryPolicy`: when an upload expires (requests and the sweeper ask it);
- `limits`: `--max-unfinished` and final size limits; `ledger.Ledger`: the bookkeeping every ended
  upload needs; `instant.InstantUpload`: linking a new upload to a finished duplicate;
- `state`: per-process state, each behind a small Protocol so a shared implementation can replace it.

Nothing is imported here, so importing a submodule never drags in the rest (nor `protocol/`).
"""
