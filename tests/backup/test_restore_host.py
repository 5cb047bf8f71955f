"""Remote restore onto real sshd hosts: staged, verified, then moved into place; faults leave old files as they were."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import pytest

from opskeeper.backup.backup import backup
from opskeeper.backup.errors import IntegrityError, RestoreFailed
from opskeeper.backup.repo import Repository
from opskeeper.backup.restore import INCOMPLETE_MARKER, restore_remote, snapshot_entries
from opskeeper.backup.restore_host import PLACE_SOURCE, STAGE_PREFIX
from opskeeper.backup.sources import DirSource
from opskeeper.backup.store.dir import DirStore
from opskeeper.backup.tree import EntryKind, SnapshotManifest
from opskeeper.remote.interface import CommandResult, CommandStream
from opskeeper.remote.ssh import SSHExecutor
from testbed import TestBed, TestHost
from tests.backup.conftest import PASSPHRASE, assert_same_tree, make_tree, restored_root
from tests.remote.helpers import target


def _contents(root: Path) -> dict[str, bytes | str]:
    """Every file's bytes and every symlink's target below ``root``, by relative path."""
    out: dict[str, bytes | str] = {}
    for p in root.rglob("*"):
        rel = str(p.relative_to(root))
        if p.is_symlink():
            out[rel] = os.readlink(p)
        elif p.is_file():
            out[rel] = p.read_bytes()
    return out


def _old_version(src: Path, dest: Path, owner: Path) -> dict[str, bytes | str]:
    """What the host had before: the paths of ``src`` with other content, owned by the login user."""
    for p in sorted(src.rglob("*")):
        q = dest / p.relative_to(src)
        if p.is_symlink():
            q.symlink_to("old-target")
        elif p.is_dir():
            q.mkdir(parents=True, exist_ok=True)
        else:
            q.parent.mkdir(parents=True, exist_ok=True)
            q.write_bytes(f"old {p.relative_to(src)}\n".encode())
    st = owner.stat()
    for p in [dest, *dest.rglob("*")]:
        os.lchown(p, st.st_uid, st.st_gid)
    return _contents(dest)


def _leftovers(top: Path) -> list[Path]:
    """Staging directories still on the host (the marker shares their prefix, it is not one)."""
    return [p for p in top.rglob(STAGE_PREFIX + "*") if p.name != INCOMPLETE_MARKER]


@dataclass
class _Scene:
    src: Path
    snap: SnapshotManifest
    host: TestHost
    dest: Path  # the restore target on the host
    root: Path  # where ``src`` lands below it
    old: dict[str, bytes | str]  # what the host had there before


def _scene(repo: Repository, tmp_path: Path, fleet_factory: Callable[..., TestBed], seed: int) -> _Scene:
    """A snapshot of a local tree, and a host holding an older version of it (the login user's files)."""
    src = make_tree(tmp_path / "data", files=20, big=3, seed=seed)
    snap = backup(repo, DirSource([src]))
    h = fleet_factory(1).hosts[0]
    data = Path(h.data_dir)
    dest = data / "restored"
    root = restored_root(dest, src)
    old = _old_version(src, root, owner=data)
    for p in root.parents:  # the directories above the data: the login user's too
        if p == data:
            break
        os.chown(p, data.stat().st_uid, data.stat().st_gid)
    return _Scene(src, snap, h, dest, root, old)


def test_disk_full_mid_restore_keeps_old_files_and_a_rerun_finishes(
    dir_repo: Repository, tmp_path: Path, fleet_factory: Callable[..., TestBed]
) -> None:
    sc = _scene(dir_repo, tmp_path, fleet_factory, seed=5)
    src, snap, h, dest, root, old = sc.src, sc.snap, sc.host, sc.dest, sc.root, sc.old
    h.fill_disk()
    fill = Path(h.data_dir) / ".fill"
    os.truncate(fill, max(0, fill.stat().st_size - 1_000_000))  # room for some files, not for all
    with SSHExecutor(target(h)) as ex, pytest.raises(RestoreFailed, match="disk full") as failed:
        restore_remote(dir_repo, snap.id, ex, str(dest))
    assert h.name in str(failed.value) and "no file of the target was changed" in str(failed.value)
    assert _contents(root) == old  # every file as it was: nothing half-written, nothing replaced
    marker = (dest / INCOMPLETE_MARKER).read_text()
    assert "disk full" in marker and f"{h.name}:{dest}" in marker and snap.id[:12] in marker
    assert _leftovers(dest) == []
    h.free_disk()
    with SSHExecutor(target(h)) as ex:
        res = restore_remote(dir_repo, snap.id, ex, str(dest))
    assert res.files == res.verified == snap.stats.files
    assert_same_tree(src, root)
    assert not (dest / INCOMPLETE_MARKER).exists()
    assert _leftovers(dest) == []


def test_corrupted_pack_mid_stream_leaves_old_files(
    dir_store: DirStore, tmp_path: Path, fleet_factory: Callable[..., TestBed]
) -> None:
    repo = Repository.init(dir_store, PASSPHRASE, pack_size=256 * 1024)
    sc = _scene(repo, tmp_path, fleet_factory, seed=6)
    snap, h, dest, root, old = sc.snap, sc.host, sc.dest, sc.root, sc.old
    last = [e for e in snapshot_entries(repo, snap.id) if e.kind is EntryKind.FILE and e.size][-1]
    ref = repo.index[bytes.fromhex(last.chunks[-1])]  # the last file's data: damage found mid-stream
    repo.close()
    pack = dir_store._path(f"data/{ref.pack}")
    raw = bytearray(pack.read_bytes())
    raw[ref.offset + ref.length // 2] ^= 0x01
    pack.write_bytes(bytes(raw))
    repo = Repository.open(dir_store, PASSPHRASE)
    try:
        with SSHExecutor(target(h)) as ex, pytest.raises(IntegrityError) as failed:
            restore_remote(repo, snap.id, ex, str(dest))
    finally:
        repo.close()
    files = sum(1 for e in snapshot_entries(Repository.open(dir_store, PASSPHRASE), snap.id) if e.kind is EntryKind.FILE)
    msg = str(failed.value)  # what the pack codec says of the damage is its own (pack.py)
    assert msg.startswith(f"restore of snapshot {snap.id[:12]} to {h.name}:{dest} stopped while receiving at "
                          f"{last.path} ({files - 1} of {files} files sent): damaged data: pack {ref.pack}: "), msg
    assert msg.endswith("; no file of the target was changed"), msg
    assert _contents(root) == old
    assert snap.id[:12] in (dest / INCOMPLETE_MARKER).read_text()
    assert _leftovers(dest) == []


class _CutStream(CommandStream):
    """A real stream whose host loses sshd (and every session) once ``limit`` bytes went in."""

    def __init__(self, inner: CommandStream, host: TestHost, limit: int) -> None:
        self.inner, self.host, self.limit, self.sent = inner, host, limit, 0
        self.stdout: BinaryIO = inner.stdout

    def write_stdin(self, data: bytes) -> None:
        if self.sent <= self.limit < self.sent + len(data):
            self.host.kill_sshd()
        self.sent += len(data)
        self.inner.write_stdin(data)

    def close_stdin(self) -> None:
        self.inner.close_stdin()

    def wait(self, timeout: float | None = None) -> CommandResult:
        return self.inner.wait(timeout)


class _DropsMidStream(SSHExecutor):
    def __init__(self, host: TestHost, limit: int) -> None:
        super().__init__(target(host))
        self.bed_host, self.limit = host, limit

    def open_stream(self, argv: Sequence[str] | str, *, sudo: bool = False) -> CommandStream:
        return _CutStream(super().open_stream(argv, sudo=sudo), self.bed_host, self.limit)


def test_connection_lost_mid_stream_leaves_the_marker_and_a_rerun_finishes(
    dir_repo: Repository, tmp_path: Path, fleet_factory: Callable[..., TestBed]
) -> None:
    sc = _scene(dir_repo, tmp_path, fleet_factory, seed=7)
    src, snap, h, dest, root, old = sc.src, sc.snap, sc.host, sc.dest, sc.root, sc.old
    with _DropsMidStream(h, limit=1_000_000) as ex, pytest.raises(RestoreFailed, match="connection lost"):
        restore_remote(dir_repo, snap.id, ex, str(dest))
    assert _contents(root) == old
    assert "has not finished" in (dest / INCOMPLETE_MARKER).read_text()  # written before streaming began
    h.start_sshd()
    with SSHExecutor(target(h)) as ex:
        restore_remote(dir_repo, snap.id, ex, str(dest))
    assert_same_tree(src, root)
    assert not (dest / INCOMPLETE_MARKER).exists()
    assert _leftovers(dest) == []  # the interrupted run's staging directory too


def test_read_only_directories_restore_twice_as_the_login_user(
    dir_repo: Repository, tmp_path: Path, fleet_factory: Callable[..., TestBed]
) -> None:
    src = make_tree(tmp_path / "data", files=9, big=0, seed=8)
    (src / "sub" / "f001.txt").chmod(0o444)
    (src / "sub" / "deep").chmod(0o555)  # tar keeps it writable while extracting; the move must too
    snap = backup(dir_repo, DirSource([src]))
    h = fleet_factory(1).hosts[0]
    dest = Path(h.data_dir) / "restored"
    with SSHExecutor(target(h)) as ex:
        for _ in range(2):  # the second time over the first one's read-only directory
            restore_remote(dir_repo, snap.id, ex, str(dest))
            root = restored_root(dest, src)
            assert_same_tree(src, root)
            deep = (root / "sub" / "deep").stat()
            assert deep.st_mode & 0o777 == 0o555 and deep.st_uid == Path(h.data_dir).stat().st_uid
            assert deep.st_mtime_ns // 10**9 == (src / "sub" / "deep").stat().st_mtime_ns // 10**9
            assert _leftovers(dest) == [] and not (dest / INCOMPLETE_MARKER).exists()


def test_place_across_a_mount_point_copies_beside_then_renames(tmp_path: Path) -> None:
    shm = Path("/dev/shm")
    if not shm.is_dir() or shm.stat().st_dev == tmp_path.stat().st_dev:
        pytest.skip("needs /dev/shm on another file system than the test's tmp_path")
    stage = shm / f"okb-stage-{os.getpid()}"
    (stage / "d" / "e").mkdir(parents=True)
    try:
        (stage / "d" / "f").write_bytes(b"new")
        (stage / "d" / "l").symlink_to("f")
        os.utime(stage / "d", ns=(10**18, 10**18))
        root = tmp_path / "root"
        (root / "d" / "l").mkdir(parents=True)  # an empty directory where the symlink goes
        (root / "d" / "f").write_bytes(b"old")
        records = b"\0".join([b"dd", b"dd/e", b"fd/f", b"ld/l"])
        run = subprocess.run(["python3", "-I", "-S", "-c", PLACE_SOURCE, "place", str(stage), str(root), ""],
                             input=records, capture_output=True, check=False)
        assert run.returncode == 0, run.stderr
        assert run.stdout.strip() == b"2"
        assert (root / "d" / "f").read_bytes() == b"new" and os.readlink(root / "d" / "l") == "f"
        assert (root / "d").stat().st_mtime_ns == 10**18
        assert sorted(p.name for p in (root / "d").iterdir()) == ["e", "f", "l"]  # no .opskeeper-part left
    finally:
        shutil.rmtree(stage)
