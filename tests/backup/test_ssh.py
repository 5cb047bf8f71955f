"""Remote directories over real SSH (the fleet test bed): tar streamed in, tar streamed out, checksums there."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from opskeeper.backup.ops import backup_system, find_system, open_target
from opskeeper.backup.restore import restore, restore_remote
from opskeeper.config.estate import Estate
from opskeeper.remote import connect
from testbed import TestBed
from testbed.estate_file import estate_document
from tests.backup.conftest import PASSPHRASE, assert_same_tree, make_tree

pytestmark = pytest.mark.sshd


def _estate(bed: TestBed, repo: Path, src: str, monkeypatch: pytest.MonkeyPatch) -> Estate:
    monkeypatch.setenv("OKB_TEST_PASSPHRASE", PASSPHRASE)
    doc = estate_document(bed)
    doc["backup_targets"] = {"t": {"kind": "dir", "path": str(repo)}}
    system = doc["customers"][0]["systems"][0]  # type: ignore[index]
    system["datasets"] = [{"kind": "dir", "name": "app-data", "paths": [src], "host": bed.hosts[0].name}]
    system["backup"] = {"targets": ["t"], "passphrase": "env:OKB_TEST_PASSPHRASE"}
    return Estate.model_validate(doc)


def test_remote_dir_over_ssh_backup_and_remote_restore(
    fleet_factory: Callable[..., TestBed], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bed = fleet_factory(2)
    h0, h1 = bed.hosts
    src = Path(h0.data_dir) / "app"
    make_tree(src, files=12, big=1)
    estate = _estate(bed, tmp_path / "repo", str(src), monkeypatch)
    customer, system = find_system(estate, "fleet")
    [outcome] = backup_system(estate, customer, system)
    assert outcome.ok, outcome.error
    assert outcome.snapshot is not None and outcome.snapshot.host == h0.name
    repo = open_target(estate, "t", PASSPHRASE)
    restore(repo, outcome.snapshot.id, tmp_path / "local")
    assert_same_tree(src, tmp_path / "local" / str(src).lstrip("/"))
    target = Path(h1.data_dir) / "restored"
    with connect(system.host(h1.name)) as ex:
        res = restore_remote(repo, outcome.snapshot.id, ex, str(target))
    assert res.files == outcome.snapshot.stats.files
    assert_same_tree(src, target / str(src).lstrip("/"))


def test_unreachable_host_fails_cleanly(
    fleet_factory: Callable[..., TestBed], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bed = fleet_factory(1)
    src = Path(bed.hosts[0].data_dir) / "app"
    make_tree(src, files=3, big=0)
    estate = _estate(bed, tmp_path / "repo", str(src), monkeypatch)
    customer, system = find_system(estate, "fleet")
    bed.hosts[0].kill_sshd()
    [outcome] = backup_system(estate, customer, system)
    assert not outcome.ok and bed.hosts[0].name in (outcome.error or "")
    assert open_target(estate, "t", PASSPHRASE).snapshot_ids() == []
    assert os.path.isdir(tmp_path / "repo")
