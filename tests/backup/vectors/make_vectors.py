"""Regenerate the format test vectors: ``python -m tests.backup.vectors.make_vectors`` (see README.md: only
with a format version bump). Writes ``repo-v<REPO_VERSION>/`` here: a tiny repository with two snapshots of
the source below, made by this version's code with the passphrase ``PASSPHRASE``.

The source is built at ``SOURCE_ROOT`` (stored in the snapshots as ``SOURCE_ROOT`` without its leading ``/``),
with fixed modes and modification times, so ``test_format_vectors`` can check contents and metadata.
"""

from __future__ import annotations

import os
import random
import shutil
import sys
from datetime import UTC, datetime
from pathlib import Path

from opskeeper.backup.backup import backup
from opskeeper.backup.format import REPO_VERSION, ChunkerParams
from opskeeper.backup.repo import Repository
from opskeeper.backup.sources import DirSource
from opskeeper.backup.store.dir import DirStore
from opskeeper.clock import FixedClock

PASSPHRASE = "format vectors: staple battery"
SOURCE_ROOT = "/tmp/opskeeper-format-vectors/src"
HERE = Path(__file__).parent
REPO_DIR = HERE / f"repo-v{REPO_VERSION}"
CHUNKER = ChunkerParams(avg_size=4096, min_size=1024, max_size=16384)  # small: a 10 KB file is several chunks
MTIME_NS = 1_764_547_200_123_456_789  # 2025-12-01T00:00:00.123456789Z; directories and files alike
TIMES = (datetime(2026, 12, 1, 2, 0, tzinfo=UTC), datetime(2026, 12, 2, 2, 0, tzinfo=UTC))

CONF = "".join(f"setting_{i:03d} = value {i * 7}\n" for i in range(500)).encode()  # ~13 KB: several chunks
NOISE = random.Random(2026).randbytes(3000)  # incompressible: stored uncompressed

# Each snapshot: path (under SOURCE_ROOT) -> ("file", content, mode) | ("dir", None, mode) | ("symlink", target, 0)
Layout = dict[str, tuple[str, bytes | str | None, int]]
FIRST: Layout = {
    "etc": ("dir", None, 0o755),
    "etc/app": ("dir", None, 0o750),
    "etc/app/app.conf": ("file", CONF, 0o640),
    "etc/motd": ("file", "Bonjour, café ☕\n".encode(), 0o644),
    "bin": ("dir", None, 0o755),
    "bin/run.sh": ("file", b"#!/bin/sh\nexec app --serve\n", 0o755),
    "noise.bin": ("file", NOISE, 0o600),
    "empty": ("file", b"", 0o644),
    "current": ("symlink", "etc/app/app.conf", 0),
}
SECOND: Layout = {
    **{k: v for k, v in FIRST.items() if k != "bin/run.sh"},
    "etc/motd": ("file", b"second snapshot\n", 0o644),
    "new dir": ("dir", None, 0o700),
    "new dir/notes.txt": ("file", b"added in the second snapshot\n", 0o644),
}
SNAPSHOTS = (FIRST, SECOND)


def build_source(root: Path, layout: Layout) -> None:
    """Lay ``layout`` out under ``root`` (emptied first) with its modes and the fixed modification time."""
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    for rel, (kind, content, _mode) in sorted(layout.items()):
        p = root / rel
        if kind == "dir":
            p.mkdir()
        elif kind == "symlink":
            p.symlink_to(str(content))
        else:
            p.write_bytes(content if isinstance(content, bytes) else b"")
    for rel, (kind, _, mode) in sorted(layout.items(), reverse=True):  # children first: dir times last
        if kind != "symlink":
            os.chmod(root / rel, mode)
            os.utime(root / rel, ns=(MTIME_NS, MTIME_NS))
    os.utime(root, ns=(MTIME_NS, MTIME_NS))


def make(repo_dir: Path = REPO_DIR) -> None:
    shutil.rmtree(repo_dir, ignore_errors=True)
    store = DirStore(repo_dir)
    repo = Repository.init(store, PASSPHRASE, chunker=CHUNKER, pack_size=8 * 1024, clock=FixedClock(TIMES[0]))
    src = Path(SOURCE_ROOT)
    for layout, at in zip(SNAPSHOTS, TIMES, strict=True):
        build_source(src, layout)
        backup(repo, DirSource([src]), system="vectors", host="vector-host", tags=("files",), clock=FixedClock(at))
    repo.close()
    shutil.rmtree(src.parent)


if __name__ == "__main__":
    make(Path(sys.argv[1]) if len(sys.argv) > 1 else REPO_DIR)
    print(f"wrote {REPO_DIR}")
