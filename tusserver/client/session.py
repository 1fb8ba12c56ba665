"""HTTP with the tus client's rules: newest token always, retries with back-off, a new token on 401.

Why not tuspy underneath: tuspy builds its headers once per uploader and retries internally, so a
token rotated by every response (`X-New-Token`) cannot reach its next retry, and it has no notion of
partial uploads merged by concatenation. Its chunk loop is small; owning it keeps rotation, retries
and parallel parts in one place.
"""

from __future__ import annotations

import random
import re
import ssl
import subprocess
import threading
import time
from collections.abc import Callable, Iterable, Iterator

import httpx

from .dialect import Dialect
from .errors import AuthError, UploadError
from .options import UploadOptions

RETRY_STATUSES = {423, 500, 502, 503, 504, 507}  # 507: the server's disk is full; space may be freed


class TokenHolder:
    """The ONE token this client holds: the newest it received. Rotated tokens are scoped to the owner,
    so every part, the final concatenation and the next file all use it; parts share it, so it is locked.
    """

    def __init__(self, token: str | None, command: str | None) -> None:
        self._token = token
        self._command = command
        self._lock = threading.Lock()
        if self._token is None and command:
            self.refresh()

    @property
    def token(self) -> str | None:
        with self._lock:
            return self._token

    def update(self, response: httpx.Response) -> None:
        fresh = response.headers.get("x-new-token")
        if fresh:
            with self._lock:
                self._token = fresh

    @property
    def can_refresh(self) -> bool:
        return bool(self._command)

    def refresh(self) -> bool:
        """Run --token-command for a new token; False when there is no command.

        Through the shell, as its help says, so `curl -s https://app/token | jq -r .token` works.
        """
        if not self._command:
            return False
        try:
            done = subprocess.run(self._command, shell=True, capture_output=True, text=True, timeout=60)
        except subprocess.TimeoutExpired:
            raise AuthError("--token-command did not finish within 60 s") from None
        token = done.stdout.strip().splitlines()[-1].strip() if done.stdout.strip() else ""
        if done.returncode != 0 or not token:
            detail = done.stderr.strip()[:200] or "it printed no token"
            raise AuthError(f"--token-command failed (exit {done.returncode}): {detail}")
        with self._lock:
            self._token = token
        return True


def refusal(response: httpx.Response, had_token: bool, can_refresh: bool) -> str:
    """A 401 in words: which of no token, a bad one, or an expired one, and what to do about it."""
    if not had_token:
        return "the server needs a token: pass --token or --token-command"
    challenge = response.headers.get("www-authenticate", "")
    match = re.search(r'error_description="([^"]*)"', challenge)
    reason = match.group(1) if match else (response.text.strip()[:200] or "no reason given")
    if can_refresh:
        return f"the server refused the token from --token-command ({reason})"
    return f"the server refused the token ({reason}); pass --token-command so a new one can be fetched"


class Session:
    def __init__(self, options: UploadOptions, tokens: TokenHolder, say: Callable[[str], None] | None = None) -> None:
        self.options = options
        self.tokens = tokens
        self.say = say or (lambda message: None)
        self.dialect = Dialect(options.protocol)
        self.http = httpx.Client(timeout=httpx.Timeout(options.timeout_s, connect=10), verify=tls_verify(options))
        self.bytes_sent = 0

    def close(self) -> None:
        self.http.close()

    def headers(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        headers = {**self.dialect.headers, **self.options.headers, **(extra or {})}
        token = self.tokens.token
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return headers

    def backoff(self, attempt: int, why: str = "") -> None:
        delay = min(self.options.retry_max_s, self.options.retry_base_s * 2**attempt)
        delay *= random.uniform(0.5, 1.0)  # jitter, so parallel parts do not retry in step
        prefix = f"{why}; " if why else ""
        self.say(f"{prefix}retrying in {delay:.1f} s (attempt {attempt + 1} of {self.options.retries})")
        time.sleep(delay)

    def request(
        self,
        method: str,
        url: str,
        headers: dict[str, str] | None = None,
        content: Iterable[bytes] | bytes | None = None,
    ) -> httpx.Response:
        """One request with the newest token; a refused token is refreshed once (if a command is set)."""
        refreshed = False
        while True:
            sent = self.headers(headers)
            response = self.http.request(method, url, headers=sent, content=content)
            self.tokens.update(response)
            if response.status_code != 401:
                return response
            had_token = "Authorization" in sent
            if refreshed or not self.tokens.refresh():
                raise AuthError(refusal(response, had_token, self.tokens.can_refresh))
            self.say("the token was refused; got a new one from --token-command")
            refreshed = True
            if content is not None and not isinstance(content, bytes):
                return response  # a streamed body is spent: the caller resumes with HEAD

    def retrying(self, method: str, url: str, headers: dict[str, str] | None = None) -> httpx.Response:
        """A bodiless request (POST, HEAD) retried on network errors, 423 and 5xx."""
        attempt = 0
        while True:
            try:
                response = self.request(method, url, headers)
            except httpx.TransportError as exc:
                if attempt >= self.options.retries or untrusted_certificate(exc):  # retrying cannot help
                    raise UploadError(f"{method} {url} failed: {describe_network_error(exc)}") from exc
                why = f"{method} failed: {describe_network_error(exc)}"
            else:
                if response.status_code not in RETRY_STATUSES or attempt >= self.options.retries:
                    return response
                why = f"{method} answered {response.status_code}"
            self.backoff(attempt, why)
            attempt += 1


def tls_verify(options: UploadOptions) -> ssl.SSLContext | bool:
    """What httpx checks the server's certificate with: curl's --cacert and --insecure. Otherwise httpx's
    default, which reads SSL_CERT_FILE / SSL_CERT_DIR when they are set."""
    if options.insecure:
        return False
    if options.cacert is not None:
        return ssl.create_default_context(cafile=str(options.cacert))
    return True


def untrusted_certificate(exc: BaseException) -> bool:
    """The TLS handshake failed on the certificate: the same answer however often it is asked."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLCertVerificationError) or "CERTIFICATE_VERIFY_FAILED" in str(seen):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def describe_network_error(exc: httpx.TransportError) -> str:
    if untrusted_certificate(exc):
        return (
            "the server's TLS certificate is not trusted: pass --cacert FILE (or set SSL_CERT_FILE) with the CA "
            "that signed it, or --insecure to skip the check"
        )
    if isinstance(exc, httpx.ConnectError):
        return "cannot connect to the server"
    if isinstance(exc, httpx.TimeoutException):
        return "the server did not answer in time"
    return str(exc) or type(exc).__name__


class RateLimiter:
    """A token bucket shared by every part: `--limit-rate` caps the whole upload, like curl's."""

    def __init__(self, rate: int | None) -> None:
        self.rate = rate
        self._lock = threading.Lock()
        self._next = time.monotonic()

    def wait(self, size: int) -> None:
        if not self.rate:
            return
        with self._lock:
            now = time.monotonic()
            start = max(now, self._next)
            self._next = start + size / self.rate
        delay = start - now
        if delay > 0:
            time.sleep(delay)  # pacing the sender is the point of --limit-rate


def read_range(path: str, start: int, end: int, block: int, limiter: RateLimiter, on_block: object) -> Iterator[bytes]:
    """Stream [start, end) of a file in blocks, paced by the limiter; `on_block(n)` counts progress."""
    with open(path, "rb") as fh:
        fh.seek(start)
        position = start
        while position < end:
            data = fh.read(min(block, end - position))
            if not data:
                raise UploadError(f"{path} became shorter while uploading")
            limiter.wait(len(data))
            position += len(data)
            on_block(len(data))  # type: ignore[operator]
            yield data
