"""tusd's hook event names and the `--hooks-enabled` list."""

from __future__ import annotations

from ..constants import DEFAULT_HOOK_EVENTS, HOOK_POST_EVENTS, HOOK_PRE_EVENTS

PRE_EVENTS = HOOK_PRE_EVENTS
POST_EVENTS = HOOK_POST_EVENTS
EVENTS = POST_EVENTS  # what `Hooks.add` callbacks receive
ALL_EVENTS = PRE_EVENTS + POST_EVENTS
DEFAULT_ENABLED = DEFAULT_HOOK_EVENTS


def parse_enabled(value: str) -> frozenset[str]:
    names = frozenset(n.strip() for n in value.split(",") if n.strip())
    unknown = names - set(ALL_EVENTS)
    if unknown:
        raise ValueError(f"unknown hook events: {', '.join(sorted(unknown))} (known: {', '.join(ALL_EVENTS)})")
    return names
