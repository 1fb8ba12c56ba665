"""tusd-compatible hooks (v2 JSON): pre-* hooks that can reject a request, post-* events delivered by a
bounded queue with retries, over HTTP, executable files or in-process callbacks.

`tusserver.hooks.Hooks` is public surface (embedding code registers in-process hooks on it)."""

from .dispatcher import ALL_EVENTS, DEFAULT_ENABLED, EVENTS, POST_EVENTS, PRE_EVENTS, HookFailure, Hooks, parse_enabled

__all__ = [
    "ALL_EVENTS",
    "DEFAULT_ENABLED",
    "EVENTS",
    "POST_EVENTS",
    "PRE_EVENTS",
    "HookFailure",
    "Hooks",
    "parse_enabled",
]
