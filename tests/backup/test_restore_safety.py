"""Restore safety: symlinks planted in the target are never followed, a damaged blob names its file,
every restored file and directory is fsynced before the restore returns."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from opskeeper.backup.backup import backup
from opskeeper.backup.errors import IntegrityError, RestoreFailed
from opskeeper.backup.repo import Repository
from opskeeper.backup.restore import INCOMPLETE_MARKER, restore, restore_remote, snapshot_entries
from opskeeper.backup.sources import DirSource
from opskeeper.backup.store.dir import DirStore
from opskeeper.backup.target_dir import TargetDir
from opskeeper.backup.tree import EntryKind
from opskeeper.remote.ssh import SSHExecutor
from testbed import TestBed
from tests.backup.conftest import PASSPHRASE, assert_same_tree, make_tree, restored_root
from tests.remote.helpers import target

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(params=["threads", "processes"])
def writers(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Both ways a local restore writes files: threads, and writer processes (any size)."""
    if request.param == "processes":
        monkeypatch.setattr("opskeeper.backup.restore._PROCESSES_AFTER", 0)
    return str(request.param)


def _outside(tmp_path: Path) -> Path:
    victim = tmp_path / "outside"
    victim.mkdir()
    (victim / "keep.txt").write_text("not the restore's\n")
    return victim


def test_a_symlink_planted_at_a_directory_is_replaced_not_followed(
    dir_repo: Repository, tmp_path: Path, writers: str
) -> None:
    src = make_tree(tmp_path / "data", files=12, big=1)
    snap = backup(dir_repo, DirSource([src]))
    out = tmp_path / "out"
    root = restored_root(out, src)
    victim = _outside(tmp_path)
    root.mkdir(parents=True)
    (root / "sub").symlink_to(victim)  # target/.../sub -> a directory outside the target
    restore(dir_repo, snap.id, out)
    assert sorted(p.name for p in victim.iterdir()) == ["keep.txt"]  # nothing written through the link
    assert not (root / "sub").is_symlink() and (root / "sub").is_dir()
    assert_same_tree(src, root)


def test_a_symlink_planted_above_the_restored_tree_is_replaced_not_followed(
    dir_repo: Repository, tmp_path: Path, writers: str
) -> None:
    src = make_tree(tmp_path / "data", files=6, big=0)
    snap = backup(dir_repo, DirSource([src]))
    out = tmp_path / "out"
    out.mkdir()
    first = str(src.resolve()).lstrip("/").split("/")[0]  # e.g. "tmp": the snapshot's top directory
    victim = _outside(tmp_path)
    (out / first).symlink_to(victim)  # the classic: target/etc -> /
    restore(dir_repo, snap.id, out)
    assert sorted(p.name for p in victim.iterdir()) == ["keep.txt"]
    assert not (out / first).is_symlink()
    assert_same_tree(src, restored_root(out, src))


def test_a_symlink_planted_at_a_file_name_is_replaced_and_its_target_untouched(
    dir_repo: Repository, tmp_path: Path, writers: str
) -> None:
    src = make_tree(tmp_path / "data", files=6, big=1)
    snap = backup(dir_repo, DirSource([src]))
    out = tmp_path / "out"
    root = restored_root(out, src)
    victim = _outside(tmp_path) / "keep.txt"
    (root / "sub").mkdir(parents=True)
    for name in ("f000.txt", "big0.bin", "sub/f001.txt"):
        (root / name).symlink_to(victim)
    (root / "f000.txt.opskeeper-part").symlink_to(victim)  # even a planted partial-file name
    (out / INCOMPLETE_MARKER).symlink_to(victim)
    restore(dir_repo, snap.id, out)
    assert victim.read_text() == "not the restore's\n"
    for name in ("f000.txt", "big0.bin", "sub/f001.txt"):
        assert not (root / name).is_symlink()
        assert (root / name).read_bytes() == (src / name).read_bytes()
    assert not (root / "f000.txt.opskeeper-part").exists()
    assert not (out / INCOMPLETE_MARKER).exists() and victim.exists()


def test_a_directory_swapped_for_a_symlink_while_writing_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "target"
    victim = _outside(tmp_path)
    with TargetDir(str(root.parent)) as parent:
        os.close(parent.open_dir("target/a/b", make=True))
    shutil.rmtree(root / "a")
    (root / "a").symlink_to(victim)  # after the directories were made: the writers must not follow it
    with TargetDir(str(root)) as t, pytest.raises(RestoreFailed) as err:
        t.open_dir("a/b")
    assert str(err.value) == (f"a/b: 'a' in the restore target {root} became a symlink or a file during "
                              "the restore; refusing to follow it")
    with TargetDir(str(root)) as t, pytest.raises(IntegrityError) as bad:
        t.open_dir("a/../b", make=True)
    assert str(bad.value) == "snapshot path 'a/../b' escapes the restore target"


def test_a_damaged_blob_names_the_file_being_restored(dir_store: DirStore, tmp_path: Path, writers: str) -> None:
    repo = Repository.init(dir_store, PASSPHRASE, pack_size=256 * 1024)
    src = make_tree(tmp_path / "data", files=20, big=2, seed=9)
    snap = backup(repo, DirSource([src]))
    files = [e for e in snapshot_entries(repo, snap.id) if e.kind is EntryKind.FILE]
    victim = next(e for e in files if e.path.endswith("big1.bin"))
    ref = repo.index[bytes.fromhex(victim.chunks[-1])]
    repo.close()
    pack = dir_store._path(f"data/{ref.pack}")
    raw = bytearray(pack.read_bytes())
    raw[ref.offset + ref.length // 2] ^= 0x01
    pack.write_bytes(bytes(raw))
    out = tmp_path / "out"
    repo = Repository.open(dir_store, PASSPHRASE)
    try:
        with pytest.raises(IntegrityError) as err:
            restore(repo, snap.id, out)
    finally:
        repo.close()
    msg = str(err.value)
    prefix = f"restore of snapshot {snap.id[:12]} to {out} stopped at {victim.path}: damaged data: pack {ref.pack}: "
    assert msg.startswith(prefix), msg
    assert re.search(rf"; \d+ of {len(files)} files restored and verified; partial files were removed$", msg), msg
    assert (out / INCOMPLETE_MARKER).read_text() == msg + "\n"
    assert not list(out.rglob("*.opskeeper-part"))


_STRACE_RESTORE = """
import sys
import opskeeper.backup.restore as r
from opskeeper.backup.repo import Repository
from opskeeper.backup.store.dir import DirStore
r._PROCESSES_AFTER = int(sys.argv[4])
repo = Repository.open(DirStore(sys.argv[1]), sys.argv[2])
r.restore(repo, "latest", sys.argv[3])
print("RESTORED")
"""


@pytest.mark.parametrize("processes_after", [2**62, 0], ids=["threads", "processes"])
def test_every_file_is_fsynced_before_its_rename_and_every_directory_after_its_entries(
    dir_repo: Repository, dir_store: DirStore, tmp_path: Path, processes_after: int
) -> None:
    strace = shutil.which("strace")
    if strace is None:
        pytest.skip("needs strace (make system-deps)")
    src = make_tree(tmp_path / "data", files=15, big=1)
    backup(dir_repo, DirSource([src]))
    out = tmp_path / "out"
    log = tmp_path / "strace.log"
    proc = subprocess.run(
        [strace, "-f", "-qq", "-y", "-o", str(log), "-e", "trace=fsync,rename,renameat,renameat2,symlinkat",
         sys.executable, "-c", _STRACE_RESTORE, str(dir_store.root), PASSPHRASE, str(out), str(processes_after)],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0 and "RESTORED" in proc.stdout, proc.stderr[-2000:]
    root = restored_root(out, src).resolve()
    synced: list[str] = []  # in order: files (their .opskeeper-part names) and directories
    renamed: dict[str, int] = {}  # destination path -> its position among the events
    events = 0
    for line in log.read_text().splitlines():
        events += 1
        fsync = re.search(r"fsync\(\d+<([^>]*)>", line)
        if fsync:
            synced.append(fsync.group(1))
            continue
        move = re.search(r'renameat2?\(\d+<([^>]*)>, "([^"]*)\.opskeeper-part", \d+<[^>]*>, "([^"]*)"', line)
        if move:
            renamed[f"{move.group(1)}/{move.group(3)}"] = events
    files = sorted(str(p) for p in root.rglob("*") if p.is_file() and not p.is_symlink())
    assert files and sorted(renamed) == files  # each file went in under a temporary name
    for f in files:
        assert f + ".opskeeper-part" in synced, f  # its data was on disk before the name pointed at it
    dirs = [str(root), *(str(p) for p in root.rglob("*") if p.is_dir() and not p.is_symlink())]
    for d in dirs:
        assert d in synced, d
        assert synced.count(d) == 1, d  # once each: batched per directory
    last_dir_sync = max(i for i, line in enumerate(log.read_text().splitlines(), 1)
                        if re.search(rf"fsync\(\d+<{re.escape(str(root))}>\)", line))
    assert last_dir_sync > max(renamed.values())  # the directories after the renames into them
    assert_same_tree(src, root)


def test_a_restore_onto_a_host_never_follows_symlinks_planted_in_the_target(
    dir_repo: Repository, tmp_path: Path, fleet_factory: Callable[..., TestBed]
) -> None:
    src = make_tree(tmp_path / "data", files=9, big=1)
    snap = backup(dir_repo, DirSource([src]))
    h = fleet_factory(1).hosts[0]
    data = Path(h.data_dir)
    owner = data.stat()
    victim = data / "outside"
    victim.mkdir()
    (victim / "keep.txt").write_text("not the restore's\n")
    dest = data / "restored"
    dest.mkdir()
    top = str(src.resolve()).lstrip("/").split("/")[0]
    (dest / top).symlink_to(victim)  # target/tmp -> a directory outside the target
    (dest / INCOMPLETE_MARKER).symlink_to(victim / "keep.txt")  # the marker written while it runs
    for p in [dest, *dest.iterdir(), victim, *victim.iterdir()]:
        os.lchown(p, owner.st_uid, owner.st_gid)  # the login user's, as the restore's own files would be
    with SSHExecutor(target(h)) as ex:
        res = restore_remote(dir_repo, snap.id, ex, str(dest))
    assert res.files == snap.stats.files
    assert sorted(p.name for p in victim.iterdir()) == ["keep.txt"]
    assert (victim / "keep.txt").read_text() == "not the restore's\n"
    assert not (dest / top).is_symlink()
    assert_same_tree(src, restored_root(dest, src))
    root = restored_root(dest, src)  # now a symlink at a file's name, restored over again
    (root / "f000.txt").unlink()
    (root / "f000.txt").symlink_to(victim / "keep.txt")
    os.lchown(root / "f000.txt", owner.st_uid, owner.st_gid)
    with SSHExecutor(target(h)) as ex:
        restore_remote(dir_repo, snap.id, ex, str(dest))
    assert (victim / "keep.txt").read_text() == "not the restore's\n"
    assert not (root / "f000.txt").is_symlink() and (root / "f000.txt").read_bytes() == (src / "f000.txt").read_bytes()
