"""tusd's HTTP hooks (`--hooks-url`): the hook JSON POSTed to one URL, tusd's response JSON back."""

from __future__ import annotations

from typing import Any

import httpx

from ..delivery import HookFailure
from .answer import MAX_ANSWER_BYTES, parse_response, read_capped


class HttpTransport:
    """POSTs tusd's hook JSON; 2xx is success (tusd wants 200; 204 and friends are taken as "no opinion").

    Worth retrying: connection errors, timeouts, 429 and 5xx. Any other status is the receiver's
    answer and is not retried.
    """

    name = "http"

    def __init__(self, url: str, timeout_s: float) -> None:
        self.url = url
        self.timeout_s = timeout_s
        self._client: httpx.AsyncClient | None = None

    async def call(self, hook_type: str, body: bytes) -> dict[str, Any] | None:
        if self._client is None:
            limits = httpx.Limits(max_connections=256, max_keepalive_connections=64)
            self._client = httpx.AsyncClient(timeout=self.timeout_s, limits=limits)
        try:
            async with self._client.stream(
                "POST", self.url, content=body, headers={"Content-Type": "application/json", "Hook-Name": hook_type}
            ) as response:
                if response.status_code >= 500 or response.status_code == 429:
                    raise HookFailure(f"{self.url} answered {response.status_code}", retry=True)
                if not 200 <= response.status_code < 300:
                    raise HookFailure(f"{self.url} answered {response.status_code}", retry=False)
                declared = response.headers.get("Content-Length", "")
                if declared.isdigit() and int(declared) > MAX_ANSWER_BYTES:
                    raise HookFailure(f"{self.url} answered more than {MAX_ANSWER_BYTES} bytes", retry=False)
                raw = await read_capped(response.aiter_bytes(), self.url)
        except httpx.HTTPError as exc:
            raise HookFailure(f"{self.url}: {type(exc).__name__} {exc}".strip(), retry=True) from None
        return parse_response(raw, self.url)

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None
