"""The restore target reached only through directory file descriptors, never through a symlink in it.

A path is opened one component at a time with ``openat(..., O_NOFOLLOW)`` from the target's own
descriptor, so a symlink planted inside the target before or during a restore (``target/etc -> /``)
is never followed: the restore cannot write outside its target. While directories are made, a
symlink or file where the snapshot has a directory is replaced by a directory (``tar -x`` does the
same); while files are written, such a component stops the restore instead (it was planted after
the directories were made). And the directories are fsynced once each, after their entries.
"""

from __future__ import annotations

import errno
import os
from concurrent.futures import ThreadPoolExecutor

from opskeeper.backup.errors import IntegrityError, RestoreFailed

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_NOT_A_DIR = (errno.ELOOP, errno.ENOTDIR)  # open(O_NOFOLLOW | O_DIRECTORY) of a symlink / of a file
_SYNC_THREADS = 6  # directory fsyncs at once: the file system commits them together


def split_path(rel: str) -> list[str]:
    """The components of a snapshot path; one that could leave the target is refused."""
    parts = rel.split("/") if rel else []
    if any(p in ("", ".", "..") for p in parts):
        raise IntegrityError(f"snapshot path {rel!r} escapes the restore target")
    return parts


def parent_and_name(rel: str) -> tuple[str, str]:
    parent, _, name = rel.rpartition("/")
    return parent, name


class TargetDir:
    """The restore target, opened once; ``open_dir`` reaches a directory below it without following links."""

    def __init__(self, root: str) -> None:
        self.root = root
        self.fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __enter__(self) -> TargetDir:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def open_dir(self, rel: str, *, make: bool = False) -> int:
        """A new descriptor of directory ``rel`` ('' is the target), which the caller closes.

        With ``make``, a missing directory is created and a symlink or file in the way is replaced by
        one (unlinking a symlink never touches what it points to); without, either stops the restore.
        """
        fd = os.dup(self.fd)
        try:
            for name in split_path(rel):
                step = self._step(fd, name, rel, make)
                os.close(fd)
                fd = step
        except BaseException:
            os.close(fd)
            raise
        return fd

    def _step(self, fd: int, name: str, rel: str, make: bool) -> int:
        try:
            return os.open(name, _DIR_FLAGS, dir_fd=fd)
        except FileNotFoundError:
            if not make:
                raise
        except OSError as e:
            if e.errno not in _NOT_A_DIR:
                raise
            if not make:
                raise RestoreFailed(f"{rel}: {name!r} in the restore target {self.root} became a symlink or "
                                    f"a file during the restore; refusing to follow it") from e
            os.unlink(name, dir_fd=fd)  # replaced, never followed
        try:
            os.mkdir(name, dir_fd=fd)
        except FileExistsError:
            pass  # made meanwhile: the open below still refuses anything but a real directory
        return os.open(name, _DIR_FLAGS, dir_fd=fd)

    def finish_dirs(self, dirs: dict[str, tuple[int, int] | None]) -> None:
        """Give each directory its (mode, mtime_ns) when known, then fsync it; once each, after its entries.

        Deepest first, so a parent whose mode shuts us out comes after its children; the directories
        of one depth at a time in threads, whose fsyncs the file system commits together.
        """

        def finish(rel: str) -> None:
            fd = self.open_dir(rel)
            try:
                meta = dirs[rel]
                if meta is not None:
                    os.fchmod(fd, meta[0])
                    os.utime(fd, ns=(meta[1], meta[1]))
                os.fsync(fd)
            finally:
                os.close(fd)

        levels: dict[int, list[str]] = {}
        for rel in dirs:
            levels.setdefault(len(split_path(rel)), []).append(rel)
        with ThreadPoolExecutor(_SYNC_THREADS, thread_name_prefix="restore-dirs") as pool:
            for depth in sorted(levels, reverse=True):
                list(pool.map(finish, levels[depth]))


class DirCache:
    """The directory of the previous file, kept open: files come in path order, most share it."""

    def __init__(self, target: TargetDir) -> None:
        self.target = target
        self._rel: str | None = None
        self._fd = -1

    def get(self, rel: str) -> int:
        if rel != self._rel:
            self.close()
            self._fd = self.target.open_dir(rel)
            self._rel = rel
        return self._fd

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
        self._fd, self._rel = -1, None

    def __enter__(self) -> DirCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def sync_parent(path: str) -> None:
    """fsync the directory holding ``path`` (after ``path`` was created in it)."""
    fd = os.open(os.path.dirname(os.path.abspath(path)) or "/", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
