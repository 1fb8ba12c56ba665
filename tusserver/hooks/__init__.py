"""tusd-compatible hooks (v2 JSON): pre-* hooks that can refuse a request, post-* events delivered by a
bounded queue with retries, over HTTP, executable files, gRPC or in-process callbacks.

The rooms, each with one job: `dispatcher` (the `Hooks` facade the app and the upload service call),
`events` (names, `--hooks-enabled`), `payloads` (tusd's request JSON), `responses` (what an answer
does to the client's response), `changes` (`ChangeFileInfo`), `delivery` (one delivery with retries),
`post` (post events, StopUpload), `queue` (the post-hook queue), `progress` (post-receive
throttling), `transports/` (HTTP, file, gRPC).

`tusserver.hooks.Hooks` is public surface (embedding code registers in-process hooks on it)."""

from .delivery import HookFailure, HookHandler, RetryPolicy, Transport
from .dispatcher import HookCallback, Hooks
from .events import ALL_EVENTS, DEFAULT_ENABLED, EVENTS, POST_EVENTS, PRE_EVENTS, parse_enabled
from .payloads import request_json, upload_json
from .responses import HookReply, hook_reply, rejection

__all__ = [
    "ALL_EVENTS",
    "DEFAULT_ENABLED",
    "EVENTS",
    "POST_EVENTS",
    "PRE_EVENTS",
    "HookCallback",
    "HookFailure",
    "HookHandler",
    "HookReply",
    "Hooks",
    "RetryPolicy",
    "Transport",
    "hook_reply",
    "parse_enabled",
    "rejection",
    "request_json",
    "upload_json",
]
