"""The drill's view of a system's backups: open its targets, find the newest snapshot of a data set.

Uses the backup area's repository API (Repository, restore, restore_remote). A
target may be *blocked* by the backup-target-lost fault: opening it then fails
as if the target were unreachable, so recovery must prove another target works.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from opskeeper.backup.errors import BackupError
from opskeeper.backup.repo import Repository
from opskeeper.backup.store import factory
from opskeeper.backup.store.dir import DirStore
from opskeeper.backup.store.interface import BackupStore
from opskeeper.backup.tree import SnapshotManifest
from opskeeper.config.backup import DataSet, DirDataSet, DirTarget, PostgresDataSet
from opskeeper.config.estate import Estate, System
from opskeeper.drills.errors import ActionFailed


@dataclass(frozen=True)
class FoundSnapshot:
    target: str
    manifest: SnapshotManifest

    @property
    def time(self) -> datetime:
        return datetime.fromisoformat(self.manifest.time)


def open_store(estate: Estate, target_name: str) -> BackupStore:
    target = estate.backup_targets[target_name]
    if isinstance(target, DirTarget):
        root = Path(target.path)
        if not (root / "config").exists():
            raise ActionFailed(f"backup target {target_name} ({root}) is unreachable or holds no repository")
        return DirStore(root)
    return factory.open_store(target)


def dataset_matches(manifest: SnapshotManifest, dataset: DataSet) -> bool:
    """Does this snapshot hold ``dataset``? By tag, else by its source (paths or database name)."""
    if dataset.name in manifest.tags:
        return True
    if isinstance(dataset, PostgresDataSet):
        return manifest.source_kind == "postgres" and manifest.source.rsplit(":", 1)[-1] == dataset.dbname
    assert isinstance(dataset, DirDataSet)
    sources = {s.split(":", 1)[-1] for s in manifest.source.split(",")}
    wanted = {str(Path(p).resolve()) for p in dataset.paths} | set(dataset.paths)
    return bool(sources & wanted)


@dataclass
class SystemBackups:
    """The system's repositories, opened on demand with the policy's passphrase."""

    estate: Estate
    system: System
    blocked: set[str] = field(default_factory=set)
    _repos: dict[str, Repository] = field(default_factory=dict)

    @property
    def targets(self) -> list[str]:
        return list(self.system.backup.targets) if self.system.backup else []

    def dataset(self, name: str) -> DataSet:
        for ds in self.system.datasets:
            if ds.name == name:
                return ds
        known = ", ".join(d.name for d in self.system.datasets) or "none"
        raise ActionFailed(f"system {self.system.id} has no data set {name!r}; known: {known}")

    def repo(self, target: str) -> Repository:
        if target in self.blocked:
            raise ActionFailed(f"backup target {target} is unreachable (blocked by the drill's fault)")
        if target not in self._repos:
            if self.system.backup is None:
                raise ActionFailed(f"system {self.system.id} has no backup policy")
            passphrase = self.system.backup.passphrase.resolve()
            try:
                self._repos[target] = Repository.open(open_store(self.estate, target), passphrase)
            except BackupError as e:
                raise ActionFailed(f"backup target {target}: {e}") from e
        return self._repos[target]

    def snapshots(self, dataset: DataSet, target: str) -> Iterator[FoundSnapshot]:
        repo = self.repo(target)
        for manifest in repo.snapshots():
            if manifest.system in ("", self.system.id) and dataset_matches(manifest, dataset):
                yield FoundSnapshot(target, manifest)

    def newest(self, dataset: DataSet, targets: list[str] | None = None) -> FoundSnapshot:
        """The newest snapshot of ``dataset`` on the first reachable target that has one."""
        errors = []
        for target in targets or self.targets:
            try:
                found = max(self.snapshots(dataset, target), key=lambda f: f.time, default=None)
            except ActionFailed as e:
                errors.append(str(e))
                continue
            if found is not None:
                return found
            errors.append(f"backup target {target}: no snapshot of {dataset.name}")
        raise ActionFailed("; ".join(errors) or f"no backup targets for {dataset.name}")

    def close(self) -> None:
        for repo in self._repos.values():
            repo.close()
        self._repos.clear()
