"""The backup operation: walk a source, store new chunks, commit a snapshot last.

Change detection: the parent snapshot (latest one of the same system, host and
source) is the metadata cache. A file whose size, mtime, inode and ctime match
its parent entry, and whose chunks are all in the index, is taken over without
being read; an unchanged re-backup costs a directory walk.
"""

from __future__ import annotations

import hashlib
import socket
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from opskeeper.backup.chunker import Chunker
from opskeeper.backup.errors import SourceError
from opskeeper.backup.format import BlobType
from opskeeper.backup.locks import RepoLock
from opskeeper.backup.procpool import ProcessPool
from opskeeper.backup.readers import FileDigest, digest_file, start_worker_pool
from opskeeper.backup.repo import Repository, new_id
from opskeeper.backup.sources import Source, SourceItem
from opskeeper.backup.tree import (
    Entry,
    EntryKind,
    SnapshotManifest,
    SnapshotStats,
)
from opskeeper.clock import SYSTEM, Clock

ProgressFn = Callable[[str], None]
_READERS = 3  # reading many small files is latency-bound; hashing releases the GIL
_READ_WHOLE_MAX = 64 * 1024 * 1024  # bigger files are streamed chunk by chunk
_READ_AHEAD_BYTES = 128 * 1024 * 1024
_READ_AHEAD_TASKS = 16
_PROCESSES = 2
_PROCESSES_AFTER = 48 * 1024 * 1024  # below this, spawning worker processes costs more than it saves
_BATCH_FILES = 32
_BATCH_BYTES = 4 * 1024 * 1024


@dataclass
class _Counters:
    files: int = 0
    dirs: int = 0
    bytes: int = 0
    new_bytes: int = 0
    new_blobs: int = 0
    reused_files: int = 0


def find_parent(repo: Repository, key: str) -> SnapshotManifest | None:
    latest: SnapshotManifest | None = None
    for snap in repo.snapshots():
        if snap.source_key == key and (latest is None or snap.time > latest.time):
            latest = snap
    return latest


def _unchanged(item: SourceItem, old: Entry | None, repo: Repository) -> bool:
    if old is None or not item.cacheable or old.kind is not EntryKind.FILE:
        return False
    same = (old.size, old.mtime_ns, old.inode, old.ctime_ns) == (item.size, item.mtime_ns, item.inode, item.ctime_ns)
    return same and all(repo.has_blob(bytes.fromhex(c)) for c in old.chunks)


def _store_digest(repo: Repository, item: SourceItem, fd: FileDigest, c: _Counters) -> Entry:
    for bid, env, raw_len in zip(fd.ids, fd.envelopes, fd.raw_lens, strict=True):
        if repo.add_sealed(BlobType.DATA, bid, env, raw_len):
            c.new_bytes += raw_len
            c.new_blobs += 1
    return Entry(item.path, EntryKind.FILE, item.mode, item.mtime_ns, fd.size, fd.sha256,
                 tuple(b.hex() for b in fd.ids), inode=item.inode, ctime_ns=item.ctime_ns)


def _store_stream(repo: Repository, item: SourceItem, c: _Counters) -> Entry:
    """A stream or a big file: chunk by chunk in this thread, never whole in memory."""
    assert item.open is not None
    sha = hashlib.sha256()
    chunks: list[str] = []
    size = 0
    try:
        with item.open() as f:
            pieces = repo.chunker.cut_fd(f, item.size) if item.size >= 0 else repo.chunker.cut_stream(f)
            for piece in pieces:
                sha.update(piece)
                size += len(piece)
                bid, stored = repo.add_blob(BlobType.DATA, piece)
                if stored:
                    c.new_bytes += len(piece)
                    c.new_blobs += 1
                chunks.append(bid.hex())
    except OSError as e:
        raise SourceError(f"cannot read {item.path}: {e.strerror or e}") from e
    return Entry(item.path, EntryKind.FILE, item.mode, item.mtime_ns, size, sha.hexdigest(), tuple(chunks),
                 inode=item.inode, ctime_ns=item.ctime_ns)


class _Readers:
    """Local files are read and sealed ahead, in batches (a task per file costs more in hand-offs than
    reading it): on threads first, on worker processes once the backup has read ``_PROCESSES_AFTER``
    bytes (a first backup), because the per-file work holds the GIL. Stored in walk order."""

    def __init__(self, repo: Repository, c: _Counters, entries: list[Entry]) -> None:
        self.repo, self.c, self.entries = repo, c, entries
        self.threads = ThreadPoolExecutor(_READERS, thread_name_prefix="backup-read")
        self.procs: ProcessPool | None = None
        self.procs_tried = False
        self.local = threading.local()
        self.window: deque[tuple[list[SourceItem], Future[list[FileDigest | None]]]] = deque()
        self.window_bytes = self.sent_bytes = 0
        self.batch: list[SourceItem] = []
        self.batch_bytes = 0

    def submit(self, item: SourceItem) -> None:
        self.batch.append(item)
        self.batch_bytes += item.size
        if len(self.batch) >= _BATCH_FILES or self.batch_bytes >= _BATCH_BYTES:
            self._send()
        while self.window and (self.window_bytes > _READ_AHEAD_BYTES or len(self.window) > _READ_AHEAD_TASKS
                               or self.window[0][1].done()):
            self._take()

    def _thread_batch(self, items: list[SourceItem]) -> list[FileDigest | None]:
        chunker = getattr(self.local, "chunker", None)
        if chunker is None:  # pyfastcdc objects are not to be shared between threads
            chunker = self.local.chunker = Chunker(self.repo.config.chunker, self.repo.keys.chunker_seed)
        repo = self.repo

        def encode(bid: bytes, data: bytes | memoryview) -> bytes:
            return repo.encode(BlobType.DATA, bid, data)

        return [digest_file(i.source_path, i.size, repo.keys, chunker, encode, repo.has_blob) for i in items]

    def _pool(self) -> ProcessPool | None:
        if not self.procs_tried and self.sent_bytes >= _PROCESSES_AFTER:
            self.procs_tried = True
            self.procs = start_worker_pool(self.repo.keys, self.repo.config, frozenset(self.repo.index), _PROCESSES)
        return self.procs

    def _send(self) -> None:
        if not self.batch:
            return
        pool = self._pool()
        if pool is not None:
            fut = pool.submit([(i.source_path, i.size) for i in self.batch])
        else:
            fut = self.threads.submit(self._thread_batch, self.batch)
        self.window.append((self.batch, fut))
        self.window_bytes += self.batch_bytes
        self.sent_bytes += self.batch_bytes
        self.batch, self.batch_bytes = [], 0

    def _take(self) -> None:
        items, fut = self.window.popleft()
        for item, fd in zip(items, fut.result(), strict=True):
            self.window_bytes -= item.size
            if fd is None:  # deleted since the walk listed it: not in this snapshot
                self.c.files -= 1
                self.c.bytes -= item.size
                continue
            self.entries.append(_store_digest(self.repo, item, fd, self.c))

    def drain(self) -> None:
        self._send()
        while self.window:
            self._take()

    def close(self) -> None:
        for _, fut in self.window:
            fut.cancel()
        self.threads.shutdown(wait=True)
        if self.procs is not None:
            self.procs.shutdown()


def _walk(repo: Repository, source: Source, old: dict[str, Entry], c: _Counters, readers: _Readers,
          progress: ProgressFn | None) -> None:
    """Every item of the source becomes an entry: taken over from the parent, read ahead, or streamed."""
    entries = readers.entries
    for item in source.items():
        if item.kind is EntryKind.DIR:
            c.dirs += 1
            entries.append(Entry(item.path, item.kind, item.mode, item.mtime_ns))
        elif item.kind is EntryKind.SYMLINK:
            entries.append(Entry(item.path, item.kind, item.mode, item.mtime_ns, target=item.target))
        else:
            prev = old.get(item.path)
            c.files += 1
            if prev is not None and _unchanged(item, prev, repo):
                entries.append(prev)
                c.reused_files += 1
                c.bytes += prev.size
            elif item.cacheable and 0 <= item.size <= _READ_WHOLE_MAX:
                readers.submit(item)
                c.bytes += item.size
            else:
                readers.drain()
                entries.append(_store_stream(repo, item, c))
                c.bytes += entries[-1].size
            if progress and c.files % 1000 == 0:
                progress(f"{c.files} files, {c.bytes} bytes")


def backup(repo: Repository, source: Source, *, system: str = "", host: str | None = None,
           tags: tuple[str, ...] = (), progress: ProgressFn | None = None,
           lock_wait_s: float = 30.0, clock: Clock = SYSTEM) -> SnapshotManifest:
    """Back up ``source`` into ``repo`` under a shared lock; returns the committed snapshot (stamped by ``clock``)."""
    host = host or socket.gethostname()
    with RepoLock(repo.store, exclusive=False, operation="backup", wait_s=lock_wait_s):
        repo.load_index()  # packs another backup finished (or a killed one left indexed) are reused
        key = SnapshotManifest(id="", time="", host=host, source_kind=source.kind, source=source.label,
                               system=system).source_key
        parent = find_parent(repo, key)
        parent_entries = repo.read_entries(parent.tree) if parent else []
        old = {e.path: e for e in parent_entries}
        c = _Counters()
        bytes_before = repo.stats_new_pack_bytes
        entries: list[Entry] = []
        readers = _Readers(repo, c, entries)
        try:
            _walk(repo, source, old, c, readers, progress)
            readers.drain()
        finally:
            readers.close()
        source.finish()  # a failed pg_dump/tar must not become a snapshot
        entries.sort(key=lambda e: e.path)
        if parent is not None and entries == parent_entries:
            tree = list(parent.tree)  # nothing changed: the parent's file list is this one
        else:
            tree = repo.write_entries(entries)
        repo.flush()
        stored = repo.stats_new_pack_bytes - bytes_before
        manifest = SnapshotManifest(
            id=new_id(), time=clock.now().isoformat(), host=host, source_kind=source.kind,
            source=source.label, system=system, tree=tuple(tree), parent=parent.id if parent else "",
            tags=tags, stats=SnapshotStats(c.files, c.dirs, c.bytes, c.new_bytes, c.new_blobs, stored,
                                           c.reused_files),
        )
        repo.save_snapshot(manifest)
        return manifest
