"""Reading, hashing, compressing and sealing local files ahead of the writer, on threads or processes.

A backup's writer (the caller of ``backup``) only decides what is new and appends
sealed blobs to packs. The heavy part (read, SHA-256, chunk ids, zstd, AES-GCM)
runs here: first on threads, and once a backup has a lot to read, on worker
processes as well, because much of that work holds the GIL per small file.
Workers get the keys through their initializer (a pipe to our own child) and
return only ids and sealed envelopes, never plaintext.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import os
import pickle
import queue
import struct
import subprocess
import sys
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import IO, Any

from opskeeper.backup.chunker import Chunker
from opskeeper.backup.crypto import MasterKeys
from opskeeper.backup.errors import SourceError
from opskeeper.backup.format import BlobType, RepoConfig
from opskeeper.backup.pack import BlobCodec

Encode = Callable[[bytes, bytes | memoryview], bytes]


@dataclass(frozen=True)
class FileDigest:
    """A file read and sealed: its SHA-256, size, and per chunk: id, envelope (None: already stored), length."""

    sha256: str
    size: int
    ids: list[bytes]
    envelopes: list[bytes | None]
    raw_lens: list[int]


def digest_file(path: str, keys: MasterKeys, chunker: Chunker, encode: Encode,
                is_known: Callable[[bytes], bool]) -> FileDigest | None:
    """Read one whole file; None when it vanished since the walk listed it."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return None
    except OSError as e:
        raise SourceError(f"cannot read {path}: {e.strerror or e}") from e
    chunks = list(chunker.cut_bytes(data))
    digests = [hashlib.sha256(c).digest() for c in chunks]
    # One chunk: its hash is the file's hash (hashed once). Several: the file is hashed too.
    whole = digests[0].hex() if len(chunks) == 1 else hashlib.sha256(data).hexdigest()
    ids = [keys.blob_id_of_digest(d) for d in digests]
    # A race with an identical chunk in flight only costs a discarded envelope.
    envelopes = [None if is_known(b) else encode(b, c) for b, c in zip(ids, chunks, strict=True)]
    return FileDigest(whole, len(data), ids, envelopes, [len(c) for c in chunks])


# -- worker processes -------------------------------------------------------------------------------
# Plain subprocesses speaking length-prefixed pickle over their stdin/stdout, not multiprocessing:
# spawn re-runs the caller's main script in each child and fork is unsafe in a threaded process.
_LEN = struct.Struct("<Q")
_KNOWN_MAX = 2_000_000  # beyond this, workers seal everything and the writer drops duplicates


def _send(f: IO[bytes], obj: object) -> None:
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    f.write(_LEN.pack(len(data)) + data)
    f.flush()


def _recv(f: IO[bytes]) -> Any:
    head = f.read(_LEN.size)
    if len(head) < _LEN.size:
        raise EOFError("reader process pipe closed")
    n = _LEN.unpack(head)[0]
    data = f.read(n)
    if len(data) < n:
        raise EOFError("reader process pipe closed mid-message")
    return pickle.loads(data)


class WorkerPool:
    """Reader processes (``python -m opskeeper.backup.readers``); ``submit`` returns a Future per batch."""

    def __init__(self, keys: MasterKeys, config: RepoConfig, known: frozenset[bytes], workers: int) -> None:
        if len(known) > _KNOWN_MAX:
            known = frozenset()
        self._queues: list[queue.Queue[tuple[list[str], Future[list[FileDigest | None]]] | None]] = []
        self._procs: list[subprocess.Popen[bytes]] = []
        self._threads: list[threading.Thread] = []
        for _ in range(workers):
            proc = subprocess.Popen([sys.executable, "-m", "opskeeper.backup.readers"],
                                    stdin=subprocess.PIPE, stdout=subprocess.PIPE)
            assert proc.stdin is not None
            _send(proc.stdin, (keys, config, known))
            q: queue.Queue[tuple[list[str], Future[list[FileDigest | None]]] | None] = queue.Queue()
            t = threading.Thread(target=self._serve, args=(proc, q), name="backup-reader-pipe", daemon=True)
            t.start()
            self._procs.append(proc)
            self._queues.append(q)
            self._threads.append(t)
        self._next = itertools.cycle(range(workers))

    def submit(self, paths: list[str]) -> Future[list[FileDigest | None]]:
        fut: Future[list[FileDigest | None]] = Future()
        self._queues[next(self._next)].put((paths, fut))
        return fut

    @staticmethod
    def _serve(proc: subprocess.Popen[bytes],
               q: queue.Queue[tuple[list[str], Future[list[FileDigest | None]]] | None]) -> None:
        assert proc.stdin is not None and proc.stdout is not None
        while (item := q.get()) is not None:
            paths, fut = item
            if not fut.set_running_or_notify_cancel():
                continue
            try:
                _send(proc.stdin, paths)
                result = _recv(proc.stdout)
            except Exception as e:  # a broken pipe or a bad message: never leave the Future pending
                fut.set_exception(SourceError(f"backup reader process {proc.pid} failed: {e}"))
                continue
            if isinstance(result, BaseException):
                fut.set_exception(result)
            else:
                fut.set_result(result)

    def shutdown(self) -> None:
        for q in self._queues:
            q.put(None)
        for t in self._threads:
            t.join(timeout=30)
        for proc in self._procs:
            if proc.stdin is not None:
                with contextlib.suppress(OSError):
                    proc.stdin.close()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def start_worker_pool(keys: MasterKeys, config: RepoConfig, known: frozenset[bytes],
                      workers: int) -> WorkerPool | None:
    """None where processes cannot be started (the caller keeps using threads)."""
    try:
        return WorkerPool(keys, config, known, workers)
    except OSError:
        return None


def _worker_main() -> None:
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # anything printed by accident must not corrupt the protocol
    inp = sys.stdin.buffer
    keys, config, known = _recv(inp)
    codec = BlobCodec(keys, config.compression, config.zstd_level)
    chunker = Chunker(config.chunker, keys.chunker_seed)

    def encode(bid: bytes, data: bytes | memoryview) -> bytes:
        return codec.encode(BlobType.DATA, bid, data)

    while True:
        try:
            paths = _recv(inp)
        except EOFError:
            return  # the writer closed the pipe (or died)
        try:
            result: object = [digest_file(p, keys, chunker, encode, known.__contains__) for p in paths]
        except SourceError as e:
            result = e
        _send(out, result)


if __name__ == "__main__":
    # Run the module's own copy (not __main__'s), so results pickle as opskeeper.backup.readers types.
    from opskeeper.backup import readers as _readers

    _readers._worker_main()
