"""Ctrl-C (a real SIGINT to the process group of the ``opskeeper`` CLI) during a restore onto a
fleet host: the staging directory on the host is removed, the marker says why, nothing of the
target changed, and the re-run finishes."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import yaml

from opskeeper.backup.backup import backup
from opskeeper.backup.repo import Repository
from opskeeper.backup.restore import INCOMPLETE_MARKER
from opskeeper.backup.restore_host import STAGE_PREFIX
from opskeeper.backup.sources import DirSource
from opskeeper.backup.store.dir import DirStore
from testbed import TestBed
from testbed.estate_file import estate_document
from tests.backup.conftest import PASSPHRASE, assert_same_tree, interruptible, restored_root

REPO_ROOT = Path(__file__).resolve().parents[2]


def _estate_file(bed: TestBed, repo: Path, path: Path) -> Path:
    doc = estate_document(bed)
    doc["backup_targets"] = {"t": {"kind": "dir", "path": str(repo)}}
    system = doc["customers"][0]["systems"][0]  # type: ignore[index]
    system["datasets"] = [{"kind": "dir", "name": "app", "paths": ["/srv/app"], "host": bed.hosts[0].name}]
    system["backup"] = {"targets": ["t"], "passphrase": "env:OKB_TEST_PASSPHRASE"}
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def _cli(estate: Path, home: Path, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "OKB_TEST_PASSPHRASE": PASSPHRASE, "OPSKEEPER_HOME": str(home)}
    return subprocess.Popen([sys.executable, "-m", "cli", "-c", str(estate), *args], cwd=REPO_ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
                            preexec_fn=interruptible)


def _staged_bytes(dest: Path) -> int:
    return sum(p.stat().st_size for p in dest.rglob("*")
               if STAGE_PREFIX in str(p) and p.name != INCOMPLETE_MARKER and p.is_file())


def test_ctrl_c_mid_stream_removes_the_staging_directory_and_a_rerun_finishes(
    tmp_path: Path, fleet_factory: Callable[..., TestBed]
) -> None:
    src = tmp_path / "data"
    (src / "a").mkdir(parents=True)
    # Big enough that what is still in flight when the test sees 4 MiB staged is far from all of it, even on a
    # loaded machine (with 24 MiB, a slow poll once saw the last bytes land before its Ctrl-C).
    (src / "a" / "huge.bin").write_bytes(random.Random(3).randbytes(96 * 1024 * 1024))
    (src / "b.txt").write_text("after the big one\n")
    store = DirStore(tmp_path / "repo")
    repo = Repository.init(store, PASSPHRASE)
    snap = backup(repo, DirSource([src]), system="fleet")
    repo.close()
    bed = fleet_factory(1, data_size="256m")  # the staged copy and the restored one: one at a time
    h = bed.hosts[0]
    dest = Path(h.data_dir) / "restored"
    estate = _estate_file(bed, store.root, tmp_path / "estate.yaml")
    args = ("backup", "restore", snap.id[:12], "--to", str(dest), "--host", h.name, "--system", "fleet")

    proc = _cli(estate, tmp_path / "home", *args)
    deadline = time.monotonic() + 60
    while _staged_bytes(dest) < 4 * 1024 * 1024 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    assert proc.poll() is None, proc.communicate()
    os.killpg(proc.pid, signal.SIGINT)  # as a terminal's Ctrl-C: the whole process group
    out, err = proc.communicate(timeout=60)

    stopped = (f"restore of snapshot {snap.id[:12]} to {h.name}:{dest} stopped while receiving near "
               f"{str(src).lstrip('/')}/a/huge.bin (0 of 2 files sent): interrupted; no file of the target "
               "was changed; run it again to finish")
    assert proc.returncode == 1, out + err  # RestoreFailed: the work ran and stopped (an uncaught Ctrl-C is 130)
    assert err == f"error: {stopped}\n", err  # no traceback, one line
    assert [p for p in dest.rglob(STAGE_PREFIX + "*") if p.name != INCOMPLETE_MARKER] == []
    assert (dest / INCOMPLETE_MARKER).read_text() == stopped + "\n"

    rerun = _cli(estate, tmp_path / "home", *args)
    out, err = rerun.communicate(timeout=120)
    assert rerun.returncode == 0, out + err
    assert_same_tree(src, restored_root(dest, src))
    assert not (dest / INCOMPLETE_MARKER).exists()
