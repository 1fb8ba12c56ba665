"""Uploads on local disk: `<id>` holds the bytes, `<id>.info` the JSON record, `<id>.gone` a tombstone.

A pre-create hook may put the bytes elsewhere in the data directory (`ChangeFileInfo.Storage.Path`,
as tusd's file store does): the record keeps that path (`info.storage[PLACED]`, relative), and every
request reads it from there; everything else (record, tombstone, markers) stays under the ID. An
upload without it has the same files and the same record as before.

The data file's size is the offset, so after a crash (even `kill -9`) HEAD reports exactly the bytes
on disk and the upload resumes from there. Records are written to a temporary file and renamed, so a
reader never sees half a record. OS errors are translated here, at the boundary.

A full disk must never lock the operator out: a write that runs out of space keeps the bytes that
fit and raises `InsufficientStorage` (507); termination renames the record to the tombstone and
empties it, so it frees space without needing any; a request that fails leaves no temporary file.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
import itertools
import logging
import os
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from ..config import Settings
from ..errors import InsufficientStorage, PlacementRefused, StorageError, UploadGone, UploadNotFound, is_out_of_space
from ..fileops import pwrite_all, read_file, unlink_quietly, write_file
from ..models import UploadInfo
from ..types import ChunkStream
from .base import MODIFIED, READ_PIECE_BYTES, CommitCheck, Store
from .file_sets import FileUploadSets
from .ids import check_upload_id
from .placement import PLACED, relative, requested
from .upload_sets import WAITING_FINALS, UploadSets

T = TypeVar("T")
log = logging.getLogger("tusserver")
_IOV_MAX = 512
LIST_BATCH = 1024  # names per thread hop when listing the directory (see LocalStore.list_ids)


@contextlib.contextmanager
def map_os_errors(upload_id: str) -> Iterator[None]:
    try:
        yield
    except FileNotFoundError as exc:
        raise UploadNotFound() from exc
    except OSError as exc:
        if is_out_of_space(exc):
            raise InsufficientStorage() from exc
        raise StorageError(f"storage failed for upload {upload_id}") from exc


@dataclass(frozen=True)
class LocalConfig:
    """What the file store takes from `Settings`."""

    directory: Path
    write_buffer_bytes: int
    write_in_thread: bool
    write_buffer_total_bytes: int

    @classmethod
    def from_settings(cls, settings: Settings) -> LocalConfig:
        return cls(
            settings.data_dir, settings.write_buffer_bytes, settings.write_in_thread, settings.write_buffer_total_bytes
        )


class LocalStore(Store):
    default_locker = "file"  # locks in a file beside the data: every worker on the host sees them
    shares_disk_index = True

    def __init__(
        self,
        directory: Path,
        write_buffer_bytes: int = 1024 * 1024,
        write_in_thread: bool = False,
        write_buffer_total_bytes: int = 16 * 1024 * 1024,
    ) -> None:
        self.directory = Path(directory).resolve()
        self._prefix = f"{self.directory}{os.sep}"
        self.write_buffer_bytes = write_buffer_bytes
        self.write_buffer_total_bytes = write_buffer_total_bytes
        self._writing = 0  # write_chunk calls running in this process: they share the buffer budget
        self.write_in_thread = write_in_thread

    @classmethod
    def from_settings(cls, settings: Settings) -> LocalStore:
        config = LocalConfig.from_settings(settings)
        return cls(config.directory, config.write_buffer_bytes, config.write_in_thread, config.write_buffer_total_bytes)

    # -- paths ---------------------------------------------------------------------------------
    # Plain strings, not pathlib, on the per-request paths: see fileops.py.

    def data_path(self, upload_id: str) -> str:
        return f"{self._prefix}{check_upload_id(upload_id)}"

    def _data_file(self, info: UploadInfo) -> str:
        """The upload's bytes: under its ID, or where a pre-create hook placed them (checked again: a
        record is trusted to be ours, but a path from it must still never leave the data directory)."""
        placed = info.storage.get(PLACED)
        return self.data_path(info.id) if placed is None else f"{self._prefix}{relative(placed)}"

    def _data_file_of(self, upload_id: str) -> str:
        """`_data_file` for an upload known by its ID only: its record says (the default without one)."""
        try:
            info = UploadInfo.from_json(read_file(self._info_path(upload_id)))
        except (FileNotFoundError, ValueError, TypeError):
            return self.data_path(upload_id)
        return self._data_file(info)

    def _info_path(self, upload_id: str) -> str:
        return f"{self._prefix}{check_upload_id(upload_id)}.info"

    def _gone_path(self, upload_id: str) -> str:
        return f"{self._prefix}{check_upload_id(upload_id)}.gone"

    def _unverified_path(self, upload_id: str) -> str:
        return f"{self._prefix}{check_upload_id(upload_id)}.unverified"

    def _verified_offset(self, upload_id: str) -> int | None:
        try:
            return int(read_file(self._unverified_path(upload_id)))
        except (FileNotFoundError, ValueError):
            return None

    def _assembly_path(self, upload_id: str) -> str:
        return f"{self._prefix}{check_upload_id(upload_id)}.assembling"

    async def _run(self, fn: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(None, partial(fn, *args))

    # -- lifecycle -----------------------------------------------------------------------------

    async def prepare(self) -> None:
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            probe = self.directory / f".write-probe-{os.getpid()}"  # one per worker: they start together
            probe.write_bytes(b"")
            probe.unlink(missing_ok=True)
        except OSError as exc:
            if is_out_of_space(exc) and self.directory.is_dir():
                # A full disk is not a broken one: start, so DELETE and expiry can free it.
                log.warning("data directory %s is full; uploads get 507 until space is freed", self.directory)
                return

            raise StorageError(f"data directory {self.directory} is not writable: {exc.strerror}") from exc

    # -- records -------------------------------------------------------------------------------

    def _write_info(self, info: UploadInfo) -> None:
        path = self._info_path(info.id)
        tmp = f"{path}.{os.getpid()}.tmp"
        try:
            write_file(tmp, info.to_json(), os.O_TRUNC)
            os.replace(tmp, path)
        except BaseException:
            unlink_quietly(tmp)  # e.g. ENOSPC: the old record (if any) stays as it was
            raise

    async def create(self, info: UploadInfo) -> None:
        with map_os_errors(info.id):
            data = None
            if PLACED in info.storage:
                # A final's too: the path is taken now, not when it is assembled; empty, it reads as offset 0.
                data = self._create_placed(info)
            elif not info.is_final:
                # Data before record: a record always has its data file, even after a crash in between.
                data = self.data_path(info.id)
                os.close(os.open(data, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
            try:
                self._write_info(info)
            except BaseException:
                if data is not None:
                    unlink_quietly(data)  # no orphan data file for an upload nobody was told about
                raise

    # -- placement (a pre-create hook's ChangeFileInfo.Storage) ---------------------------------------

    async def place(self, info: UploadInfo, storage: Mapping[str, object]) -> None:
        path = f"{self._prefix}{requested(storage, 'Path')}"
        with map_os_errors(info.id):
            self._check_place(path)
        info.storage[PLACED] = path[len(self._prefix) :]

    def _check_place(self, path: str) -> None:
        """The path stays in the data directory once resolved, nothing is there yet, and what exists of
        its directories is directories on the data directory's filesystem (a hard link for instant upload
        and the rename that ends an assembly cannot cross filesystems)."""
        if os.path.realpath(path) != path:
            raise PlacementRefused("Storage.Path goes through a symbolic link")
        if os.path.lexists(path):
            raise PlacementRefused("Storage.Path is taken")
        ancestor = os.path.dirname(path)
        while not os.path.lexists(ancestor):
            ancestor = os.path.dirname(ancestor)
        if not os.path.isdir(ancestor):
            raise PlacementRefused("Storage.Path goes through a file")
        if os.stat(ancestor).st_dev != os.stat(self.directory).st_dev:
            raise PlacementRefused("Storage.Path is on another filesystem than the data directory")

    def _create_placed(self, info: UploadInfo) -> str:
        """Make the placed data file, checked again: another upload may have taken the path since `place`."""
        path = self._data_file(info)
        try:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            self._check_place(path)
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o666))
        except (FileExistsError, NotADirectoryError, PlacementRefused) as exc:
            reason = exc.reason if isinstance(exc, PlacementRefused) else "Storage.Path is taken"
            log.error("upload %s not created at %s: %s", info.id, info.storage[PLACED], reason)
            raise PlacementRefused(reason) from None
        return path

    def location(self, info: UploadInfo) -> dict[str, str]:
        return {"Path": self._data_file(info), "InfoPath": self._info_path(info.id)}

    def _load(self, upload_id: str) -> UploadInfo:
        try:
            raw = read_file(self._info_path(upload_id))
        except FileNotFoundError:
            if os.path.exists(self._gone_path(upload_id)):
                raise UploadGone() from None
            raise UploadNotFound() from None
        info = UploadInfo.from_json(raw)
        try:
            st = os.stat(self._data_file(info))
            info.offset = st.st_size
            info.storage[MODIFIED] = st.st_mtime
            verified = self._verified_offset(upload_id)
            if verified is not None:  # a checksummed chunk is being written, or its writer died
                info.offset = min(info.offset, verified)
        except FileNotFoundError:
            if not info.is_final:  # terminated between the two reads
                raise UploadGone() from None
            info.offset = 0  # a final upload's file appears only once assembled
            info.storage[MODIFIED] = info.created
        return info

    async def get_info(self, upload_id: str) -> UploadInfo:
        with map_os_errors(upload_id):
            return self._load(upload_id)

    async def save_info(self, info: UploadInfo) -> None:
        with map_os_errors(info.id):
            self._write_info(info)

    # -- bytes ---------------------------------------------------------------------------------

    async def write_chunk(self, info: UploadInfo, chunks: ChunkStream, commit_check: CommitCheck | None = None) -> int:
        marker = self._unverified_path(info.id)
        with map_os_errors(info.id):
            fd = os.open(self._data_file(info), os.O_RDWR)  # read too: a direct body is hashed back from it
        try:
            with map_os_errors(info.id):
                if os.fstat(fd).st_size > info.offset:
                    os.ftruncate(fd, info.offset)  # bytes of a checksummed chunk whose writer died unverified
                if commit_check is not None:
                    # Until the chunk is verified, readers (and a restarted server) see the old offset.
                    _mark(marker, info.offset)
                else:
                    unlink_quietly(marker)
            into_file = getattr(chunks, "into_file", None)  # a FileChunkStream (direct_body.py); no isinstance:
            if into_file is not None:  # a runtime Protocol check cost ~5 % of a small upload's instructions
                with map_os_errors(info.id):
                    moved: int | None = await into_file(fd, info.offset)
                if moved is not None:  # the body went socket -> file in a worker thread
                    if commit_check is not None:
                        commit_check()
                        _verified(marker, info, moved)
                    return moved
            writer = _Writer(fd, info.offset, self.write_in_thread)
            pending: list[bytes] = []
            pending_size = 0
            self._writing += 1
            try:
                async for chunk in chunks:
                    pending.append(chunk)
                    pending_size += len(chunk)
                    if pending_size >= self._buffer_bytes() or len(pending) >= _IOV_MAX:
                        with map_os_errors(info.id):
                            await writer.submit(pending, pending_size)
                        pending, pending_size = [], 0
                with map_os_errors(info.id):
                    if pending:
                        await writer.submit(pending, pending_size)
                    written = await writer.finish()
            finally:
                self._writing -= 1
                writer.wait_sync()  # a write still in a thread must end before the descriptor closes
            if commit_check is not None:
                commit_check()
                _verified(marker, info, written)
            return written
        except BaseException as exc:
            # Without a checksum, bytes already written stay and count (disconnect, cancellation, a
            # full disk). With one, nothing of an unverified chunk is kept.
            if commit_check is not None:
                with map_os_errors(info.id):
                    os.ftruncate(fd, info.offset)
                    unlink_quietly(marker)  # rare (a bad chunk, a cut body): never fails, as a rewrite might
            if isinstance(exc, InsufficientStorage):
                exc.stored = max(0, os.fstat(fd).st_size - info.offset)
            raise
        finally:
            os.close(fd)

    async def read(self, info: UploadInfo, start: int, end: int) -> AsyncIterator[bytes]:
        with map_os_errors(info.id):
            fd = os.open(self._data_file(info), os.O_RDONLY)
        try:
            position = start
            while position < end:
                data: bytes = await self._run(os.pread, fd, min(READ_PIECE_BYTES, end - position), position)
                if not data:
                    break
                position += len(data)
                yield data
        finally:
            os.close(fd)

    def _buffer_bytes(self) -> int:
        """This upload's share of the buffer budget: `write_buffer_bytes` alone, an even split when crowded.

        No floor: with 2,000 slow uploads writing at once a 64 KiB one held 45 MB of received bytes
        (about 24 KiB per upload, each waiting a second for its 64 KiB at 64 KiB/s) that the budget was
        meant to cap at 16 MiB. Below the floor's old reach (256 writers) nothing changes, and a piece at
        least as large as the share (a fast upload's are 64-256 KiB) is written as it comes either way.
        """
        return min(self.write_buffer_bytes, self.write_buffer_total_bytes // max(1, self._writing))

    # -- capabilities --------------------------------------------------------------------------

    async def terminate(self, upload_id: str) -> None:
        bytes_paths = (self._data_file_of(upload_id), self._assembly_path(upload_id), self._unverified_path(upload_id))
        with map_os_errors(upload_id):
            try:
                self._bury(upload_id)
            except OSError as exc:
                if not is_out_of_space(exc):
                    raise
                # Renaming needs no space on the filesystems we know of, but a directory that must grow
                # might: free the bytes and try again, and if even that fails, remove the record without
                # a tombstone (a later request gets 404 instead of 410, but the operator gets the space).
                for path in bytes_paths:
                    unlink_quietly(path)
                try:
                    self._bury(upload_id)
                except OSError as again:
                    if not is_out_of_space(again):
                        raise
                    unlink_quietly(self._info_path(upload_id))
            for path in bytes_paths:
                unlink_quietly(path)

    def _bury(self, upload_id: str) -> None:
        """Turn the record into the tombstone in one rename, so a reader always finds one or the other.

        The tombstone is what makes later requests answer 410 rather than 404, and what `_load` finds
        when a termination runs between its reading the record and the data file. It is emptied (its
        age is its mtime), so burying frees the record's space and writes no byte.
        """
        gone = self._gone_path(upload_id)
        try:
            os.replace(self._info_path(upload_id), gone)
        except FileNotFoundError:
            os.close(os.open(gone, os.O_WRONLY | os.O_CREAT, 0o666))  # an inode, no data block
        os.truncate(gone, 0)
        os.utime(gone)

    async def forget_tombstone(self, upload_id: str) -> None:
        unlink_quietly(self._gone_path(upload_id))

    async def concatenate(self, final: UploadInfo, parts: list[UploadInfo]) -> None:
        target = self._assembly_path(final.id)
        sources = [self._data_file(p) for p in parts]
        with map_os_errors(final.id):
            try:
                await self._run(_concatenate_files, sources, target)
                os.replace(target, self._data_file(final))
            except BaseException:
                unlink_quietly(target)  # a half-assembled copy only takes space; HEAD re-triggers assembly
                raise

    async def link(self, source: UploadInfo, target: UploadInfo) -> None:
        # Linked beside and renamed over the target's empty file: its name is never free in between, where
        # another upload placed by a hook could take it (and lose its bytes when this one is terminated).
        with map_os_errors(target.id):
            staging = self._assembly_path(target.id)
            unlink_quietly(staging)
            try:
                os.link(self._data_file(source), staging)
                os.replace(staging, self._data_file(target))
            except BaseException:
                unlink_quietly(staging)
                raise

    async def list_ids(self) -> AsyncIterator[str]:
        """Read from one `scandir` in batches of LIST_BATCH names: a directory of 100,000 uploads never
        becomes one list of 200,000 names. That list, made by every sweep, was the server's largest
        allocation peak, and each peak left Python's allocator with more half-used arenas (soak: RSS
        growing with the number of uploads kept, not with the requests)."""
        with map_os_errors("*"):
            entries = await self._run(os.scandir, self.directory)
        try:
            while True:
                with map_os_errors("*"):
                    names = await self._run(_next_names, entries, LIST_BATCH)
                if not names:
                    return
                for name in names:
                    if name.endswith(".info"):
                        yield name[: -len(".info")]
                    elif name.endswith(".gone"):
                        yield name[: -len(".gone")]
        finally:
            entries.close()

    async def tombstone_time(self, upload_id: str) -> float | None:
        try:
            return os.stat(self._gone_path(upload_id)).st_mtime
        except FileNotFoundError:
            return None

    def upload_sets(self, name: str, counted: bool) -> UploadSets:
        drop_empty = name == WAITING_FINALS  # a group per part: gone once no final waits on it
        return FileUploadSets(self.directory / ".sets" / name, counted, drop_empty)


_MARK_WIDTH = 20  # digits of any offset, space-padded: rewritten in place, never truncated


def _mark(marker: str, offset: int | None) -> None:
    """Write the offset up to which the data file is verified (None: all of it) into the marker in place.

    The marker is made by an upload's first checksummed PATCH and kept, blank, until the upload is
    complete or terminated: making and removing it per PATCH cost an inode allocation each, and on a
    journal-less ext4 every allocation reads past the inodes freed lately (issue #28). A process dying
    between the create and the first write leaves it empty, read as "no marker", which is right: no
    byte of the chunk was written yet. A rewrite of 20 bytes in place needs no space and cannot be torn
    by a process death.
    """
    value = b" " * _MARK_WIDTH if offset is None else str(offset).encode().ljust(_MARK_WIDTH)
    fd = os.open(marker, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o666)
    try:
        pwrite_all(fd, value, 0)
    except OSError:
        os.close(fd)
        unlink_quietly(marker)  # created but empty (ENOSPC): it would only mislead
        raise
    os.close(fd)


def _verified(marker: str, info: UploadInfo, written: int) -> None:
    """The chunk was verified (or dropped): no marker needed; removed once the upload is complete."""
    if info.length is not None and info.offset + written >= info.length:
        unlink_quietly(marker)
    else:
        _mark(marker, None)


def _next_names(entries: Iterator[os.DirEntry[str]], count: int) -> list[str]:
    return [entry.name for entry in itertools.islice(entries, count)]


class _Writer:
    """Writes buffers at consecutive positions, on the loop or (`in_thread`) one at a time in a thread.

    On the loop: a 1 MiB write into the page cache takes far less than a thread hop costs, so the
    default writes inline. In a thread: the write of one buffer overlaps the receiving of the next
    (at most one in flight, so memory stays at two buffers per upload), which keeps a slow or network
    disk from stalling the loop and lets the kernel copy run on a second core.
    """

    def __init__(self, fd: int, position: int, in_thread: bool) -> None:
        self.fd, self.position, self.in_thread = fd, position, in_thread
        self.written = 0
        self._inflight: concurrent.futures.Future[int] | None = None

    async def submit(self, buffers: list[bytes], size: int) -> None:
        await self._collect()
        if not self.in_thread:
            self.written += _pwritev_all(self.fd, buffers, self.position, size)
        else:
            self._inflight = _write_pool().submit(_pwritev_all, self.fd, buffers, self.position, size)
        self.position += size

    async def finish(self) -> int:
        await self._collect()
        return self.written

    async def _collect(self) -> None:
        if self._inflight is not None:
            # Cleared only once done: if this await is cancelled, wait_sync still finds the write.
            self.written += await asyncio.shield(asyncio.wrap_future(self._inflight))
            self._inflight = None

    def wait_sync(self) -> None:
        if self._inflight is not None:
            concurrent.futures.wait([self._inflight])
            self._inflight = None


@functools.cache
def _write_pool() -> concurrent.futures.ThreadPoolExecutor:
    return concurrent.futures.ThreadPoolExecutor(thread_name_prefix="tusserver-write")


def _pwritev_all(fd: int, buffers: list[bytes], position: int, total: int) -> int:
    done = os.pwritev(fd, buffers, position)
    if done < total:  # a short write is rare on regular files; finish it the slow way
        pwrite_all(fd, memoryview(b"".join(buffers))[done:], position + done)
    return total


def _concatenate_files(sources: list[str], target: str) -> None:
    """Copy without reading into Python: copy_file_range (reflinks on CoW filesystems) or sendfile."""
    with open(target, "wb") as out:
        out_fd = out.fileno()
        for source in sources:
            with open(source, "rb") as src:
                size = os.fstat(src.fileno()).st_size
                sent = 0
                while sent < size:
                    n = _copy(src.fileno(), out_fd, sent, size - sent)
                    if n == 0:
                        raise OSError(f"unexpected end of {source}")
                    sent += n
        out.flush()
        os.fsync(out_fd)


def _copy(src: int, dst: int, offset: int, count: int) -> int:
    chunk = min(count, 1 << 30)
    if hasattr(os, "copy_file_range"):
        try:
            copied = os.copy_file_range(src, dst, chunk, offset)
        except OSError:
            copied = 0
        if copied > 0:  # some filesystems answer 0 instead of an error: fall back, don't give up
            return copied
    return os.sendfile(dst, src, offset, chunk)
