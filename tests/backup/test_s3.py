"""The S3 store against a real moto server on loopback: round trip, multipart, Object Lock, cleanup."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from opskeeper.backup.backup import backup
from opskeeper.backup.prune import prune
from opskeeper.backup.repo import Repository
from opskeeper.backup.restore import restore
from opskeeper.backup.sources import DirSource
from opskeeper.backup.store.interface import ObjectExists, ObjectRetained
from opskeeper.backup.store.s3 import LockMode, transfer_config_for
from opskeeper.config.backup import Retention
from tests.backup.conftest import PASSPHRASE, SMALL_PACKS, S3Factory, assert_same_tree, restored_root

pytestmark = pytest.mark.s3


def test_s3_backup_restore_round_trip(s3_store_factory: S3Factory, data_dir: Path, tmp_path: Path) -> None:
    store = s3_store_factory()
    repo = Repository.init(store, PASSPHRASE, pack_size=SMALL_PACKS)
    snap = backup(repo, DirSource([data_dir]))
    again = Repository.open(store, PASSPHRASE)
    second = backup(again, DirSource([data_dir]))
    assert second.stats.new_blobs == 0
    restore(again, snap.id, tmp_path / "out")
    assert_same_tree(data_dir, restored_root(tmp_path / "out", data_dir))
    assert not list(store.list("locks/"))


def test_multipart_upload_of_a_big_object(s3_store_factory: S3Factory) -> None:
    store = s3_store_factory(multipart_threshold=5 * 1024 * 1024)
    payload = bytes(range(256)) * (48 * 1024)  # 12 MiB: two 8 MiB parts
    store.put("data/big", payload)
    assert store.get("data/big") == payload
    assert store.get_range("data/big", 10_000_000, 5) == payload[10_000_000:10_000_005]


def test_transfer_config_stays_under_10000_parts() -> None:
    for size in (1, 80 * 2**30, 5 * 2**40):
        cfg = transfer_config_for(size, 64 * 2**20)
        assert size / cfg.multipart_chunksize <= 10_000


def test_abandoned_multipart_uploads_are_aborted(s3_store_factory: S3Factory) -> None:
    store = s3_store_factory()
    store.client.create_multipart_upload(Bucket=store.s.bucket, Key=store.prefix + "data/abandoned")
    # moto reports every upload as initiated in 2010, so the age cut-off cannot be shown here.
    assert store.cleanup_incomplete(older_than_s=3600) == 1
    assert not store.client.list_multipart_uploads(Bucket=store.s.bucket).get("Uploads")


def test_put_new_refuses_an_existing_name(s3_store_factory: S3Factory) -> None:
    store = s3_store_factory()
    store.put_new("locks/a", b"1")
    with pytest.raises(ObjectExists):
        store.put_new("locks/a", b"2")


def test_object_lock_retention_is_set_and_prune_respects_it(
    s3_store_factory: S3Factory, data_dir: Path, tmp_path: Path
) -> None:
    store = s3_store_factory(object_lock=True, lock_mode=LockMode.GOVERNANCE, lock_days=1)
    repo = Repository.init(store, PASSPHRASE, pack_size=SMALL_PACKS)
    first = backup(repo, DirSource([data_dir]))
    (data_dir / "f000.txt").write_bytes(b"new")
    backup(repo, DirSource([data_dir]))
    until = store.retained_until(f"snapshots/{first.id}")
    assert until is not None and until > datetime.now(UTC) + timedelta(hours=23)
    with pytest.raises(ObjectRetained):
        store.delete(f"snapshots/{first.id}")
    report = prune(repo, Retention(keep_last=1, keep_daily=0, keep_weekly=0, keep_monthly=0, keep_yearly=0))
    assert report.retained == [first.id] and report.forgotten == [] and report.packs_deleted == 0
    restore(repo, first.id, tmp_path / "out")  # still whole
    assert (restored_root(tmp_path / "out", data_dir) / "f000.txt").read_bytes() != b"new"
    assert not list(store.list("locks/"))  # locks are never retained
