"""Upload sets on local disk: one journal file per group, appended to in place, shared by every worker.

`<directory>/<group>.set` starts with a fixed-width header (the member count, kept only for a
`counted` set, and the file's size at its last compaction) and then one line per change:
`+<member> <epoch seconds>` or `-<member>`. The members are what replaying the lines leaves.

Why a journal and not a file per member (as before): on ext4 each new file walks past the inodes
freed lately (`find_inode_bit` -> `recently_deleted`), and an entry file plus a group directory made
and removed per upload were two of the five files a small upload made (issue #28). Appending a line
makes no file; a group's journal is made once and lives as long as the group has members, or for
ever for the few long-lived groups (owners, the tombstones).

Every change runs under `flock(LOCK_EX)` on the journal, so workers never lose each other's lines.
A compaction (when the journal has grown past twice its last compacted size plus `SLACK`) writes
the live members to a temporary file and renames it over the journal, one new file per thousands
of changes; a process that locked the old inode notices the rename and retries on the new one.

Crash safety (`kill -9` between any two writes): a change is one `pwrite` of a whole line, which
the process either made or not, and a counted set writes the count so that a crash leaves it too
high, never too low: an add raises the count before its line, a remove drops its line before the
count. A count that is too high only refuses a POST after `repair` recounted from the lines (see
`uploads/limits.py`), so a crash never lets an owner past the cap. A compaction killed before its
rename leaves a temporary file, overwritten by the next compaction, and the journal as it was.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import itertools
import os
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

from ..errors import StorageError
from .upload_sets import weight_of

SUFFIX = ".set"
HEADER = 32  # "<count> <compacted size>", space-padded, ending in a newline
# Bytes of lines a journal may gain past twice its compacted size before it is compacted. Every change of
# a counted set reads the whole journal: at 64 KiB that read and its search were 5.8 % of a small upload's
# server CPU (perf, 64 clients); at 16 KiB a compaction (one new file) comes every ~200 uploads of one owner.
SLACK = 16 * 1024


class FileUploadSets:
    """`<directory>/<group>.set` journals; with `drop_empty`, a group's journal goes once it is empty
    (for groups that come and go, like the finals waiting on one part)."""

    def __init__(self, directory: Path, counted: bool = False, drop_empty: bool = False) -> None:
        self.directory = Path(directory)
        self.counted = counted
        self.drop_empty = drop_empty

    def _path(self, group: str) -> str:
        return f"{self.directory}{os.sep}{group}{SUFFIX}"

    async def add(self, group: str, member: str) -> int | None:
        """For a counted set, the group's count after the add (read under the same lock, so the caller
        needs no second open to check a cap); None otherwise."""
        line = f"+{member} {time.time():.3f}\n".encode()
        try:
            with self._locked(group, create=True) as journal:
                assert journal is not None
                fd, size = journal
                data = _read(fd, size) if self.counted else None
                if size < HEADER:
                    _write_header(fd, 0, HEADER)
                    size = HEADER
                count = compacted = None
                if data is not None:
                    count, compacted = _header(data)
                    if _is_member(data, member):
                        return count
                    count += weight_of(member)
                    _write_header(fd, count, compacted)  # before the line: a crash leaves it high, not low
                os.pwrite(fd, line, size)
                self._compact_if_grown(group, fd, size + len(line), compacted)
                return count
        except OSError as exc:
            raise StorageError(f"cannot record upload {member}: {exc.strerror}") from exc

    async def remove(self, group: str, member: str) -> None:
        try:
            with self._locked(group, create=False) as journal:
                if journal is None:
                    return
                fd, size = journal
                reads = self.counted or self.drop_empty
                data = _read(fd, size) if reads else b""
                if reads and not _is_member(data, member):
                    return
                size = max(size, HEADER)
                line = f"-{member}\n".encode()
                os.pwrite(fd, line, size)
                count, compacted = _header(data)
                if self.counted:
                    count = max(0, count - weight_of(member))
                    _write_header(fd, count, compacted)  # after the line, for the same reason as in `add`
                if self.drop_empty and not _replay(data + line):
                    os.unlink(self._path(group))  # while locked: a waiter on this inode sees it gone and retries
                    return
                self._compact_if_grown(group, fd, size + len(line), compacted if reads else None)
        except OSError:
            return  # a disk error: the entry is a hint, re-checked by whoever reads it

    async def count(self, group: str, limit: int) -> int:
        if not self.counted:
            return min(limit, sum(map(weight_of, self._members_sync(group))))
        try:
            fd = os.open(self._path(group), os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            return 0
        try:
            fcntl.flock(fd, fcntl.LOCK_SH)
            return min(limit, _header(os.pread(fd, HEADER, 0))[0])
        finally:
            os.close(fd)

    async def repair(self, group: str) -> None:
        if not self.counted:
            return
        with contextlib.suppress(OSError), self._locked(group, create=False) as journal:
            if journal is not None:
                fd, size = journal
                data = _read(fd, size)
                _write_header(fd, sum(map(weight_of, _replay(data))), _header(data)[1])

    async def members(self, group: str, limit: int) -> dict[str, float]:
        return dict(itertools.islice(self._members_sync(group).items(), limit))

    async def walk(self) -> AsyncIterator[tuple[str, str, float]]:
        """One group at a time, each read in a thread: a group holds at most `--max-unfinished`
        members, or every unfinished upload of anonymous clients when there is no cap."""
        loop = asyncio.get_running_loop()
        for group in await loop.run_in_executor(None, self._groups):
            for member, added in (await loop.run_in_executor(None, self._members_sync, group)).items():
                yield group, member, added

    def _groups(self) -> list[str]:
        try:
            with os.scandir(self.directory) as entries:
                return [entry.name[: -len(SUFFIX)] for entry in entries if entry.name.endswith(SUFFIX)]
        except FileNotFoundError:
            return []

    def _members_sync(self, group: str) -> dict[str, float]:
        try:
            fd = os.open(self._path(group), os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            return {}
        try:
            fcntl.flock(fd, fcntl.LOCK_SH)  # a compaction renames only while holding LOCK_EX: this inode is whole
            return _replay(_read(fd, os.fstat(fd).st_size))
        finally:
            os.close(fd)

    @contextlib.contextmanager
    def _locked(self, group: str, create: bool) -> Iterator[tuple[int, int] | None]:
        """The group's journal open and exclusively locked, and its size (None if it does not exist and not
        `create`)."""
        path = self._path(group)
        flags = os.O_RDWR | os.O_CLOEXEC | (os.O_CREAT if create else 0)
        for _ in range(100):  # bounded: each round loses only to a compaction or a drop that just happened
            try:
                fd = os.open(path, flags, 0o644)
            except FileNotFoundError:
                if not create:
                    yield None
                    return
                self.directory.mkdir(parents=True, exist_ok=True)
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                mine = os.fstat(fd)
                try:
                    current = os.stat(path)
                except FileNotFoundError:
                    current = None
                if current is not None and (current.st_dev, current.st_ino) == (mine.st_dev, mine.st_ino):
                    yield fd, mine.st_size
                    return
            finally:
                os.close(fd)
        raise OSError(0, f"journal {path} kept changing")

    def _compact_if_grown(self, group: str, fd: int, size: int, compacted: int | None = None) -> None:
        """`compacted`: the header's, when the caller read it under this lock (else it is read here)."""
        if compacted is None:
            compacted = _header(os.pread(fd, HEADER, 0))[1]
        if size <= 2 * compacted + SLACK:
            return
        live = _replay(_read(fd, size))
        lines = b"".join(f"+{member} {added:.3f}\n".encode() for member, added in live.items())
        tmp = f"{self._path(group)}.tmp"  # one name: only the lock holder compacts
        try:
            out = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
            try:
                count = sum(map(weight_of, live)) if self.counted else 0
                os.write(out, _header_bytes(count, HEADER + len(lines)) + lines)
            finally:
                os.close(out)
            os.replace(tmp, self._path(group))  # still holding the old inode's lock: waiters retry on this one
        except OSError:
            with contextlib.suppress(OSError):
                os.unlink(tmp)  # e.g. a full disk: the journal stays as it was, compacted another time


def _read(fd: int, size: int) -> bytes:
    """The journal's first `size` bytes (its size as the caller found it under the lock)."""
    data = os.pread(fd, size, 0)
    while len(data) < size:  # rare on regular files
        more = os.pread(fd, size - len(data), len(data))
        if not more:
            break
        data += more
    return data


def _header_bytes(count: int, compacted: int) -> bytes:
    return f"{count} {compacted}".encode().ljust(HEADER - 1) + b"\n"


def _write_header(fd: int, count: int, compacted: int) -> None:
    os.pwrite(fd, _header_bytes(count, compacted), 0)  # fixed width: in place, never torn by a process death


def _header(data: bytes) -> tuple[int, int]:
    try:
        count, compacted = data[:HEADER].split()
        return int(count), int(compacted)
    except ValueError:
        return 0, HEADER


def _is_member(data: bytes, member: str) -> bool:
    """Whether the member's last line adds it (the header ends in a newline, so every line follows one)."""
    name = member.encode()
    added = data.rfind(b"\n+" + name + b" ")
    return added >= 0 and data.find(b"\n-" + name + b"\n", added) < 0  # only a removal after the add counts


def _replay(data: bytes) -> dict[str, float]:
    live: dict[str, float] = {}
    lines = data[HEADER:].split(b"\n")
    for line in lines[:-1]:  # the piece after the last newline is empty, or a line a power loss cut
        if line.startswith(b"+"):
            name, _, added = line[1:].partition(b" ")
            try:
                live[name.decode()] = float(added)
            except ValueError:
                continue
        elif line.startswith(b"-"):
            live.pop(line[1:].decode(), None)
    return live
