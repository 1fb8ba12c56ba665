"""Counting what a server does to its data directory with inotify (through ctypes: no extra package).

Every directory under the watched one is watched too, also those made while watching; a file made in
a new directory before its watch is added can be missed, so a count is a lower bound where
directories come and go (a store that makes none per upload is counted exactly).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import struct
from collections import Counter
from pathlib import Path
from types import TracebackType

IN_CREATE = 0x100
IN_DELETE = 0x200
IN_MOVED_TO = 0x80
IN_ISDIR = 0x40000000
_EVENT = struct.Struct("iIII")


class DirectoryEvents:
    """`with DirectoryEvents(path) as events: ...; events.counts()`: entries created and removed."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        self.fd = -1
        self.watches: dict[int, Path] = {}
        self.created: list[str] = []
        self.removed: list[str] = []

    def __enter__(self) -> DirectoryEvents:
        self.fd = self.libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        if self.fd < 0:
            raise OSError(ctypes.get_errno(), "inotify_init1")
        for directory, _, _ in os.walk(self.root):
            self._watch(Path(directory))
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.drain()
        os.close(self.fd)

    def _watch(self, directory: Path) -> None:
        wd = self.libc.inotify_add_watch(self.fd, os.fsencode(directory), IN_CREATE | IN_DELETE | IN_MOVED_TO)
        if wd >= 0:
            self.watches[wd] = directory

    def drain(self) -> None:
        """Read every event queued so far (call it often: the kernel queue holds 16,384 by default)."""
        while True:
            try:
                data = os.read(self.fd, 1 << 16)
            except BlockingIOError:
                return
            position = 0
            while position < len(data):
                wd, mask, _, length = _EVENT.unpack_from(data, position)
                name = data[position + _EVENT.size : position + _EVENT.size + length].rstrip(b"\0").decode()
                position += _EVENT.size + length
                path = self.watches.get(wd, self.root) / name
                if mask & IN_CREATE:
                    self.created.append(str(path.relative_to(self.root)))
                    if mask & IN_ISDIR:
                        self._watch(path)
                elif mask & IN_DELETE:
                    self.removed.append(str(path.relative_to(self.root)))

    def kinds(self, names: list[str]) -> Counter[str]:
        """Names with upload ids and pids replaced, to say in a failure what was made."""
        return Counter(_shape(name) for name in names)


def _shape(name: str) -> str:
    parts = []
    for part in name.split(os.sep):
        pieces = part.split(".")
        pieces = ["ID" if len(p) >= 16 or p.isdigit() else p for p in pieces]
        parts.append(".".join(pieces))
    return os.sep.join(parts)
