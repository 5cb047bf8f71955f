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
from opskeeper.backup.tree import Entry

_OPEN_PACKS = 16


def write_verified(e: Entry, dest: str, umask: int, chunks: Iterable[bytes]) -> int:
    """Write one file under a temporary name, check its SHA-256, then rename it over ``dest``.

    A failure removes only the partial temporary file: a file already at ``dest`` is never lost,
    and a symlink at ``dest`` is replaced, not followed out of the restore target.
    """
    sha = hashlib.sha256()
    size = 0
    part = dest + ".opskeeper-part"
    try:
        # The mode goes into open() when the umask keeps it intact: one syscall less per file.
        # Always a new file: a part left by a killed restore may have another mode or be a hard link.
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
        try:
            fd = os.open(part, flags, e.mode & 0o777)
        except FileExistsError:
            os.unlink(part)
            fd = os.open(part, flags, e.mode & 0o777)
        try:
            for data in chunks:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view):]
                sha.update(data)
                size += len(data)
            if e.mode & umask or e.mode & ~0o777:
                os.fchmod(fd, e.mode)
            if sha.hexdigest() != e.sha256 or size != e.size:
                raise IntegrityError(f"restored {e.path}: checksum mismatch (expected {e.sha256[:16]})")
            os.utime(fd, ns=(e.mtime_ns, e.mtime_ns))
        finally:
            os.close(fd)
        os.replace(part, dest)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(part)
        raise
    return size


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


#: One file for a writer process: its entry, where it goes, its blobs in order.
FileJob = tuple[Entry, str, list[BlobAt]]


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


def _setup(msg: tuple[MasterKeys, RepoConfig, int]) -> Callable[[list[FileJob]], object]:
    keys, config, umask = msg
    codec = BlobCodec(keys, config.compression, config.zstd_level)
    packs = _Packs()

    def chunks(blobs: list[BlobAt]) -> Iterator[bytes]:
        for b in blobs:
            try:
                yield codec.decode(b.type, b.blob_id, packs.envelope(b), b.raw_len)
            except IntegrityError as e:
                raise IntegrityError(f"pack {b.pack}: {e}") from e

    def handle(batch: list[FileJob]) -> list[tuple[str, int]]:
        return [(e.path, write_verified(e, dest, umask, chunks(blobs))) for e, dest, blobs in batch]

    return handle


if __name__ == "__main__":
    # Run the module's own copy (not __main__'s), so messages unpickle as opskeeper.backup types.
    from opskeeper.backup import writers as _writers

    serve(_writers._setup, (OSError, BackupError))
