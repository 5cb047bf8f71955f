"""Open the store a configured target names. A new target kind must be added here (assert_never)."""

from __future__ import annotations

from typing import assert_never

from opskeeper.backup.store.dir import DirStore
from opskeeper.backup.store.interface import BackupStore
from opskeeper.backup.store.s3 import S3Settings, S3Store
from opskeeper.config.backup import BackupTarget, DirTarget, S3Target


def open_store(target: BackupTarget) -> BackupStore:
    if isinstance(target, DirTarget):
        return DirStore(target.path)
    if isinstance(target, S3Target):
        return S3Store(S3Settings.from_target(target))
    assert_never(target)
