"""Format test vectors: a tiny repository written by format version 1 (tests/backup/vectors/repo-v1) must
stay readable. This version opens it, lists both snapshots, restores them, checks every file's content and
metadata, verifies every pack, and reads each pack's trailer. A change that cannot read it fails here."""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

import pytest

from opskeeper.backup.errors import WrongPassphrase
from opskeeper.backup.format import REPO_VERSION
from opskeeper.backup.pack import BlobRef, read_pack_trailer
from opskeeper.backup.repo import Repository
from opskeeper.backup.restore import restore
from opskeeper.backup.store.dir import DirStore
from opskeeper.backup.tree import EntryKind
from opskeeper.backup.verify import verify
from tests.backup.vectors.make_vectors import (
    CONF,
    MTIME_NS,
    PASSPHRASE,
    REPO_DIR,
    SNAPSHOTS,
    SOURCE_ROOT,
    TIMES,
    Layout,
)

ROOT = SOURCE_ROOT.lstrip("/")


@pytest.fixture
def vectors(tmp_path: Path) -> Repository:
    """The committed repository, copied (a restore writes a lock into it), opened with the known passphrase."""
    shutil.copytree(REPO_DIR, tmp_path / "repo")
    return Repository.open(DirStore(tmp_path / "repo"), PASSPHRASE)


def test_the_vectors_are_this_format_version() -> None:
    assert REPO_DIR.name == f"repo-v{REPO_VERSION}", "a format version bump needs new vectors (see README.md)"


def test_snapshots_are_listed_with_their_manifest(vectors: Repository) -> None:
    snaps = sorted(vectors.snapshots(), key=lambda s: s.time)
    assert [s.time for s in snaps] == [t.isoformat() for t in TIMES]
    assert {(s.host, s.system, s.source_kind, s.source, s.tags) for s in snaps} == {
        ("vector-host", "vectors", "dir", SOURCE_ROOT, ("files",))}
    assert snaps[1].parent == snaps[0].id
    assert [s.stats.files for s in snaps] == [sum(k == "file" for k, _, _ in layout.values()) for layout in SNAPSHOTS]
    assert vectors.resolve_snapshot("latest") == snaps[1].id


def _check_entries(vectors: Repository, snap_id: str, layout: Layout) -> None:
    entries = {e.path: e for e in vectors.read_entries(vectors.load_snapshot(snap_id).tree)}
    assert sorted(entries) == sorted([ROOT] + [f"{ROOT}/{rel}" for rel in layout])
    for rel, (kind, content, mode) in layout.items():
        e = entries[f"{ROOT}/{rel}"]
        assert e.kind is EntryKind(kind), rel
        if kind == "symlink":
            assert e.target == content
            continue
        assert (e.mode, e.mtime_ns) == (mode, MTIME_NS), rel
        if kind == "file":
            assert isinstance(content, bytes) and e.size == len(content), rel
    assert len(entries[f"{ROOT}/etc/app/app.conf"].chunks) > 1  # a file of several chunks (its ids listed)
    assert entries[f"{ROOT}/empty"].chunks == ()


def _check_restored(out: Path, layout: Layout) -> None:
    base = out / ROOT
    found = sorted(str(p.relative_to(base)) for p in base.rglob("*"))
    assert found == sorted(layout)
    for rel, (kind, content, mode) in layout.items():
        p = base / rel
        st = os.lstat(p)
        if kind == "symlink":
            assert stat.S_ISLNK(st.st_mode) and os.readlink(p) == content, rel
            continue
        assert (stat.S_IMODE(st.st_mode), st.st_mtime_ns) == (mode, MTIME_NS), rel
        if kind == "file":
            assert p.read_bytes() == content, rel
        else:
            assert stat.S_ISDIR(st.st_mode), rel


@pytest.mark.parametrize("which", [0, 1])
def test_each_snapshot_restores_with_content_and_metadata(vectors: Repository, tmp_path: Path, which: int) -> None:
    snap = sorted(vectors.snapshots(), key=lambda s: s.time)[which]
    layout = SNAPSHOTS[which]
    _check_entries(vectors, snap.id, layout)
    result = restore(vectors, snap.id, tmp_path / "out")
    assert result.verified == result.files == sum(k == "file" for k, _, _ in layout.values())
    _check_restored(tmp_path / "out", layout)


def test_every_pack_verifies_and_its_trailer_matches_the_index(vectors: Repository) -> None:
    report = verify(vectors, read_pct=100.0)
    assert report.ok, report.problems
    assert report.packs_read == report.packs == len(list(vectors.store.list("data/")))
    from_packs: dict[bytes, BlobRef] = {}
    for info in vectors.store.list("data/"):
        pid = info.name.split("/", 1)[1]
        from_packs.update(read_pack_trailer(pid, vectors.store.get(info.name), vectors.keys))
    assert from_packs == vectors.index
    latest = vectors.read_entries(vectors.load_snapshot(vectors.resolve_snapshot("latest")).tree)
    conf = next(e for e in latest if e.path == f"{ROOT}/etc/app/app.conf")
    assert b"".join(vectors.read_blob(bytes.fromhex(c)) for c in conf.chunks) == CONF


def test_a_wrong_passphrase_is_refused() -> None:
    with pytest.raises(WrongPassphrase):
        Repository.open(DirStore(REPO_DIR), "not the passphrase")
