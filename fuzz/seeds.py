"""Seed corpus: a tiny real repository made by this version's code, its objects cut into fuzzer inputs.

``python -m fuzz.seeds OUT`` writes ``OUT/<reader>/seed-*`` (one directory per fuzzer). The repository
is written with the harness's test keys, so raw seeds authenticate and mutations reach every parser.
"""

from __future__ import annotations

import hashlib
import random
import struct
import sys
import tempfile
from pathlib import Path

import zstandard

from fuzz.harness import PLAIN, RAW, SEALED, TEST_KDF, TEST_KEY_ID, TEST_KEYS, TEST_PASSPHRASE, seed
from opskeeper.backup.backup import backup
from opskeeper.backup.crypto import wrap_keys
from opskeeper.backup.format import ChunkerParams, RepoConfig
from opskeeper.backup.pack import read_pack_trailer
from opskeeper.backup.repo import Repository
from opskeeper.backup.sources import DirSource
from opskeeper.backup.store.dir import DirStore
from opskeeper.backup.verify import verify

READERS = ("config", "keys", "envelope", "pack", "index", "snapshot", "tree", "state")
SMALL_CHUNKS = ChunkerParams(avg_size=4096, min_size=1024, max_size=16384)


def make_source(root: Path) -> Path:
    """Known files: text (several chunks), random bytes (stored uncompressed), an empty file, a symlink, a dir."""
    rng = random.Random(15)
    (root / "etc" / "app").mkdir(parents=True)
    (root / "etc" / "app" / "app.conf").write_text("".join(f"key{i} = value {i}\n" for i in range(900)))
    (root / "etc" / "motd").write_text("hello, restorer\n")
    (root / "noise.bin").write_bytes(rng.randbytes(6000))
    (root / "empty").write_bytes(b"")
    (root / "current").symlink_to("etc/app/app.conf")
    return root


def make_repository(where: Path) -> Repository:
    """A repository with the test keys (cheap scrypt) and two snapshots."""
    store = DirStore(where / "repo")
    cfg = RepoConfig(id="5eed" * 16, created="2026-12-01T00:00:00+00:00", chunker=SMALL_CHUNKS, pack_size=32 * 1024)
    store.put(f"keys/{TEST_KEY_ID}", wrap_keys(TEST_KEYS, TEST_PASSPHRASE, TEST_KEY_ID, TEST_KDF))
    store.put("config", cfg.to_bytes())
    repo = Repository(store, cfg, TEST_KEYS)
    src = make_source(where / "src")
    backup(repo, DirSource([src]), system="fuzz", host="seed-host", tags=("files",))
    (src / "etc" / "motd").write_text("hello again\n")
    backup(repo, DirSource([src]), system="fuzz", host="seed-host", tags=("files",))
    verify(repo, read_pct=100.0)  # writes state/verify
    return repo


def _blob_input(btype: bytes, bid: bytes, raw_len: int, envelope: bytes | memoryview) -> bytes:
    return btype + bid + struct.pack("<I", raw_len) + bytes(envelope)


def collect(repo: Repository) -> dict[str, list[bytes]]:
    """Fuzzer inputs per reader, from the repository's real objects."""
    store, keys = repo.store, repo.keys
    out: dict[str, list[bytes]] = {r: [] for r in READERS}
    out["config"].append(store.get("config"))
    for info in store.list("keys/"):
        raw = store.get(info.name)
        out["keys"].append(seed(RAW, raw))
        out["keys"].append(seed(PLAIN, keys.to_json()))
        out["keys"].append(seed(SEALED, keys.to_json()))
    for info in store.list("data/"):
        pid = info.name.split("/", 1)[1]
        data = store.get(info.name)
        out["pack"].append(seed(RAW, data))
        refs = read_pack_trailer(pid, data, keys)
        table = b"".join(struct.pack("<32scII", bid, r.type.value.encode(), r.length, r.raw_len) for bid, r in refs)
        body = data[8:refs[-1][1].offset + refs[-1][1].length]
        out["pack"].append(seed(PLAIN, struct.pack("<H", len(table)) + table + body))
        for bid, r in refs:
            env = memoryview(data)[r.offset:r.offset + r.length]
            plain = keys.open(env, b"blob/" + r.type.value.encode() + b"/" + bid, "seed")
            target = "tree" if r.type.value == "t" else "envelope"
            out[target].append(seed(RAW, _blob_input(r.type.value.encode(), bid, r.raw_len, env)))
            out["envelope"].append(seed(PLAIN, struct.pack("<I", r.raw_len) + plain))
            if target == "tree":
                out["tree"].append(seed(PLAIN, repo.read_blob(bid)))
                out["tree"].append(seed(SEALED, repo.read_blob(bid)))
    for prefix, reader in (("index/", "index"), ("snapshots/", "snapshot"), ("state/", "state")):
        for info in store.list(prefix):
            sealed = store.get(info.name)
            plain = keys.open(sealed, info.name.encode(), info.name)
            out[reader].append(seed(RAW, info.name.encode() + b"\0" + sealed))
            out[reader].append(seed(PLAIN, plain))
            if reader == "index":
                # the JSON inside the index's zstd frame, for the SEALED mode
                out[reader].append(seed(SEALED, zstandard.ZstdDecompressor().decompress(plain[1:])))
            else:
                out[reader].append(seed(SEALED, plain))
    return out


def write_corpus(out_dir: Path) -> dict[str, int]:
    """Build the repository in a temporary directory and write the seeds; returns seeds per reader."""
    with tempfile.TemporaryDirectory(prefix="opskeeper-fuzz-seeds-") as tmp:
        seeds = collect(make_repository(Path(tmp)))
    counts = {}
    for reader, inputs in seeds.items():
        d = out_dir / reader
        d.mkdir(parents=True, exist_ok=True)
        for data in inputs:
            (d / f"seed-{hashlib.sha256(data).hexdigest()[:16]}").write_bytes(data)
        counts[reader] = len(inputs)
    return counts


if __name__ == "__main__":
    print(" ".join(f"{k}={v}" for k, v in write_corpus(Path(sys.argv[1])).items()))
