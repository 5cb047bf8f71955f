"""Faults with real processes: kill -9 mid-upload, S3 server stopped, corrupted pack, disk full, races."""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from opskeeper.backup.backup import backup
from opskeeper.backup.errors import BackupError, RepositoryLocked, RestoreFailed
from opskeeper.backup.locks import RepoLock
from opskeeper.backup.prune import prune
from opskeeper.backup.repo import Repository
from opskeeper.backup.restore import INCOMPLETE_MARKER, restore
from opskeeper.backup.sources import DirSource
from opskeeper.backup.store.dir import DirStore
from opskeeper.backup.verify import verify
from opskeeper.config.backup import Retention
from tests.backup.conftest import (
    PASSPHRASE,
    SMALL_PACKS,
    MotoServer,
    S3Factory,
    assert_same_tree,
    interruptible,
    make_tree,
    restored_root,
)

REPO_ROOT = Path(__file__).resolve().parents[2]


def start_backup(store: str, source: Path, slow: float = 0.0) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.backup.backup_proc", store, str(source), "--slow", str(slow)],
        cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def wait_for_puts(proc: subprocess.Popen[str], n: int) -> list[str]:
    assert proc.stdout is not None
    seen: list[str] = []
    for line in proc.stdout:
        if line.startswith("PUT "):
            seen.append(line.split()[1])
            if len(seen) >= n:
                return seen
    raise AssertionError(f"backup ended after {len(seen)} packs: {proc.stderr.read() if proc.stderr else ''}")


@pytest.fixture
def big_data(tmp_path: Path) -> Path:
    return make_tree(tmp_path / "big", files=60, big=6, seed=7)


def test_kill_9_mid_upload_leaves_a_valid_repo_and_the_next_run_reuses_packs(
    dir_store: DirStore, big_data: Path, tmp_path: Path
) -> None:
    Repository.init(dir_store, PASSPHRASE, pack_size=SMALL_PACKS)
    proc = start_backup(str(dir_store.root), big_data, slow=0.3)
    uploaded = wait_for_puts(proc, 3)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    repo = Repository.open(dir_store, PASSPHRASE)
    assert repo.snapshot_ids() == []  # no half snapshot
    assert verify(repo, read_pct=100).ok
    indexed = {ref.pack for ref in repo.index.values()}
    assert {u.split("/")[1] for u in uploaded[:2]} <= indexed  # the killed run's packs are known
    snap = backup(repo, DirSource([big_data]))  # the killed process's lock is stale: pid gone
    assert snap.stats.new_bytes < snap.stats.bytes  # reused what was uploaded
    restore(repo, snap.id, tmp_path / "out")
    assert_same_tree(big_data, restored_root(tmp_path / "out", big_data))
    prune(repo, Retention())  # orphan packs of the killed run are removed, nothing used is
    assert verify(repo, read_pct=100).ok
    restore(repo, snap.id, tmp_path / "out2")
    assert_same_tree(big_data, restored_root(tmp_path / "out2", big_data))


@pytest.mark.s3
def test_s3_server_stopped_mid_backup_fails_cleanly_and_the_repo_survives(
    s3_store_factory: S3Factory, big_data: Path, tmp_path: Path
) -> None:
    """The server process is stopped (SIGSTOP: connections hang) mid-upload, then resumed."""
    server = MotoServer()
    server.start()
    try:
        store = s3_store_factory(server=server)
        Repository.init(store, PASSPHRASE, pack_size=SMALL_PACKS)
        proc = start_backup(f"s3://{server.port}/{store.s.bucket}", big_data, slow=0.3)
        wait_for_puts(proc, 2)
        assert server.proc is not None
        server.proc.send_signal(signal.SIGSTOP)
        try:
            out, _ = proc.communicate(timeout=120)  # retries with backoff, then gives up
        finally:
            server.proc.send_signal(signal.SIGCONT)
        assert proc.returncode == 1
        assert "ERROR" in out and store.s.bucket in out  # the message names the target
        assert "SNAPSHOT" not in out
        repo = Repository.open(store, PASSPHRASE)
        assert repo.snapshot_ids() == []  # nothing half-committed
        assert verify(repo, read_pct=100).ok
        snap = backup(repo, DirSource([big_data]))  # the dead process's lock is stale (same host, pid gone)
        restore(repo, snap.id, tmp_path / "out")
        assert_same_tree(big_data, restored_root(tmp_path / "out", big_data))
    finally:
        server.stop()


@pytest.mark.s3
def test_kill_9_mid_upload_to_s3(s3_store_factory: S3Factory, big_data: Path, tmp_path: Path) -> None:
    store = s3_store_factory()
    Repository.init(store, PASSPHRASE, pack_size=SMALL_PACKS)
    port = store.s.endpoint_url.rsplit(":", 1)[1] if store.s.endpoint_url else ""
    proc = start_backup(f"s3://{port}/{store.s.bucket}", big_data, slow=0.3)
    wait_for_puts(proc, 2)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    repo = Repository.open(store, PASSPHRASE)
    assert repo.snapshot_ids() == []
    snap = backup(repo, DirSource([big_data]))
    assert snap.stats.new_bytes < snap.stats.bytes
    restore(repo, snap.id, tmp_path / "out")
    assert_same_tree(big_data, restored_root(tmp_path / "out", big_data))


@pytest.fixture(params=["threads", "processes"])
def restore_writers(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run a local restore on writer threads, or (as a big one does) in writer processes."""
    import opskeeper.backup.restore as restore_module  # noqa: PLC0415

    if request.param == "processes":
        monkeypatch.setattr(restore_module, "_PROCESSES_AFTER", 0)
    return str(request.param)


def test_corrupted_byte_in_a_pack_is_named_and_other_snapshots_restore(
    dir_repo: Repository, tmp_path: Path, restore_writers: str
) -> None:
    a = make_tree(tmp_path / "a", files=10, big=1, seed=11)
    b = make_tree(tmp_path / "b", files=10, big=1, seed=12)
    snap_a = backup(dir_repo, DirSource([a]))
    packs_a = {o.name for o in dir_repo.store.list("data/")}
    snap_b = backup(dir_repo, DirSource([b]))
    victim = sorted(packs_a)[0]
    assert isinstance(dir_repo.store, DirStore)
    path = dir_repo.store._path(victim)
    raw = bytearray(path.read_bytes())
    raw[200] ^= 0x01
    path.write_bytes(bytes(raw))
    report = verify(dir_repo, read_pct=100)
    assert not report.ok
    pack_id = victim.split("/")[1]
    assert report.damaged_packs == [pack_id]
    hits = [p for p in report.problems if p.snapshot]
    assert hits and {p.snapshot for p in hits} == {snap_a.id}
    assert all(p.path.startswith(str(a).lstrip("/")) for p in hits)
    restore(dir_repo, snap_b.id, tmp_path / "out")  # the other snapshot is untouched
    assert_same_tree(b, restored_root(tmp_path / "out", b))
    with pytest.raises(BackupError):
        restore(dir_repo, snap_a.id, tmp_path / "out-a")


def test_verify_read_data_rotates_through_all_packs(dir_repo: Repository, tmp_path: Path) -> None:
    src = make_tree(tmp_path / "rot", files=40, big=8, seed=3)
    backup(dir_repo, DirSource([src]))
    total = len({o.name for o in dir_repo.store.list("data/")})
    read = sum(verify(dir_repo, read_pct=25).packs_read for _ in range(4))
    assert read == total


@pytest.fixture
def tiny_disk(tmp_path: Path):  # type: ignore[no-untyped-def]
    mnt = tmp_path / "tiny"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mnt)], capture_output=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs: {r.stderr.decode().strip()}")
    yield mnt
    subprocess.run(["umount", str(mnt)], check=False)


def test_disk_full_during_restore(dir_repo: Repository, big_data: Path, tiny_disk: Path, tmp_path: Path,
                                  restore_writers: str) -> None:
    snap = backup(dir_repo, DirSource([big_data]))
    with pytest.raises(RestoreFailed, match="disk full"):
        restore(dir_repo, snap.id, tiny_disk / "out")
    marker = tiny_disk / "out" / INCOMPLETE_MARKER
    assert marker.exists() and "disk full" in marker.read_text()
    root = restored_root(tiny_disk / "out", big_data)
    for p in root.rglob("*"):  # whatever is there is complete and correct
        if p.is_file():
            assert p.read_bytes() == (big_data / p.relative_to(root)).read_bytes()
    restore(dir_repo, snap.id, tmp_path / "roomy")  # the same snapshot restores where there is space
    assert_same_tree(big_data, restored_root(tmp_path / "roomy", big_data))
    subprocess.run(["mount", "-o", "remount,size=256m", str(tiny_disk)], check=True)  # room made on the disk
    restore(dir_repo, snap.id, tiny_disk / "out")  # a re-run in place finishes the job
    assert_same_tree(big_data, root)
    assert not marker.exists()


def test_prune_racing_a_backup_loses_to_the_lock(dir_store: DirStore, big_data: Path, tmp_path: Path) -> None:
    repo = Repository.init(dir_store, PASSPHRASE, pack_size=SMALL_PACKS)
    old = backup(repo, DirSource([big_data]))
    (big_data / "f000.txt").write_bytes(b"second version")
    proc = start_backup(str(dir_store.root), big_data, slow=0.2)
    wait_for_puts(proc, 1)
    with pytest.raises(RepositoryLocked, match="shared lock by backup"):
        prune(repo, Retention(keep_last=1, keep_daily=0, keep_weekly=0, keep_monthly=0, keep_yearly=0))
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, out + err
    report = prune(repo, Retention(keep_last=1, keep_daily=0, keep_weekly=0, keep_monthly=0, keep_yearly=0))
    assert report.forgotten == [old.id]
    assert verify(repo, read_pct=100).ok
    restore(repo, "latest", tmp_path / "out")
    assert_same_tree(big_data, restored_root(tmp_path / "out", big_data))


def test_a_live_lock_is_never_broken_and_a_dead_one_is(dir_repo: Repository, data_dir: Path) -> None:
    holder = RepoLock(dir_repo.store, exclusive=True, operation="prune", stale_after_s=0.0).acquire()
    try:  # same host, live pid: not stale even with an old heartbeat
        with pytest.raises(RepositoryLocked):
            backup(dir_repo, DirSource([data_dir]), lock_wait_s=0)
    finally:
        holder.release()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    fake = f'{{"host": "{os.uname().nodename}", "pid": {dead.stdout.strip()}, "started": 1.0, "exclusive": true, '
    dir_repo.store.put("locks/dead", (fake + '"operation": "prune", "heartbeat": 1.0}').encode())
    snap = backup(dir_repo, DirSource([data_dir]))
    assert snap.stats.files > 0 and not dir_repo.store.exists("locks/dead")


def test_other_host_lock_goes_stale_only_after_its_heartbeat_ages(dir_repo: Repository) -> None:
    now = time.time()
    fresh = ('{"host": "elsewhere", "pid": 1, "started": 1.0, "exclusive": true, "operation": "prune", '
             f'"heartbeat": {now}}}')
    dir_repo.store.put("locks/other", fresh.encode())
    with pytest.raises(RepositoryLocked, match="elsewhere"):
        RepoLock(dir_repo.store, exclusive=False, operation="backup", stale_after_s=600).acquire()
    lock = RepoLock(dir_repo.store, exclusive=False, operation="backup", stale_after_s=0.0).acquire()
    lock.release()
    assert not dir_repo.store.exists("locks/other")


def test_wrong_passphrase_subprocess_exit_code(dir_store: DirStore, data_dir: Path, tmp_path: Path) -> None:
    repo = Repository.init(dir_store, "another passphrase")
    snap = backup(repo, DirSource([data_dir]))
    proc = start_backup(str(dir_store.root), data_dir)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 2 and "WrongPassphrase" in out
    assert repo.snapshot_ids() == [snap.id]  # the failed attempt changed nothing
    restore(Repository.open(dir_store, "another passphrase"), snap.id, tmp_path / "out")
    assert_same_tree(data_dir, restored_root(tmp_path / "out", data_dir))




def _writer_children() -> list[int]:
    out = []
    for d in Path("/proc").iterdir():
        try:
            if (d.name.isdigit() and b"opskeeper.backup.writers" in (d / "cmdline").read_bytes()
                    and int((d / "stat").read_text().rsplit(")", 1)[1].split()[1]) == os.getpid()):
                out.append(int(d.name))
        except OSError:
            continue
    return out


def test_a_killed_writer_process_stops_the_restore_and_a_rerun_finishes(
    dir_repo: Repository, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading  # noqa: PLC0415

    import opskeeper.backup.restore as restore_module  # noqa: PLC0415

    monkeypatch.setattr(restore_module, "_PROCESSES_AFTER", 0)
    monkeypatch.setattr(restore_module, "_BATCH_FILES", 1)
    src = make_tree(tmp_path / "many", files=300, big=1, seed=5)
    (src / "huge.bin").write_bytes(random.Random(5).randbytes(48 * 1024 * 1024))
    snap = backup(dir_repo, DirSource([src]))
    out = tmp_path / "out"
    part = restored_root(out, src) / "huge.bin.opskeeper-part"
    killed: list[int] = []

    def kill_writers_mid_file() -> None:
        # Gated on the big file being written, not on time: an idle pooled writer killed before or after
        # the restore proves nothing (the pool replaces it).
        deadline = time.monotonic() + 30
        while not killed and time.monotonic() < deadline:
            if part.exists():
                for pid in _writer_children():
                    os.kill(pid, signal.SIGKILL)
                    killed.append(pid)
            time.sleep(0.0005)

    killer = threading.Thread(target=kill_writers_mid_file)
    killer.start()
    try:
        with pytest.raises(RestoreFailed, match="writer"):
            restore(dir_repo, snap.id, out)
    finally:
        killed.append(0)  # stops the killer if the restore ended first
        killer.join()
    assert killed[0] != 0, "the writer finished before it could be killed"
    assert (out / INCOMPLETE_MARKER).exists() and not list(out.rglob("*.opskeeper-part"))
    restore(dir_repo, snap.id, out)
    assert_same_tree(src, restored_root(out, src))
    assert not (out / INCOMPLETE_MARKER).exists()


def test_the_partial_file_of_the_first_batch_is_removed_when_its_writer_dies(
    dir_repo: Repository, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The batch whose result raised first (the head of the window) is cleaned up too, and named."""
    import threading  # noqa: PLC0415

    import opskeeper.backup.restore as restore_module  # noqa: PLC0415

    monkeypatch.setattr(restore_module, "_PROCESSES_AFTER", 0)
    src = tmp_path / "one"
    src.mkdir()
    (src / "huge.bin").write_bytes(random.Random(3).randbytes(48 * 1024 * 1024))
    snap = backup(dir_repo, DirSource([src]))
    out = tmp_path / "out"
    part = restored_root(out, src) / "huge.bin.opskeeper-part"
    killed: list[int] = []

    def kill_writers_mid_file() -> None:
        deadline = time.monotonic() + 30
        while not killed and time.monotonic() < deadline:
            if part.exists():
                for pid in _writer_children():
                    os.kill(pid, signal.SIGKILL)
                    killed.append(pid)
            time.sleep(0.0005)

    killer = threading.Thread(target=kill_writers_mid_file)
    killer.start()
    try:
        with pytest.raises(RestoreFailed, match="huge.bin"):
            restore(dir_repo, snap.id, out)
    finally:
        killed.append(0)  # stops the killer if the restore ended first
        killer.join()
    assert killed[0] != 0, "the writer finished before it could be killed"
    assert not part.exists()
    assert (out / INCOMPLETE_MARKER).exists()


def test_a_partial_file_left_by_a_killed_restore_lends_nothing_to_the_rerun(
    dir_repo: Repository, tmp_path: Path
) -> None:
    """A re-run after kill -9 finds ``.opskeeper-part`` files: the restored file gets the snapshot's mode
    (a stale world-readable part must not make a 0600 secret world-readable) and never writes through a
    hard link the stale name may be."""
    src = tmp_path / "secrets"
    src.mkdir()
    (src / "key.pem").write_bytes(b"-----BEGIN PRIVATE KEY-----\n" * 50)
    os.chmod(src / "key.pem", 0o600)
    snap = backup(dir_repo, DirSource([src]))
    out = tmp_path / "out"
    root = restored_root(out, src)
    root.mkdir(parents=True)
    elsewhere = tmp_path / "elsewhere.txt"
    elsewhere.write_bytes(b"not to be touched")
    os.chmod(elsewhere, 0o644)
    os.link(elsewhere, root / "key.pem.opskeeper-part")
    restore(dir_repo, snap.id, out)
    assert_same_tree(src, root)
    assert elsewhere.read_bytes() == b"not to be touched"


def test_ctrl_c_stops_a_restore_with_writer_processes_without_their_tracebacks(
    dir_repo: Repository, dir_store: DirStore, tmp_path: Path
) -> None:
    src = tmp_path / "one"
    src.mkdir()
    (src / "huge.bin").write_bytes(random.Random(4).randbytes(48 * 1024 * 1024))
    snap = backup(dir_repo, DirSource([src]))
    out = tmp_path / "out"
    code = (
        "import opskeeper.backup.restore as r\n"
        "from opskeeper.backup.repo import Repository\n"
        "from opskeeper.backup.store.dir import DirStore\n"
        "r._PROCESSES_AFTER = 0\n"
        f"repo = Repository.open(DirStore({str(dir_store.root)!r}), {PASSPHRASE!r})\n"
        "try:\n"
        f"    r.restore(repo, {snap.id!r}, {str(out)!r})\n"
        "except Exception as e:\n"
        "    print('ERR', type(e).__name__, e)\n"
    )
    part = restored_root(out, src) / "huge.bin.opskeeper-part"
    for _attempt in range(3):  # on a loaded machine this test may first see the part file only once it is gone
        shutil.rmtree(out, ignore_errors=True)
        proc = subprocess.Popen([sys.executable, "-c", code], cwd=REPO_ROOT, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, start_new_session=True, preexec_fn=interruptible)
        deadline = time.monotonic() + 30
        while not part.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.0005)
        if part.exists():
            break
        proc.communicate(timeout=60)
    os.killpg(proc.pid, signal.SIGINT)  # as a terminal's Ctrl-C: the whole process group
    stdout, stderr = proc.communicate(timeout=60)
    assert "ERR RestoreFailed" in stdout and "interrupted" in stdout, stdout + stderr
    assert "Traceback" not in stderr
    assert not part.exists() and (out / INCOMPLETE_MARKER).exists()
