"""One hook delivery with retries: the same timeouts, back-off and give-up rule for every transport
(and the two kinds of receiver: a `Transport`, an in-process `HookHandler`).

A transport makes ONE attempt and says whether its failure is worth retrying (network, timeout, 5xx);
trying again, waiting between tries and giving up are decided here.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

# An in-process handler gets (hook type, the tusd request JSON as a dict) and returns tusd's response dict.
HookHandler = Callable[[str, dict[str, Any]], Awaitable[Mapping[str, Any] | None]]


class HookFailure(Exception):
    """One delivery failed; `retry` says whether trying again may help (network, timeout, 5xx)."""

    def __init__(self, message: str, retry: bool) -> None:
        super().__init__(message)
        self.retry = retry


class Transport(Protocol):
    name: str

    async def call(self, hook_type: str, body: bytes) -> dict[str, Any] | None:
        """The hook's response JSON (None when this transport has no hook for the type); HookFailure on failure."""


@dataclass
class RetryPolicy:
    timeout_s: float = 10.0
    retries: int = 3
    backoff_s: float = 1.0

    def delay(self, attempt: int) -> float:
        return float(self.backoff_s * 2**attempt)


async def deliver(transport: Transport, hook_type: str, body: bytes, policy: RetryPolicy) -> dict[str, Any] | None:
    """The hook's answer, after as many tries as `policy` allows; HookFailure once they are spent."""
    attempt = 0
    while True:
        try:
            # One deadline for the whole attempt: httpx's timeout is per read, a trickling answer beats it.
            return await asyncio.wait_for(transport.call(hook_type, body), policy.timeout_s + 1)
        except TimeoutError:
            if attempt >= policy.retries:
                raise HookFailure(f"no answer within {policy.timeout_s} s", retry=True) from None
        except HookFailure as exc:
            if not exc.retry or attempt >= policy.retries:
                raise
        await asyncio.sleep(policy.delay(attempt))
        attempt += 1
