"""Reading, hashing, compressing and sealing local files ahead of the writer, on threads or processes.

A backup's writer (the caller of ``backup``) only decides what is new and appends
sealed blobs to packs. The heavy part (read, SHA-256, chunk ids, zstd, AES-GCM)
runs here: first on threads, and once a backup has a lot to read, on worker
processes as well, because much of that work holds the GIL per small file.
Workers (``procpool``) get the keys in their setup message (a pipe to our own child)
and return only ids and sealed envelopes, never plaintext.
"""

from __future__ import annotations

import hashlib
import os
import pickle
from collections.abc import Callable
from dataclasses import dataclass

from opskeeper.backup.chunker import Chunker
from opskeeper.backup.crypto import MasterKeys
from opskeeper.backup.errors import SourceError
from opskeeper.backup.format import BlobType, RepoConfig
from opskeeper.backup.pack import BlobCodec
from opskeeper.backup.procpool import ProcessPool, serve, start_pool

Encode = Callable[[bytes, bytes | memoryview], bytes]
_READ_MORE = 1024 * 1024


@dataclass(frozen=True)
class FileDigest:
    """A file read and sealed: its SHA-256, size, and per chunk: id, envelope (None: already stored), length.

    From a worker process, the envelopes are read-only memoryviews of the batch's buffer."""

    sha256: str
    size: int
    ids: list[bytes]
    envelopes: list[bytes | memoryview | None]
    raw_lens: list[int]


def _read_whole(path: str, size: int) -> bytes:
    """The whole file in four system calls when it still has the walk's ``size``: open, one read of
    ``size + 1`` bytes, the read that finds the end (a file that grew meanwhile is read on), close."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        parts = [os.read(fd, size + 1)]
        while more := os.read(fd, _READ_MORE):
            parts.append(more)
    finally:
        os.close(fd)
    return parts[0] if len(parts) == 1 else b"".join(parts)


def digest_file(path: str, size: int, keys: MasterKeys, chunker: Chunker, encode: Encode,
                is_known: Callable[[bytes], bool]) -> FileDigest | None:
    """Read one whole file (``size`` as the walk saw it); None when it vanished since the walk listed it."""
    try:
        data = _read_whole(path, size)
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
    envelopes: list[bytes | memoryview | None] = [None if is_known(b) else encode(b, c)
                                                  for b, c in zip(ids, chunks, strict=True)]
    return FileDigest(whole, len(data), ids, envelopes, [len(c) for c in chunks])


# -- worker processes -------------------------------------------------------------------------------
_KNOWN_MAX = 2_000_000  # beyond this, workers seal everything and the writer drops duplicates


def start_worker_pool(keys: MasterKeys, config: RepoConfig, known: frozenset[bytes],
                      workers: int) -> ProcessPool | None:
    """Reader processes; each batch (a list of (path, size)) comes back as a list of ``FileDigest | None``."""
    if len(known) > _KNOWN_MAX:
        known = frozenset()
    return start_pool("opskeeper.backup.readers", (keys, config, known), workers,
                      lambda msg: SourceError(f"backup reader: {msg}"))


def _setup(msg: tuple[MasterKeys, RepoConfig, frozenset[bytes]]) -> Callable[[list[tuple[str, int]]], object]:
    keys, config, known = msg
    codec = BlobCodec(keys, config.compression, config.zstd_level)
    chunker = Chunker(config.chunker, keys.chunker_seed)

    def encode(bid: bytes, data: bytes | memoryview) -> bytes:
        return codec.encode(BlobType.DATA, bid, data)

    def handle(files: list[tuple[str, int]]) -> object:
        out = [digest_file(p, size, keys, chunker, encode, known.__contains__) for p, size in files]
        for fd in out:  # sealed blobs go over the pipe as they are, not copied into the pickle
            if fd is not None:
                fd.envelopes[:] = [None if e is None else pickle.PickleBuffer(e) for e in fd.envelopes]  # type: ignore[misc]
        return out

    return handle


if __name__ == "__main__":
    # Run the module's own copy (not __main__'s), so results pickle as opskeeper.backup.readers types.
    from opskeeper.backup import readers as _readers

    serve(_readers._setup, (SourceError,))
