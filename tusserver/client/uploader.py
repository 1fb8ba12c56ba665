"""Uploading one file: sequentially in chunks, or as N partial uploads merged by concatenation.

Every step can be interrupted (network, server restart, SIGKILL of this process) and resumed: the
upload URLs are recorded before any byte is sent, and the offset is always asked of the server
(HEAD), never guessed.
"""

from __future__ import annotations

import base64
import hashlib
import os
import time
import zlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import httpx

from .errors import IntegrityError, UploadError
from .options import UploadOptions, default_resume_file
from .progress import Progress, human_size
from .resume import ResumeStore, fingerprint
from .session import RETRY_STATUSES, RateLimiter, Session, TokenHolder, describe_network_error, read_range

_BLOCK = 256 * 1024


@dataclass
class Context:
    path: str
    size: int
    options: UploadOptions
    limiter: RateLimiter
    progress: Progress
    report: Callable[[], None]


def _metadata_header(metadata: dict[str, str]) -> str:
    return ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in metadata.items())


def _checksum(path: str, start: int, end: int, algorithm: str) -> str:
    hasher: object
    if algorithm == "crc32":
        value = 0
        with open(path, "rb") as fh:
            fh.seek(start)
            left = end - start
            while left > 0:
                data = fh.read(min(4 << 20, left))
                value = zlib.crc32(data, value)
                left -= len(data)
        return f"crc32 {base64.b64encode(value.to_bytes(4, 'big')).decode()}"
    hasher = hashlib.new(algorithm)
    with open(path, "rb") as fh:
        fh.seek(start)
        left = end - start
        while left > 0:
            data = fh.read(min(4 << 20, left))
            hasher.update(data)
            left -= len(data)
    return f"{algorithm} {base64.b64encode(hasher.digest()).decode()}"


def file_digest(path: str, quiet: bool) -> str:
    """`Repr-Digest` of the whole file (sha-256), with its own progress bar: big files take a while."""
    size = os.path.getsize(path)
    progress = Progress(os.path.basename(path), size, quiet=quiet, label="hashing")
    hasher = hashlib.sha256()
    with open(path, "rb") as fh:
        while data := fh.read(4 << 20):
            hasher.update(data)
            progress.advance(len(data))
    progress.close()
    return f"sha-256=:{base64.b64encode(hasher.digest()).decode()}:"


def _offset_of(session: Session, url: str) -> int | None:
    """The server's offset for an upload, or None when it is gone (404/410)."""
    response = session.retrying("HEAD", url)
    if response.status_code in (404, 410, 403):
        return None
    if response.status_code != session.dialect.head_status or "upload-offset" not in response.headers:
        raise UploadError(f"HEAD {url} answered {response.status_code}")
    return int(response.headers["upload-offset"])


def send_range(ctx: Context, session: Session, url: str, base: int, length: int, offset: int, done: list[int]) -> None:
    """PATCH bytes [base + offset, base + length) of the file to `url`, resuming after any failure."""
    options = ctx.options
    attempt = 0
    integrity_failures = 0
    while offset < length:
        end = min(offset + options.chunk_size, length)
        headers = session.dialect.append(offset, end, length)
        if options.checksum:
            checksum = _checksum(ctx.path, base + offset, base + end, options.checksum)
            headers.update(session.dialect.checksum(checksum))
        body = read_range(ctx.path, base + offset, base + end, _BLOCK, ctx.limiter, ctx.progress.advance)
        try:
            response = session.request("PATCH", url, headers, content=body)
            status = response.status_code
        except httpx.TransportError as exc:
            status = -1
            why = f"PATCH failed: {describe_network_error(exc)}"
        else:
            why = f"PATCH answered {status}"
        if status == 204:
            offset = int(response.headers["upload-offset"])
            done[0] = offset
            attempt = 0
            ctx.report()
            continue
        if status == 460:
            integrity_failures += 1
            if integrity_failures > options.retries:
                raise IntegrityError(
                    f"the server rejected the bytes of {ctx.path} as corrupt {integrity_failures} times"
                )
        elif status == 400 and (stored := _offset_of(session, url)) is not None and stored > offset:
            # Cut short by another request for this upload (a HEAD from a stale run, a second client): the
            # server kept the bytes and answered 400, as tusd does. A 400 that stored nothing is a real error.
            offset = done[0] = stored
            ctx.report()
            continue
        elif status not in (-1, 401, 409, *RETRY_STATUSES):
            raise UploadError(f"PATCH {url} answered {status}: {response.text.strip()[:200]}")
        if attempt >= options.retries:
            raise UploadError(f"PATCH {url} kept failing ({why})")
        session.backoff(attempt, why)
        attempt += 1
        known = _offset_of(session, url)
        if known is None:
            raise UploadError(f"upload {url} disappeared from the server")
        offset = known
        done[0] = offset
        ctx.report()


class Uploader:
    def __init__(self, path: str, endpoint: str, options: UploadOptions, tokens: TokenHolder, quiet: bool) -> None:
        self.path = path
        self.endpoint = endpoint
        self.options = options
        self.tokens = tokens
        self.size = os.path.getsize(path)
        resume_path = (options.resume_file or default_resume_file()) if options.resume else None
        self.resume = ResumeStore(resume_path)
        self.key = fingerprint(path, endpoint, options.parallel, options.chunk_size)
        self.progress = Progress(os.path.basename(path), self.size, quiet=quiet)
        self.limiter = RateLimiter(options.limit_rate)
        self.metadata = {"filename": os.path.basename(path), **options.metadata}
        self.digest = file_digest(path, quiet) if options.dedup else None
        self.parts_done: list[list[int]] = []

    def report(self) -> None:
        done = sum(d[0] for d in self.parts_done)
        self.progress.set(done)
        if self.options.progress is not None:
            self.options.progress(done, self.size)

    def context(self) -> Context:
        return Context(self.path, self.size, self.options, self.limiter, self.progress, self.report)

    def session(self) -> Session:
        return Session(self.options, self.tokens, self.progress.say)

    def resuming(self, offset: int, url: str, known: bool = True) -> None:
        """The server already holds `offset` bytes: say so, and keep them out of the rate. `known`: the
        upload existed before this run (a resume, even at 0: a cut checksummed PATCH keeps nothing)."""
        self.progress.resume_from(offset)
        if offset >= self.size:
            self.progress.say(f"already on the server: nothing to send ({url})")
        elif known:
            percent = 100 * offset / self.size
            self.progress.say(f"resuming at {offset} of {self.size} bytes ({percent:.0f}%) of {url}")
        else:
            self.progress.say(f"sending {human_size(self.size)} to {url}")

    def run(self) -> str:
        session = self.session()
        try:
            if self.options.parallel > 1 and self.size >= self.options.parallel:
                url = self._parallel(session)
            else:
                url = self._sequential(session)
        finally:
            session.close()
            self.progress.close()
        self.resume.remove(self.key)
        self.progress.summary()
        return url

    def _create(self, session: Session, length: int, extra: dict[str, str]) -> httpx.Response:
        headers = {"Upload-Length": str(length), **session.dialect.creation(), **extra}
        if self.metadata:
            headers["Upload-Metadata"] = _metadata_header(self.metadata)
        response = session.retrying("POST", self.endpoint, headers)
        if response.status_code != 201:
            raise UploadError(f"creating the upload answered {response.status_code}: {response.text.strip()[:200]}")
        return response

    def _absolute(self, location: str) -> str:
        return str(httpx.URL(self.endpoint).join(location))

    def _sequential(self, session: Session) -> str:
        done = [0]
        self.parts_done = [done]
        entry = self.resume.get(self.key)
        url = entry.get("url") if entry else None
        offset = _offset_of(session, url) if url else None
        known = url is not None and offset is not None
        if url is None or offset is None:
            extra = {"Repr-Digest": self.digest} if self.digest else {}
            response = self._create(session, self.size, extra)
            url = self._absolute(response.headers["location"])
            offset = int(response.headers.get("upload-offset", "0"))
            self.resume.put(self.key, {"url": url, "endpoint": self.endpoint})
        self.resuming(offset, url, known)
        done[0] = offset
        self.report()
        send_range(self.context(), session, url, 0, self.size, offset, done)
        return url

    def _parallel(self, session: Session) -> str:
        entry = self.resume.get(self.key) or {}
        final = entry.get("final")
        if final and _offset_of(session, final) is not None:
            self.resuming(self.size, final)
            return self._await_final(session, final)
        if self.digest and not entry.get("parts"):
            probe = self._create(session, self.size, {"Repr-Digest": self.digest})
            if probe.headers.get("upload-offset") == str(self.size):
                url = self._absolute(probe.headers["location"])
                self.resuming(self.size, url)
                return url  # instant upload: nothing to send
            session.request("DELETE", self._absolute(probe.headers["location"]))
        count = self.options.parallel
        bounds = [self.size * i // count for i in range(count + 1)]
        urls: list[str] = list(entry.get("parts") or [])
        resumed = bool(urls)
        offsets: list[int] = []
        for index in range(count):
            length = bounds[index + 1] - bounds[index]
            known = _offset_of(session, urls[index]) if index < len(urls) else None
            if known is None:
                response = self._create(session, length, {"Upload-Concat": "partial"})
                urls[index : index + 1] = [self._absolute(response.headers["location"])]
                known = 0
                self.resume.put(self.key, {"parts": urls, "endpoint": self.endpoint})
            offsets.append(known)
        self.resuming(sum(offsets), f"{count} partial uploads", resumed)
        self.parts_done = [[o] for o in offsets]
        self.report()
        ctx = self.context()

        def run_part(index: int) -> None:
            # One token for every part: rotated tokens are scoped to the owner, not to one upload.
            part_session = self.session()
            try:
                length = bounds[index + 1] - bounds[index]
                send_range(
                    ctx, part_session, urls[index], bounds[index], length, offsets[index], self.parts_done[index]
                )
            finally:
                part_session.close()

        with ThreadPoolExecutor(max_workers=count) as pool:
            for future in [pool.submit(run_part, i) for i in range(count)]:
                future.result()
        headers = {"Upload-Concat": "final;" + " ".join(urls)}
        if self.metadata:
            headers["Upload-Metadata"] = _metadata_header(self.metadata)
        if self.digest:
            headers["Repr-Digest"] = self.digest
        response = session.retrying("POST", self.endpoint, headers)
        if response.status_code != 201:
            raise UploadError(f"the final concatenation answered {response.status_code}: {response.text.strip()[:200]}")
        final = self._absolute(response.headers["location"])
        self.resume.put(self.key, {"parts": urls, "final": final, "endpoint": self.endpoint})
        return self._await_final(session, final)

    def _await_final(self, session: Session, url: str, timeout_s: float = 600) -> str:
        """The server assembles the parts in the background; done when its offset reaches the length."""
        deadline = time.monotonic() + timeout_s
        delay = 0.05
        while time.monotonic() < deadline:
            response = session.retrying("HEAD", url)
            if response.status_code in (404, 410):
                raise IntegrityError(f"the server discarded the assembled upload {url} (digest mismatch?)")
            if response.headers.get("upload-offset") == str(self.size):
                return url
            time.sleep(delay)  # polling the server's assembly, with a growing interval
            delay = min(delay * 2, 2.0)
        raise UploadError(f"the server did not finish assembling {url} within {timeout_s:.0f} s")


def upload_file(path: str | os.PathLike[str], endpoint: str, options: UploadOptions | None = None,
                *, quiet: bool = True) -> str:  # fmt: skip
    """Upload one file and return its upload URL once the server has stored every byte."""
    options = options or UploadOptions()
    tokens = TokenHolder(options.token, options.token_command)
    return Uploader(os.fspath(path), endpoint, options, tokens, quiet).run()
