"""Backup sources: what a backup reads. Local directories here; streamed sources (a directory on a
host as tar, a PostgreSQL database as ``pg_dump``, both through an Executor) in ``streams.py``.

A source yields ``SourceItem``s in a stable order; a file item opens its content
as a binary stream. Stream sources are read strictly in order (a tar member is
readable only until the next member is requested).
"""

from __future__ import annotations

import fnmatch
import functools
import os
import stat
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol

from opskeeper.backup.errors import SourceError
from opskeeper.backup.tree import EntryKind


@dataclass(frozen=True)
class SourceItem:
    """One thing to back up; ``open`` is set for files. ``cacheable`` means inode/ctime are meaningful."""

    path: str
    kind: EntryKind
    mode: int
    mtime_ns: int
    size: int = 0
    target: str = ""
    inode: int = 0
    ctime_ns: int = 0
    open: Callable[[], BinaryIO] | None = None
    cacheable: bool = False
    source_path: str = ""  # a local file's path as opened (cacheable items only)


class Source(Protocol):
    kind: str
    label: str

    def items(self) -> Iterator[SourceItem]: ...

    def finish(self) -> None:
        """Called after all items were consumed: a stream source checks its command's exit code."""


def _open_binary(path: str) -> BinaryIO:
    return open(path, "rb")


def _excluded(rel: str, name: str, patterns: Sequence[str]) -> bool:
    return any(fnmatch.fnmatch(name, p) or fnmatch.fnmatch(rel, p) for p in patterns)


class DirSource:
    """Local directories. Paths are stored without the leading ``/`` (``/srv/app`` -> ``srv/app``)."""

    kind = "dir"

    def __init__(self, paths: Sequence[str | Path], excludes: Sequence[str] = ()) -> None:
        self.paths = [Path(p).resolve() for p in paths]
        self.excludes = list(excludes)
        self.label = ",".join(str(p) for p in self.paths)

    def items(self) -> Iterator[SourceItem]:
        for root in self.paths:
            if not root.exists():
                raise SourceError(f"backup source {root} does not exist")
            yield from self._walk(root)

    def _item(self, path: str, st: os.stat_result) -> SourceItem:
        rel = path.lstrip("/")
        mode = stat.S_IMODE(st.st_mode)
        if stat.S_ISLNK(st.st_mode):
            return SourceItem(rel, EntryKind.SYMLINK, mode, st.st_mtime_ns, target=os.readlink(path))
        if stat.S_ISDIR(st.st_mode):
            return SourceItem(rel, EntryKind.DIR, mode, st.st_mtime_ns)
        return SourceItem(rel, EntryKind.FILE, mode, st.st_mtime_ns, st.st_size, inode=st.st_ino,
                          ctime_ns=st.st_ctime_ns, open=functools.partial(_open_binary, path), cacheable=True,
                          source_path=path)

    def _walk(self, top: Path) -> Iterator[SourceItem]:
        try:
            yield self._item(str(top), os.lstat(top))
        except OSError as e:
            raise SourceError(f"cannot read {top}: {e.strerror}") from e
        if not top.is_dir() or top.is_symlink():
            return
        stack = [str(top)]
        while stack:
            d = stack.pop()
            try:
                with os.scandir(d) as it:
                    ents = sorted(it, key=lambda e: e.name)
            except OSError as e:
                raise SourceError(f"cannot list {d}: {e.strerror}") from e
            subdirs = []
            for de in ents:
                if self.excludes and _excluded(os.path.relpath(de.path, top), de.name, self.excludes):
                    continue
                try:
                    st = de.stat(follow_symlinks=False)
                except FileNotFoundError:
                    continue  # deleted while we walked
                if not (stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode) or stat.S_ISLNK(st.st_mode)):
                    continue  # sockets, fifos, devices are not backed up
                yield self._item(de.path, st)
                if stat.S_ISDIR(st.st_mode):
                    subdirs.append(de.path)
            stack.extend(reversed(subdirs))

    def finish(self) -> None:
        return None
