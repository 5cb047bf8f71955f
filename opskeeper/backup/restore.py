"""Restore a snapshot to a local directory or, as a tar stream, onto a host through an Executor.

Every restored file's SHA-256 is checked against the snapshot. A local file is
written under a temporary name and renamed only once its checksum matched; on
any failure (disk full, permission) the partial file is removed and an
``.opskeeper-restore-INCOMPLETE`` marker names what is missing. A remote restore
does the same with a staging directory on the host (``restore_host``).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import signal
import tarfile
import threading
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from opskeeper.backup.errors import BackupError, IntegrityError, RestoreFailed
from opskeeper.backup.locks import RepoLock
from opskeeper.backup.procpool import ProcessPool, start_pool
from opskeeper.backup.repo import Repository
from opskeeper.backup.restore_host import HostStaging, StagingFailed, common_base, sum_line
from opskeeper.backup.store.interface import ObjectNotFound
from opskeeper.backup.target_dir import DirCache, TargetDir, parent_and_name, split_path, sync_parent
from opskeeper.backup.tree import Entry, EntryKind
from opskeeper.backup.writers import BlobAt, DamagedFile, FileJob, write_batch
from opskeeper.clock import SYSTEM
from opskeeper.errors import OpskeeperError

if TYPE_CHECKING:  # the executor seam loads the estate models; a plain restore does not need them
    from opskeeper.remote.interface import Executor

INCOMPLETE_MARKER = ".opskeeper-restore-INCOMPLETE"
_WRITERS = 6
_PROCESSES = 2  # more writer processes than cores only wait on each other in the file system
_PROCESSES_AFTER = 32 * 1024 * 1024  # below this, starting writer processes costs more than it saves
_FILE_COST = 64 * 1024  # creating a file costs about as much as writing this many bytes
_DIR_PIECE = 2000  # files of one directory given to one writer process at a time
_BATCH_FILES = 16
_BATCH_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True)
class RestoreResult:
    snapshot: str
    target: str
    files: int
    bytes: int
    verified: int


def snapshot_entries(repo: Repository, snap_id: str) -> list[Entry]:
    """The file list of a snapshot given by id, unambiguous prefix or ``latest``."""
    return repo.read_entries(repo.load_snapshot(repo.resolve_snapshot(snap_id)).tree)


def _included(path: str, include: str) -> bool:
    """``include`` names a path prefix by whole components: "etc" takes etc/... but not etcd/..."""
    prefix = include.strip("/")
    return not prefix or path == prefix or path.startswith(prefix + "/")


def _file_chunks(repo: Repository, e: Entry) -> Iterator[bytes]:
    for c in e.chunks:
        yield repo.read_blob(bytes.fromhex(c))


def _restore_batch(repo: Repository, target: TargetDir, batch: list[Entry], umask: int) -> list[tuple[str, int]]:
    """Several files per task: fewer hand-offs between threads (each costs GIL traffic)."""
    return write_batch(target, umask, ((e, _file_chunks(repo, e)) for e in batch))


def _file_job(repo: Repository, e: Entry, pack_files: dict[str, str]) -> FileJob:
    """What a writer process needs for one file: the entry and where each of its blobs lies."""
    blobs = []
    for c in e.chunks:
        bid = bytes.fromhex(c)
        ref = repo.index.get(bid)
        if ref is None:
            raise DamagedFile(e.path, f"blob {c[:16]} is not in the index (missing data)")
        path = pack_files.get(ref.pack)
        if path is None:
            path = pack_files[ref.pack] = str(repo.store.local_path(f"data/{ref.pack}"))
        blobs.append(BlobAt(bid, ref.type, ref.pack, path, ref.offset, ref.length, ref.raw_len))
    return e, blobs


def _writer_pool(repo: Repository, root: str, files: list[Entry], umask: int) -> ProcessPool | None:
    """Writer processes for a big restore from a local directory store; None: threads do it."""
    if repo.store.local_path("config") is None or sum(e.size for e in files) < _PROCESSES_AFTER:
        return None
    return start_pool("opskeeper.backup.writers", (repo.keys, repo.config, umask, root), _PROCESSES,
                      lambda msg: RestoreFailed(f"restore writer: {msg}"))


def _mark_incomplete(root: Path, message: str) -> None:
    """Best effort (the error raised says it too); a symlink planted at the marker's name is replaced."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC
    with contextlib.suppress(OSError), TargetDir(str(root)) as t:
        try:
            fd = os.open(INCOMPLETE_MARKER, flags, 0o644, dir_fd=t.fd)
        except OSError as e:
            if e.errno != errno.ELOOP:
                raise
            os.unlink(INCOMPLETE_MARKER, dir_fd=t.fd)
            fd = os.open(INCOMPLETE_MARKER, flags, 0o644, dir_fd=t.fd)
        with os.fdopen(fd, "w") as f:
            f.write(message + "\n")


def _batches(files: list[Entry]) -> Iterator[list[Entry]]:
    batch: list[Entry] = []
    size = 0
    for e in files:
        batch.append(e)
        size += e.size
        if len(batch) >= _BATCH_FILES or size >= _BATCH_BYTES:
            yield batch
            batch, size = [], 0
    if batch:
        yield batch


def _by_directory(files: list[Entry], streams: int) -> list[list[Entry]]:
    """Split the files into ``streams`` lists of whole directories (pieces of huge ones), balanced by
    bytes plus a per-file cost: two processes creating files in one directory wait on its lock."""
    out: list[list[Entry]] = [[] for _ in range(streams)]
    cost = [0] * streams
    run: list[Entry] = []

    def place() -> None:
        i = cost.index(min(cost))
        out[i] += run
        cost[i] += sum(e.size for e in run) + _FILE_COST * len(run)

    run_dir = ""
    for e in files:
        d = e.path.rpartition("/")[0]
        if run and (d != run_dir or len(run) >= _DIR_PIECE):
            place()
            run = []
        run_dir = d
        run.append(e)
    if run:
        place()
    return out


def _interleaved(files: list[Entry], streams: int) -> Iterator[tuple[int, list[Entry]]]:
    """(stream, batch) pairs taking turns between the streams, so every worker has work queued."""
    gens = [_batches(s) for s in _by_directory(files, streams)]
    live = list(range(streams))
    while live:
        for i in list(live):
            batch = next(gens[i], None)
            if batch is None:
                live.remove(i)
            else:
                yield i, batch


def _remove_parts(target: TargetDir, batch: list[Entry]) -> None:
    """The partial files of a failed batch (a writer process that died could not remove its own)."""
    for e in batch:
        parent, name = parent_and_name(e.path)
        with contextlib.suppress(OSError, BackupError):
            fd = target.open_dir(parent)
            try:
                os.unlink(name + ".opskeeper-part", dir_fd=fd)
            finally:
                os.close(fd)


def _restore_files(repo: Repository, target: TargetDir, files: list[Entry]) -> tuple[int, int]:
    """Files in parallel: creating many small files is latency-bound (open/close release the GIL).

    A big restore from a local directory store runs in writer processes, each given whole directories.
    """
    done = nbytes = 0
    umask = os.umask(0o022)
    os.umask(umask)
    window: deque[tuple[list[Entry], Future[list[tuple[str, int]]]]] = deque()
    repo.ensure_index()
    procs = _writer_pool(repo, target.root, files, umask)
    pack_files: dict[str, str] = {}
    with ThreadPoolExecutor(_WRITERS, thread_name_prefix="restore") as pool:
        def submit(worker: int, batch: list[Entry]) -> Future[list[tuple[str, int]]]:
            if procs is None:
                return pool.submit(_restore_batch, repo, target, batch, umask)
            return procs.submit([_file_job(repo, e, pack_files) for e in batch], worker)

        ahead = _WRITERS * 2 if procs is None else procs.workers * 3
        work = _interleaved(files, procs.workers) if procs is not None else ((0, b) for b in _batches(files))
        try:
            for worker, batch in work:
                window.append((batch, submit(worker, batch)))
                while len(window) > ahead or (window and window[0][1].done()):
                    results = window[0][1].result()  # a failed batch stays in the window: cleaned up below
                    window.popleft()
                    nbytes += sum(n for _, n in results)
                    done += len(results)
            while window:
                results = window[0][1].result()
                window.popleft()
                nbytes += sum(n for _, n in results)
                done += len(results)
        except BaseException as err:
            for _, fut in window:
                fut.cancel()
            wait([f for _, f in window])
            for batch, _ in window:
                _remove_parts(target, batch)
            at = err.path if isinstance(err, DamagedFile) else window[0][0][0].path if window else ""
            raise _Stopped(done, at) from err
        finally:
            if procs is not None:
                procs.shutdown()
    return done, nbytes


class _Stopped(Exception):
    def __init__(self, done: int, at: str) -> None:
        super().__init__(at)
        self.done, self.at = done, at


def _ancestors(rel: str) -> list[str]:
    """'' and every directory above ``rel`` ("a/b/c" -> '', 'a', 'a/b')."""
    parts = split_path(rel)[:-1]
    return ["", *("/".join(parts[:i + 1]) for i in range(len(parts)))]


def _make_tree(target: TargetDir, entries: list[Entry]) -> dict[str, Entry | None]:
    """Directories and symlinks, in path order (a directory comes before its content); every directory
    touched, with its snapshot entry when it has one."""
    dirs: dict[str, Entry | None] = {}
    with DirCache(target) as cache:
        for e in entries:
            parent, name = parent_and_name(e.path)
            if parent not in dirs:
                os.close(target.open_dir(parent, make=True))
                dirs.update((d, dirs.get(d)) for d in _ancestors(e.path))
            if e.kind is EntryKind.DIR:
                os.close(target.open_dir(e.path, make=True))
                dirs[e.path] = e
            elif e.kind is EntryKind.SYMLINK:
                fd = cache.get(parent)
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(name, dir_fd=fd)
                os.symlink(e.target, name, dir_fd=fd)
    return dirs


def restore(repo: Repository, snap_id: str, target: str | Path, *, include: str = "") -> RestoreResult:
    """Restore snapshot ``snap_id`` under ``target`` (paths below ``include`` only, when given).

    Every path is reached below the target without following a symlink in it (``target_dir``);
    every file and directory is fsynced before this returns.
    """
    root = Path(target).resolve()
    with RepoLock(repo.store, exclusive=False, operation="restore", wait_s=30):
        snap_id = repo.resolve_snapshot(snap_id)
        entries = [e for e in snapshot_entries(repo, snap_id) if _included(e.path, include)]
        files = [e for e in entries if e.kind is EntryKind.FILE]
        for e in entries:
            split_path(e.path)  # a path that would leave the target stops the restore before it starts
        tdir: TargetDir | None = None
        try:
            created = not root.is_dir()
            root.mkdir(parents=True, exist_ok=True)
            if created:
                sync_parent(str(root))
            tdir = TargetDir(str(root))
            dirs = _make_tree(tdir, entries)
            restored, nbytes = _restore_files(repo, tdir, files)
            tdir.finish_dirs({d: None if e is None else (e.mode, e.mtime_ns) for d, e in dirs.items()})
        except _Stopped as stop:
            raise _stopped(root, snap_id, stop, len(files)) from stop.__cause__
        except (OSError, RestoreFailed) as err:
            reason = err.strerror or str(err) if isinstance(err, OSError) else str(err)
            msg = f"restore of snapshot {snap_id[:12]} to {root} failed: {reason}"
            _mark_incomplete(root, msg)
            raise RestoreFailed(msg) from err
        finally:
            if tdir is not None:
                tdir.close()
        if not include:  # the whole snapshot is back: an earlier failure's marker no longer applies
            (root / INCOMPLETE_MARKER).unlink(missing_ok=True)
        return RestoreResult(snap_id, str(root), restored, nbytes, restored)


def _stopped(root: Path, snap_id: str, stop: _Stopped, total: int) -> BackupError:
    """The error of a restore stopped while writing files; the marker in the target says the same."""
    cause = stop.__cause__
    if isinstance(cause, DamagedFile):
        where, reason = f"at {cause.path}", f"damaged data: {cause.reason}"
    elif isinstance(cause, OSError):
        where = f"near {stop.at}"
        reason = "disk full" if cause.errno == errno.ENOSPC else (cause.strerror or str(cause))
    else:
        where, reason = f"near {stop.at}", "interrupted" if isinstance(cause, KeyboardInterrupt) else str(cause)
    msg = (f"restore of snapshot {snap_id[:12]} to {root} stopped {where}: {reason}; "
           f"{stop.done} of {total} files restored and verified; partial files were removed")
    _mark_incomplete(root, msg)
    return IntegrityError(msg) if isinstance(cause, IntegrityError) else RestoreFailed(msg)


@contextlib.contextmanager
def _sigint_deferred() -> Iterator[None]:
    """SIGINT held back in the main thread meanwhile (delivered after): cleanup is not cut short."""
    if threading.current_thread() is not threading.main_thread():
        yield  # signals are delivered to the main thread only
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


@dataclass
class _Sent:
    """How far a remote restore got, for the message of a failure."""

    files: int
    step: str = "prepare"
    received: int = 0
    near: str = ""


def _tar_stream(repo: Repository, entries: list[Entry], base: str, sent: _Sent) -> Iterator[bytes]:
    """A tar archive of the entries, named below ``base``, chunk by chunk (no file is ever held whole)."""
    for e in entries:
        sent.near = e.path
        ti = tarfile.TarInfo(_below(base, e.path))
        ti.mode, ti.mtime = e.mode, e.mtime_ns // 1_000_000_000
        if e.kind is EntryKind.DIR:
            ti.type = tarfile.DIRTYPE
        elif e.kind is EntryKind.SYMLINK:
            ti.type, ti.linkname = tarfile.SYMTYPE, e.target
        else:
            ti.size = e.size
        yield ti.tobuf(format=tarfile.PAX_FORMAT)
        if e.kind is EntryKind.FILE:
            sha = hashlib.sha256()
            try:
                for data in _file_chunks(repo, e):
                    sha.update(data)
                    yield data
            except (IntegrityError, ObjectNotFound) as err:
                raise DamagedFile(e.path, str(err)) from err
            if sha.hexdigest() != e.sha256:
                raise DamagedFile(e.path, "checksum mismatch while streaming")
            if e.size % tarfile.BLOCKSIZE:
                yield b"\0" * (tarfile.BLOCKSIZE - e.size % tarfile.BLOCKSIZE)
            sent.received += 1
    yield b"\0" * (2 * tarfile.BLOCKSIZE)


def _below(base: str, path: str) -> str:
    return path[len(base) + 1:] if base else path


def _host_bytes(text: str) -> bytes:
    """Names as bytes the way tarfile writes them (undecodable bytes of a name came back as surrogates)."""
    return text.encode("utf-8", "surrogateescape")


_KIND_LETTER = {EntryKind.DIR: b"d", EntryKind.FILE: b"f", EntryKind.SYMLINK: b"l"}


def _remote_failure(where: str, snap_id: str, sent: _Sent, err: BaseException) -> str:
    reason = (err.reason if isinstance(err, StagingFailed) else f"damaged data: {err.reason}"
              if isinstance(err, DamagedFile) else "interrupted" if isinstance(err, KeyboardInterrupt) else str(err))
    near = f"at {err.path}" if isinstance(err, DamagedFile) else f"near {sent.near}"
    receive = (f"in the staging directory, all {sent.files} files sent" if sent.received == sent.files
               else f"while receiving {near} ({sent.received} of {sent.files} files sent)")
    step = {
        "prepare": "before receiving anything",
        "receive": receive,
        "verify": f"at the checksum check of the {sent.files} files received",
        "place": "while moving the verified files into place",
        "finish": "after every file was in place, while cleaning up",
    }[sent.step]
    left = {"place": "the files not moved yet keep their previous content",
            "finish": "all files were restored and verified"}.get(sent.step, "no file of the target was changed")
    again = "" if isinstance(err, IntegrityError) else "; run it again to finish"
    return f"restore of snapshot {snap_id[:12]} to {where} stopped {step}: {reason}; {left}{again}"


def restore_remote(repo: Repository, snap_id: str, executor: Executor, target: str,
                   *, include: str = "") -> RestoreResult:
    """Restore onto a host through ``executor``: nothing in ``target`` changes until every file arrived intact.

    A tar stream goes into ``tar -x`` in a staging directory on the host, ``sha256sum -c`` checks every
    file there, then each is renamed into place (see ``restore_host``). On failure the staging directory
    is removed and the ``INCOMPLETE_MARKER`` in ``target`` says how far it got and why; a later
    successful run removes it.
    """
    host = executor.host.name
    where = f"{host}:{target}"
    with RepoLock(repo.store, exclusive=False, operation="restore", wait_s=30):
        snap_id = repo.resolve_snapshot(snap_id)
        entries = [e for e in snapshot_entries(repo, snap_id) if _included(e.path, include)]
        for e in entries:
            split_path(e.path)
        files = [e for e in entries if e.kind is EntryKind.FILE]
        base = common_base(e.path for e in entries)
        staging = HostStaging(executor, target, base, snap_id, INCOMPLETE_MARKER)
        sent = _Sent(len(files))
        try:
            staging.prepare(f"restore of snapshot {snap_id[:12]} to {where} started at "
                            f"{SYSTEM.now().isoformat(timespec='seconds')} and has not finished; "
                            "if this file stays, it was interrupted: run it again")
            sent.step = "receive"
            staging.receive(_tar_stream(repo, entries, base, sent))
            sent.step = "verify"
            staging.verify(_host_bytes("".join(sum_line(e.sha256, _below(base, e.path)) for e in files)))
            sent.step = "place"
            staging.place(b"\0".join(_KIND_LETTER[e.kind] + _host_bytes(_below(base, e.path)) for e in entries))
            sent.step = "finish"
            staging.finish()
        except (StagingFailed, OpskeeperError, OSError, KeyboardInterrupt) as err:  # the repository's, the
            msg = _remote_failure(where, snap_id, sent, err)  # executor's errors, and Ctrl-C (SIGINT)
            with _sigint_deferred():  # a second Ctrl-C waits until the staging directory is gone
                staging.abandon(msg)
            if isinstance(err, IntegrityError):
                raise IntegrityError(msg) from err
            raise RestoreFailed(msg) from err
        return RestoreResult(snap_id, where, len(files), sum(e.size for e in files), len(files))
