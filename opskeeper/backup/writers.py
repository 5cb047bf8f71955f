"""Writing restored files: one file under a temporary name, checked, then renamed; and writer processes.

``write_verified`` is the one way a local restore writes a file, on threads or in a writer
process. Creating thousands of small files is mostly kernel work, and on threads each
system call hands the GIL over to another writer; writer processes (``procpool``) each
open and decrypt their blobs straight from the pack files of a local directory store,
so nothing but paths and blob positions crosses the pipe.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from opskeeper.backup.crypto import MasterKeys
from opskeeper.backup.errors import BackupError, IntegrityError
from opskeeper.backup.format import BlobType, RepoConfig
from opskeeper.backup.pack import BlobCodec
from opskeeper.backup.procpool import serve
from opskeeper.backup.store.interface import ObjectNotFound
from opskeeper.backup.target_dir import DirCache, TargetDir, parent_and_name
from opskeeper.backup.tree import Entry

_OPEN_PACKS = 16


class DamagedFile(IntegrityError):
    """A file of the snapshot could not be restored because its data is damaged or missing."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(path, reason)  # both in args: the error crosses the writer processes' pipe
        self.path, self.reason = path, reason

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


def write_verified(e: Entry, dir_fd: int, umask: int, chunks: Iterable[bytes]) -> int:
    """Write one file under a temporary name in directory ``dir_fd``, check its SHA-256, fsync it, then
    rename it over its name there.

    A failure removes only the partial temporary file: a file already there is never lost, and a
    symlink in its place is replaced, not followed out of the restore target. A damaged or missing
    blob is a :class:`DamagedFile` naming the file.
    """
    name = parent_and_name(e.path)[1]
    part = name + ".opskeeper-part"
    sha = hashlib.sha256()
    size = 0
    try:
        # The mode goes into open() when the umask keeps it intact: one syscall less per file.
        # Always a new file: a part left by a killed restore may have another mode or be a hard link.
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        try:
            fd = os.open(part, flags, e.mode & 0o777, dir_fd=dir_fd)
        except FileExistsError:
            os.unlink(part, dir_fd=dir_fd)
            fd = os.open(part, flags, e.mode & 0o777, dir_fd=dir_fd)
        try:
            try:
                for data in chunks:
                    view = memoryview(data)
                    while view:
                        view = view[os.write(fd, view):]
                    sha.update(data)
                    size += len(data)
            except (IntegrityError, ObjectNotFound) as err:
                raise DamagedFile(e.path, str(err)) from err
            if e.mode & umask or e.mode & ~0o777:
                os.fchmod(fd, e.mode)
            if sha.hexdigest() != e.sha256 or size != e.size:
                raise DamagedFile(e.path, f"checksum mismatch (expected {e.sha256[:16]})")
            os.utime(fd, ns=(e.mtime_ns, e.mtime_ns))
            os.fsync(fd)  # the data is on disk before the name points at it
        finally:
            os.close(fd)
        os.replace(part, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(part, dir_fd=dir_fd)
        raise
    return size


def write_batch(target: TargetDir, umask: int, batch: Iterable[tuple[Entry, Iterable[bytes]]]) -> list[tuple[str, int]]:
    """Write several files (in path order) below ``target``; each file's path and size."""
    with DirCache(target) as dirs:
        return [(e.path, write_verified(e, dirs.get(parent_and_name(e.path)[0]), umask, chunks))
                for e, chunks in batch]


@dataclass(frozen=True)
class BlobAt:
    """Where a writer process finds a blob: the pack's file and the envelope's byte range in it."""

    blob_id: bytes
    type: BlobType
    pack: str
    file: str
    offset: int
    length: int
    raw_len: int


#: One file for a writer process: its entry (its path is below the target) and its blobs in order.
FileJob = tuple[Entry, list[BlobAt]]


class _Packs:
    """Pack files kept open (a few, least recently used closed first); envelopes read with pread."""

    def __init__(self) -> None:
        self.fds: OrderedDict[str, int] = OrderedDict()

    def envelope(self, b: BlobAt) -> bytes:
        fd = self.fds.get(b.file)
        if fd is None:
            try:
                fd = os.open(b.file, os.O_RDONLY)
            except FileNotFoundError as e:
                raise ObjectNotFound(f"data/{b.pack} not found ({b.file})") from e
            self.fds[b.file] = fd
            while len(self.fds) > _OPEN_PACKS:
                os.close(self.fds.popitem(last=False)[1])
        else:
            self.fds.move_to_end(b.file)
        return os.pread(fd, b.length, b.offset)


def _setup(msg: tuple[MasterKeys, RepoConfig, int, str]) -> Callable[[list[FileJob]], object]:
    keys, config, umask, root = msg
    target = TargetDir(root)  # this process's own descriptor of the target, for its whole life
    codec = BlobCodec(keys, config.compression, config.zstd_level)
    packs = _Packs()

    def chunks(blobs: list[BlobAt]) -> Iterator[bytes]:
        for b in blobs:
            try:
                yield codec.decode(b.type, b.blob_id, packs.envelope(b), b.raw_len)
            except IntegrityError as e:
                raise IntegrityError(f"pack {b.pack}: {e}") from e

    def handle(batch: list[FileJob]) -> list[tuple[str, int]]:
        return write_batch(target, umask, ((e, chunks(blobs)) for e, blobs in batch))

    return handle


if __name__ == "__main__":
    # Run the module's own copy (not __main__'s), so messages unpickle as opskeeper.backup types.
    from opskeeper.backup import writers as _writers

    serve(_writers._setup, (OSError, BackupError))
