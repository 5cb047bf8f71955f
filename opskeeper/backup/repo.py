"""The repository: config, keys, index, packs and snapshots over a BackupStore.

Writers append blobs; full packs are uploaded by a background thread, and each
pack's index object is written right after the pack, so a killed backup leaves
packs that the next run finds in the index and reuses. A snapshot object is
written last (atomically) and is the only thing that makes a backup visible.
"""

from __future__ import annotations

import json
import os
import queue
import secrets
import threading
from collections import OrderedDict, deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor

from opskeeper.backup.chunker import Chunker
from opskeeper.backup.crypto import MasterKeys, unwrap_keys, wrap_keys
from opskeeper.backup.errors import (
    BackupError,
    FormatError,
    IntegrityError,
    RepositoryExists,
    RepositoryNotFound,
    SnapshotNotFound,
    UnsupportedFormat,
    WrongPassphrase,
)
from opskeeper.backup.format import PACK_TARGET_SIZE, BlobType, ChunkerParams, RepoConfig, load_json
from opskeeper.backup.pack import BlobCodec, BlobRef, PackBuilder, decode_index, encode_index
from opskeeper.backup.store.interface import BackupStore, ObjectNotFound
from opskeeper.backup.tree import Entry, SnapshotManifest, decode_entries, encode_entries
from opskeeper.clock import SYSTEM, Clock

_PACK_CACHE = 6  # whole packs kept in memory while reading (restore reads them in backup order)
_INLINE_BELOW = 128 * 1024
_MAX_INFLIGHT = 64  # blobs being compressed/encrypted at once; bounds memory to ~64 chunks


def new_id() -> str:
    return secrets.token_hex(32)


def decode_state(plain: bytes, what: str) -> dict[str, object]:
    """A ``state/<name>`` object's (opened) bytes: one JSON object."""
    value = load_json(plain, what)
    if not isinstance(value, dict):
        raise FormatError(f"{what}: not a JSON object")
    return value


class Repository:
    """An opened repository (keys unlocked). Not thread-safe except for the internal uploader."""

    def __init__(self, store: BackupStore, config: RepoConfig, keys: MasterKeys) -> None:
        self.store = store
        self.config = config
        self.keys = keys
        self.chunker = Chunker(config.chunker, keys.chunker_seed)
        self.index: dict[bytes, BlobRef] = {}
        self._index_loaded = False
        self.index_objects: dict[str, set[str]] = {}  # index object id -> packs it lists
        self._pending: dict[bytes, None] = {}
        self._pack = PackBuilder()
        self._uploads: queue.Queue[PackBuilder | None] = queue.Queue(2)
        self._uploader: threading.Thread | None = None
        self._upload_error: BaseException | None = None
        self._pack_cache: OrderedDict[str, bytes] = OrderedDict()
        self.stats_new_packs = 0
        self.workers = max(2, min(4, os.cpu_count() or 2))
        self._encoders: ThreadPoolExecutor | None = None
        self._inflight: deque[tuple[Future[bytes], BlobType, bytes, int]] = deque()
        self._local = threading.local()
        self._read_lock = threading.Lock()
        self.stats_new_pack_bytes = 0

    # -- lifecycle ---------------------------------------------------------------------------------
    @classmethod
    def init(cls, store: BackupStore, passphrase: str, *, chunker: ChunkerParams | None = None,
             pack_size: int | None = None, clock: Clock = SYSTEM) -> Repository:
        if store.exists("config"):
            raise RepositoryExists(f"{store.location} already holds a repository")
        cfg = RepoConfig(id=new_id(), created=clock.now().isoformat(),
                         chunker=chunker or ChunkerParams(), pack_size=pack_size or PACK_TARGET_SIZE)
        keys = MasterKeys.generate()
        key_id = new_id()
        store.put(f"keys/{key_id}", wrap_keys(keys, passphrase, key_id))
        store.put("config", cfg.to_bytes())  # written last: a half-initialised target is not a repository
        return cls(store, cfg, keys)

    @classmethod
    def open(cls, store: BackupStore, passphrase: str, *, load_index: bool = False) -> Repository:
        """Unlock the repository. The index loads on first use (or now, with ``load_index``)."""
        try:
            cfg = RepoConfig.from_bytes(store.get("config"), store.location)
        except ObjectNotFound as e:
            raise RepositoryNotFound(f"no backup repository at {store.location}") from e
        keys = None
        unreadable: list[BackupError] = []  # a damaged key object must not hide a good one
        key_objects = list(store.list("keys/"))
        for info in key_objects:
            key_id = info.name.split("/", 1)[1]
            try:
                keys = unwrap_keys(store.get(info.name), passphrase, key_id)
                break
            except WrongPassphrase:
                continue
            except (IntegrityError, UnsupportedFormat) as e:
                unreadable.append(e)
        if keys is None:
            if unreadable and len(unreadable) == len(key_objects):
                raise unreadable[0]
            raise WrongPassphrase(f"wrong passphrase for the repository at {store.location}"
                                  + "".join(f"; {e}" for e in unreadable))
        repo = cls(store, cfg, keys)
        if load_index:
            repo.load_index()
        return repo

    def ensure_index(self) -> None:
        if not self._index_loaded:
            self.load_index()

    def load_index(self) -> None:
        """(Re)read every index object: packs other writers stored meanwhile become known."""
        self._index_loaded = True
        self.index.clear()
        self.index_objects.clear()
        for info in self.store.list("index/"):
            oid = info.name.split("/", 1)[1]
            refs = decode_index(self._get_sealed(info.name), info.name)
            for bid, ref in refs:
                self.index[bid] = ref
            self.index_objects[oid] = {ref.pack for _, ref in refs}

    # -- sealed whole objects (index, snapshots, state) --------------------------------------------
    def _put_sealed(self, name: str, plain: bytes, *, retain: bool = True) -> None:
        self.store.put(name, self.keys.seal(plain, name.encode()), retain=retain)

    def _get_sealed(self, name: str) -> bytes:
        return self.keys.open(self.store.get(name), name.encode(), name)

    def put_index(self, index_id: str, plain: bytes) -> None:
        self._put_sealed(f"index/{index_id}", plain)

    # -- writing blobs -----------------------------------------------------------------------------
    def has_blob(self, blob_id: bytes) -> bool:
        self.ensure_index()
        return blob_id in self.index or blob_id in self._pending

    def add_blob(self, btype: BlobType, data: bytes | memoryview) -> tuple[bytes, bool]:
        """Store a blob unless known; returns (id, stored_now). ``data`` must stay unchanged afterwards.

        Compression and encryption run on worker threads (zstd, hashlib and OpenSSL release
        the GIL); results enter the pack in submission order, so packs follow file order.
        """
        blob_id = self.keys.blob_id(data)
        return blob_id, self.add_blob_with_id(btype, blob_id, data)

    def add_blob_with_id(self, btype: BlobType, blob_id: bytes, data: bytes | memoryview) -> bool:
        """Like ``add_blob`` when the caller already computed the id: True when stored now."""
        if self.has_blob(blob_id):
            return False
        self._pending[blob_id] = None
        if len(data) < _INLINE_BELOW:  # a thread hop costs more than compressing a small file
            self._pack.add(btype, blob_id, self._encode(btype, blob_id, data), len(data))
            if len(self._pack) >= self.config.pack_size:
                self._drain_and_seal()
            return True
        if self._encoders is None:
            self._encoders = ThreadPoolExecutor(self.workers, thread_name_prefix="blob-encode")
        fut = self._encoders.submit(self._encode, btype, blob_id, data)
        self._inflight.append((fut, btype, blob_id, len(data)))
        while self._inflight and (len(self._inflight) > _MAX_INFLIGHT or self._inflight[0][0].done()):
            self._take_encoded()
        return True

    def add_sealed(self, btype: BlobType, blob_id: bytes, envelope: bytes | memoryview | None, raw_len: int) -> bool:
        """Append a blob sealed elsewhere (``encode``); ``None`` means it was known when read. True if new."""
        if self.has_blob(blob_id):
            return False
        if envelope is None:
            raise IntegrityError(f"blob {blob_id.hex()[:16]} was known when read but is not in the index")
        self._pending[blob_id] = None
        self._pack.add(btype, blob_id, envelope, raw_len)
        if len(self._pack) >= self.config.pack_size:
            self._drain_and_seal()
        return True

    def encode(self, btype: BlobType, blob_id: bytes, data: bytes | memoryview) -> bytes:
        """Compress and seal a blob (thread-safe: one codec per thread)."""
        return self._encode(btype, blob_id, data)

    def _encode(self, btype: BlobType, blob_id: bytes, data: bytes | memoryview) -> bytes:
        codec = getattr(self._local, "codec", None)
        if codec is None:
            codec = self._local.codec = BlobCodec(self.keys, self.config.compression, self.config.zstd_level)
        return codec.encode(btype, blob_id, data)

    def _drain_and_seal(self) -> None:
        while self._inflight:
            self._take_encoded()
        self._seal_pack()

    def _take_encoded(self) -> None:
        fut, btype, blob_id, raw_len = self._inflight.popleft()
        self._pack.add(btype, blob_id, fut.result(), raw_len)
        if len(self._pack) >= self.config.pack_size:
            self._seal_pack()

    def _seal_pack(self) -> None:
        if not self._pack.entries:
            return
        pack, self._pack = self._pack, PackBuilder()
        self._start_uploader()
        self._check_upload_error()
        self._uploads.put(pack)  # finished (trailer, SHA-256) on the uploader thread

    def _start_uploader(self) -> None:
        if self._uploader is None:
            self._uploader = threading.Thread(target=self._upload_loop, name="pack-uploader", daemon=True)
            self._uploader.start()

    def _upload_loop(self) -> None:
        while True:
            item = self._uploads.get()
            if item is None:
                return
            if self._upload_error is not None:
                continue  # drain: the writer will raise
            try:
                pid, parts = item.finish(self.keys)
                size = sum(len(p) for p in parts)
                refs = [(bid, BlobRef(pid, bt, off, ln, raw)) for bid, bt, off, ln, raw in item.entries]
                self.store.put_parts(f"data/{pid}", parts)
                del parts  # the envelopes (and the worker buffers they point into) go now
                iid = new_id()
                self._put_sealed(f"index/{iid}", encode_index({pid: refs}))
                for bid, ref in refs:
                    self.index[bid] = ref
                    self._pending.pop(bid, None)
                self.index_objects[iid] = {pid}
                self.stats_new_packs += 1
                self.stats_new_pack_bytes += size
            except BaseException as e:  # surfaced to the writer thread
                self._upload_error = e

    def _check_upload_error(self) -> None:
        if self._upload_error is not None:
            err = self._upload_error
            raise err if isinstance(err, BackupError) else BackupError(f"pack upload failed: {err}")

    def flush(self) -> None:
        """Upload the open pack and wait until every pack and its index are stored."""
        while self._inflight:
            self._take_encoded()
        self._seal_pack()
        if self._uploader is not None:
            self._uploads.put(None)
            self._uploader.join()
            self._uploader = None
        self._check_upload_error()

    # -- reading blobs -----------------------------------------------------------------------------
    def read_pack(self, pack_id: str) -> bytes:
        with self._read_lock:  # restore threads share the cache; one fetch per pack
            data = self._pack_cache.get(pack_id)
            if data is None:
                data = self.store.get(f"data/{pack_id}")
                self._pack_cache[pack_id] = data
                while len(self._pack_cache) > _PACK_CACHE:
                    self._pack_cache.popitem(last=False)
            else:
                self._pack_cache.move_to_end(pack_id)
            return data

    def forget_pack(self, pack_id: str) -> None:
        with self._read_lock:
            self._pack_cache.pop(pack_id, None)

    def read_blob(self, blob_id: bytes) -> bytes:
        self.ensure_index()
        ref = self.index.get(blob_id)
        if ref is None:
            raise IntegrityError(f"blob {blob_id.hex()[:16]} is not in the index (missing data)")
        data = self.read_pack(ref.pack)
        env = memoryview(data)[ref.offset:ref.offset + ref.length]
        codec = getattr(self._local, "codec", None)
        if codec is None:
            codec = self._local.codec = BlobCodec(self.keys, self.config.compression, self.config.zstd_level)
        try:
            return codec.decode(ref.type, blob_id, env, ref.raw_len)
        except IntegrityError as e:  # FormatError stays a FormatError
            raise type(e)(f"pack {ref.pack}: {e}") from e

    # -- trees and snapshots -----------------------------------------------------------------------
    def _chunk_id_of(self, sha256_hex: str) -> str:
        return self.keys.blob_id_of_digest(bytes.fromhex(sha256_hex)).hex()

    def write_entries(self, entries: list[Entry]) -> list[str]:
        """Store a snapshot's file list as tree blobs; returns their ids."""
        return self.write_tree(encode_entries(entries))

    def read_entries(self, tree_ids: Iterable[str]) -> list[Entry]:
        return decode_entries(self.read_tree(tree_ids), self._chunk_id_of)

    def write_tree(self, payload: bytes) -> list[str]:
        return [self.add_blob(BlobType.TREE, piece)[0].hex() for piece in self.chunker.cut_bytes(payload)]

    def read_tree(self, tree_ids: Iterable[str]) -> bytes:
        return b"".join(self.read_blob(bytes.fromhex(t)) for t in tree_ids)

    def save_snapshot(self, manifest: SnapshotManifest) -> None:
        """Commit point: everything the manifest references is stored before this single atomic put."""
        self.flush()
        self._put_sealed(f"snapshots/{manifest.id}", manifest.to_json())

    def snapshot_ids(self) -> list[str]:
        return [i.name.split("/", 1)[1] for i in self.store.list("snapshots/")]

    def load_snapshot(self, snap_id: str) -> SnapshotManifest:
        name = f"snapshots/{snap_id}"
        return SnapshotManifest.from_json(self._get_sealed(name), name)

    def resolve_snapshot(self, prefix: str, *, system: str | None = None) -> str:
        """A full snapshot id from an unambiguous prefix; ``latest`` is the newest (of ``system``, if given)."""
        ids = self.snapshot_ids()
        if prefix == "latest":
            snaps = sorted((s for s in self.snapshots() if system is None or s.system == system),
                           key=lambda s: s.time)
            if snaps:
                return snaps[-1].id
            of = f" of system {system}" if system else ""
            raise SnapshotNotFound(f"no snapshot{of} in {self.store.location}")
        found = [i for i in ids if i.startswith(prefix)]
        if len(found) != 1:
            what = "no snapshot" if not found else f"{len(found)} snapshots"
            raise SnapshotNotFound(f"{what} match {prefix!r} in {self.store.location}")
        return found[0]

    def snapshots(self) -> Iterator[SnapshotManifest]:
        for sid in self.snapshot_ids():
            yield self.load_snapshot(sid)

    # -- small mutable state ----------------------------------------------------------------------
    def get_state(self, name: str) -> dict[str, object]:
        try:
            return decode_state(self._get_sealed(f"state/{name}"), f"state/{name}")
        except ObjectNotFound:
            return {}

    def put_state(self, name: str, value: dict[str, object]) -> None:
        self._put_sealed(f"state/{name}", json.dumps(value).encode(), retain=False)

    def close(self) -> None:
        if self._encoders is not None:
            self._encoders.shutdown(wait=True, cancel_futures=True)
            self._encoders = None
        self._pack_cache.clear()
