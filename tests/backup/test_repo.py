"""Repository core on a directory store: round trip, dedup, change detection, format, keys."""

from __future__ import annotations

import json
import os
import random
from pathlib import Path

import pytest

from opskeeper.backup.backup import backup
from opskeeper.backup.errors import RepositoryExists, RepositoryNotFound, UnsupportedFormat, WrongPassphrase
from opskeeper.backup.format import ChunkerParams
from opskeeper.backup.repo import Repository
from opskeeper.backup.restore import restore
from opskeeper.backup.sources import DirSource
from opskeeper.backup.store.dir import DirStore
from opskeeper.backup.tree import EntryKind
from tests.backup.conftest import PASSPHRASE, assert_same_tree, make_tree, restored_root


def test_backup_restore_round_trip(dir_repo: Repository, data_dir: Path, tmp_path: Path) -> None:
    snap = backup(dir_repo, DirSource([data_dir]), system="sys1", tags=("files",))
    assert snap.stats.files == 33 and snap.stats.new_blobs > 0
    repo = Repository.open(dir_repo.store, PASSPHRASE)
    assert [s.id for s in repo.snapshots()] == [snap.id]
    res = restore(repo, snap.id[:10] and repo.resolve_snapshot(snap.id[:10]), tmp_path / "out")
    assert res.files == 33
    assert_same_tree(data_dir, restored_root(tmp_path / "out", data_dir))


def test_unchanged_rebackup_reads_nothing_and_dedups(dir_repo: Repository, data_dir: Path, tmp_path: Path) -> None:
    first = backup(dir_repo, DirSource([data_dir]))
    packs = {o.name for o in dir_repo.store.list("data/")}
    second = backup(dir_repo, DirSource([data_dir]))
    assert second.stats.reused_files == second.stats.files and second.stats.new_blobs == 0
    assert second.parent == first.id
    (data_dir / "sub" / "f001.txt").write_bytes(b"changed content")
    third = backup(dir_repo, DirSource([data_dir]))
    assert third.stats.reused_files == third.stats.files - 1
    assert third.stats.new_blobs == 1
    assert packs <= {o.name for o in dir_repo.store.list("data/")}
    restore(dir_repo, third.id, tmp_path / "out")
    assert_same_tree(data_dir, restored_root(tmp_path / "out", data_dir))


def test_identical_content_is_stored_once(dir_repo: Repository, tmp_path: Path) -> None:
    src = tmp_path / "dup"
    src.mkdir()
    payload = bytes(range(256)) * 4000
    for i in range(5):
        (src / f"copy{i}").write_bytes(payload)
    snap = backup(dir_repo, DirSource([src]))
    assert snap.stats.new_bytes == len(payload)


def test_wrong_passphrase_is_a_clear_error(dir_repo: Repository, data_dir: Path) -> None:
    backup(dir_repo, DirSource([data_dir]))
    with pytest.raises(WrongPassphrase, match="wrong passphrase"):
        Repository.open(dir_repo.store, "not the passphrase")
    assert WrongPassphrase.exit_code == 2


def test_not_a_repository_and_double_init(tmp_path: Path, dir_repo: Repository) -> None:
    with pytest.raises(RepositoryNotFound):
        Repository.open(DirStore(tmp_path / "nothing"), PASSPHRASE)
    with pytest.raises(RepositoryExists):
        Repository.init(dir_repo.store, PASSPHRASE)


def test_future_format_version_is_refused(dir_repo: Repository) -> None:
    cfg = json.loads(dir_repo.store.get("config"))
    cfg["version"] = 99
    dir_repo.store.put("config", json.dumps(cfg).encode())
    with pytest.raises(UnsupportedFormat, match="version 99"):
        Repository.open(dir_repo.store, PASSPHRASE)


def test_nothing_readable_without_the_key(dir_repo: Repository, data_dir: Path) -> None:
    """No file name or content appears in clear anywhere in the repository."""
    (data_dir / "secret-name.txt").write_bytes(b"TOP-SECRET-CONTENT " * 100)
    backup(dir_repo, DirSource([data_dir]))
    root = Path(dir_repo.store.location)
    for p in root.rglob("*"):
        if p.is_file():
            blob = p.read_bytes()
            assert b"TOP-SECRET" not in blob and b"secret-name" not in blob, p


def test_chunk_boundaries_depend_on_the_repository_secret(tmp_path: Path) -> None:
    """Same data, two repositories: different seeds give different cut points."""
    data = random.Random(5).randbytes(6_000_000)
    r1 = Repository.init(DirStore(tmp_path / "r1"), PASSPHRASE)
    r2 = Repository.init(DirStore(tmp_path / "r2"), PASSPHRASE)
    cuts1 = [len(c) for c in r1.chunker.cut_bytes(data)]
    cuts2 = [len(c) for c in r2.chunker.cut_bytes(data)]
    assert sum(cuts1) == sum(cuts2) == len(data)
    assert cuts1 != cuts2


def test_odd_file_names_round_trip(dir_repo: Repository, tmp_path: Path) -> None:
    src = tmp_path / "odd"
    src.mkdir()
    names = ["new\nline", "quote\"and\\slash", "中文.txt", "space name", os.fsdecode(b"latin1-\xe9")]
    for i, n in enumerate(names):
        (src / n).write_bytes(f"content {i}".encode())
    snap = backup(dir_repo, DirSource([src]))
    restore(dir_repo, snap.id, tmp_path / "out")
    assert_same_tree(src, restored_root(tmp_path / "out", src))


def test_a_file_deleted_during_the_walk_is_left_out(dir_repo: Repository, data_dir: Path, tmp_path: Path) -> None:
    victim = data_dir / "sub" / "f004.txt"

    class Vanishing(DirSource):
        def items(self):  # type: ignore[no-untyped-def]
            for item in super().items():
                if item.path.endswith("sub/f004.txt"):
                    victim.unlink()  # removed after the walk listed it, before it is read
                yield item

    snap = backup(dir_repo, Vanishing([data_dir]))
    assert snap.stats.files == 32
    restore(dir_repo, snap.id, tmp_path / "out")
    assert_same_tree(data_dir, restored_root(tmp_path / "out", data_dir))


def test_worker_processes_produce_the_same_repository_content(
    dir_repo: Repository, data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Big first backups seal files in worker processes: same ids, restorable, dedup still works."""
    import opskeeper.backup.backup as backup_module  # noqa: PLC0415

    monkeypatch.setattr(backup_module, "_PROCESSES_AFTER", 0)
    (data_dir / "copy.bin").write_bytes((data_dir / "big0.bin").read_bytes())
    snap = backup(dir_repo, DirSource([data_dir]))
    assert snap.stats.new_bytes < snap.stats.bytes  # the copy was deduplicated
    restore(dir_repo, snap.id, tmp_path / "out")
    assert_same_tree(data_dir, restored_root(tmp_path / "out", data_dir))
    monkeypatch.setattr(backup_module, "_PROCESSES_AFTER", 1 << 40)
    (data_dir / "f000.txt").write_bytes(b"changed")
    second = backup(dir_repo, DirSource([data_dir]))
    assert second.stats.new_blobs == 1  # ids from the workers match ids computed here


def test_writer_processes_restore_whole_directories_over_existing_files(
    dir_repo: Repository, data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Big local restores write files in processes, each given whole directories; same result."""
    import opskeeper.backup.restore as restore_module  # noqa: PLC0415

    monkeypatch.setattr(restore_module, "_PROCESSES_AFTER", 0)
    monkeypatch.setattr(restore_module, "_BATCH_FILES", 2)
    snap = backup(dir_repo, DirSource([data_dir]))
    out = tmp_path / "out"
    assert restore(dir_repo, snap.id, out).files == 33
    root = restored_root(out, data_dir)
    assert_same_tree(data_dir, root)
    (root / "f000.txt").write_bytes(b"stale")
    os.chmod(root / "f003.txt", 0o400)
    assert restore(dir_repo, snap.id, out).files == 33  # a re-run replaces what is there
    assert_same_tree(data_dir, root)
    assert not list(out.rglob("*.opskeeper-part"))
    files = [e for e in restore_module.snapshot_entries(dir_repo, snap.id) if e.kind is EntryKind.FILE]
    streams = restore_module._by_directory(files, 2)
    dirs = [{os.path.dirname(e.path) for e in s} for s in streams]
    assert all(dirs) and not dirs[0] & dirs[1]  # no directory is shared between the two writers


def test_pure_python_chunker_fallback(dir_repo: Repository, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without pyfastcdc the repository still works (slowly): same limits, stream = bytes."""
    import io  # noqa: PLC0415

    import opskeeper.backup.chunker as chunker_module  # noqa: PLC0415

    params = ChunkerParams(avg_size=16 * 1024, min_size=4 * 1024, max_size=64 * 1024)
    data = random.Random(9).randbytes(400_000)
    c = chunker_module.Chunker(params, 12345, pure_python=True)
    cuts = [bytes(x) for x in c.cut_bytes(data)]
    assert b"".join(cuts) == data and len(cuts) > 5
    assert all(params.min_size <= len(x) <= params.max_size for x in cuts[:-1])
    assert [bytes(x) for x in c.cut_stream(io.BytesIO(data))] == cuts
    monkeypatch.setattr(chunker_module, "FastCDC", None)
    repo = Repository.init(DirStore(tmp_path / "py"), PASSPHRASE, chunker=params)
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.bin").write_bytes(data)
    snap = backup(repo, DirSource([src]))
    restore(repo, snap.id, tmp_path / "out")
    assert_same_tree(src, restored_root(tmp_path / "out", src))


def test_a_file_that_grew_or_shrank_since_the_walk_is_read_whole(dir_repo: Repository, tmp_path: Path) -> None:
    import hashlib  # noqa: PLC0415

    from opskeeper.backup.chunker import Chunker  # noqa: PLC0415
    from opskeeper.backup.format import BlobType  # noqa: PLC0415
    from opskeeper.backup.readers import digest_file  # noqa: PLC0415

    chunker = Chunker(dir_repo.config.chunker, dir_repo.keys.chunker_seed)
    p = tmp_path / "live.log"
    for content in (random.Random(3).randbytes(3_000_000), b"short", b""):
        p.write_bytes(content)
        for walk_size in (0, 10, len(content), 5_000_000):
            fd = digest_file(str(p), walk_size, dir_repo.keys, chunker,
                             lambda b, c: dir_repo.encode(BlobType.DATA, b, c), lambda _: False)
            assert fd is not None and fd.size == len(content)
            assert fd.sha256 == hashlib.sha256(content).hexdigest()
    assert digest_file(str(tmp_path / "gone"), 1, dir_repo.keys, chunker, lambda b, c: b"", lambda _: False) is None


def test_worker_pools_close_their_pipes(
    dir_repo: Repository, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Reader and writer processes' pipes are closed by the pool, not left to the garbage collector."""
    import gc  # noqa: PLC0415
    import warnings  # noqa: PLC0415

    import opskeeper.backup.backup as backup_module  # noqa: PLC0415
    import opskeeper.backup.restore as restore_module  # noqa: PLC0415

    monkeypatch.setattr(backup_module, "_PROCESSES_AFTER", 0)
    monkeypatch.setattr(restore_module, "_PROCESSES_AFTER", 0)
    src = make_tree(tmp_path / "t")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        snap = backup(dir_repo, DirSource([src]))
        restore(dir_repo, snap.id, tmp_path / "out")
        gc.collect()
    assert [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)] == []
    assert_same_tree(src, restored_root(tmp_path / "out", src))
