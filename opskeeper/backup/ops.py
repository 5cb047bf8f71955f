"""Estate-level backup operations: a system's policy applied to its data sets and targets.

Pure core (no Prefect): the CLI and the Prefect tasks both call these. Each
operation returns frozen outcomes; recording them in the ledger is done by
``record.py`` so that callers decide where the record goes.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, assert_never

from opskeeper.backup.backup import backup
from opskeeper.backup.errors import BackupError, RepositoryNotFound
from opskeeper.backup.prune import PruneReport, prune
from opskeeper.backup.repo import Repository
from opskeeper.backup.sources import DirSource, Source
from opskeeper.backup.store.factory import open_store
from opskeeper.backup.store.interface import StoreError
from opskeeper.backup.streams import PostgresSource, RemoteDirSource
from opskeeper.backup.tree import SnapshotManifest
from opskeeper.backup.verify import VerifyReport, verify
from opskeeper.config.backup import BackupPolicy, DataSet, DirDataSet, PostgresDataSet
from opskeeper.config.estate import Customer, Estate, System
from opskeeper.errors import InputError, OpskeeperError
from opskeeper.remote import connect
from opskeeper.remote.interface import Executor
from opskeeper.remote.local import LocalExecutor

if TYPE_CHECKING:
    from opskeeper.ledger import Ledger


@dataclass(frozen=True)
class BackupOutcome:
    """One data set backed up to one target: the snapshot, or the error that stopped it."""

    customer: str
    system: str
    dataset: str
    target: str
    snapshot: SnapshotManifest | None
    error: str | None
    duration_s: float
    retryable: bool = False  # the store was unreachable: trying again later may succeed

    @property
    def ok(self) -> bool:
        return self.error is None


def find_system(estate: Estate, system_id: str) -> tuple[Customer, System]:
    for c in estate.customers:
        for s in c.systems:
            if s.id == system_id:
                return c, s
    known = ", ".join(s.id for c in estate.customers for s in c.systems)
    raise InputError(f"no system {system_id!r} in the estate; known: {known}")


def systems_with_backup(estate: Estate, system_id: str | None = None) -> list[tuple[Customer, System]]:
    if system_id:
        c, s = find_system(estate, system_id)
        if s.backup is None:
            raise InputError(f"system {system_id} has no backup policy")
        return [(c, s)]
    return [(c, s) for c in estate.customers for s in c.systems if s.backup is not None]


def policy_of(system: System) -> BackupPolicy:
    if system.backup is None:
        raise InputError(f"system {system.id} has no backup policy")
    return system.backup


def passphrase_for_target(estate: Estate, target: str, system_id: str | None = None) -> str:
    """The passphrase of the (first, or given) system whose policy writes to ``target``."""
    for _, system in systems_with_backup(estate, system_id):
        if target in policy_of(system).targets:
            return policy_of(system).passphrase.resolve()
    raise InputError(f"no backup policy uses target {target!r}, so no passphrase is known for it")


def targets_in_use(estate: Estate, system_id: str | None = None) -> list[str]:
    seen: dict[str, None] = {}
    for _, system in systems_with_backup(estate, system_id):
        for t in policy_of(system).targets:
            seen[t] = None
    return list(seen)


def open_target(estate: Estate, target: str, passphrase: str, *, create: bool = False) -> Repository:
    """Open the repository at a named target; with ``create``, initialise an empty target first."""
    if target not in estate.backup_targets:
        raise InputError(f"backup target {target!r} is not defined; known: {', '.join(estate.backup_targets)}")
    store = open_store(estate.backup_targets[target])
    try:
        return Repository.open(store, passphrase)
    except RepositoryNotFound:
        if not create:
            raise
        return Repository.init(store, passphrase)


def executor_for(estate: Estate, system: System, host_name: str | None, *, ledger: Ledger | None = None) -> Executor:
    """The executor for a data set's host; with ``ledger``, a refused host key is audited as a security event."""
    if host_name is None:
        return LocalExecutor(socket.gethostname())
    try:
        # The estate resolves a jump host (without it a host behind one cannot be reached).
        return connect(system.host(host_name), ledger=ledger, estate=estate)
    except KeyError as e:
        raise InputError(f"system {system.id} has no host {host_name!r}") from e


def make_source(
    estate: Estate, system: System, ds: DataSet, *, ledger: Ledger | None = None
) -> tuple[Source, Executor | None]:
    """The source for a data set, and the executor to close afterwards (None for a local directory)."""
    if isinstance(ds, DirDataSet):
        if ds.host is None:
            return DirSource(ds.paths, ds.excludes), None
        ex = executor_for(estate, system, ds.host, ledger=ledger)
        return RemoteDirSource(ex, ds.paths, ds.excludes, sudo=system.host(ds.host).sudo), ex
    if isinstance(ds, PostgresDataSet):
        ex = executor_for(estate, system, ds.host, ledger=ledger)
        return PostgresSource(ex, ds.dbname, host=ds.db_host, port=ds.port, user=ds.user), ex
    assert_never(ds)


def backup_dataset(
    estate: Estate, customer: Customer, system: System, ds: DataSet, target: str, *, ledger: Ledger | None = None
) -> BackupOutcome:
    """Back up one data set to one target; failures become an outcome, never a half snapshot.

    With ``ledger``, a host key refused on the way to the data set's host is audited as a security event."""
    start = time.monotonic()
    policy = policy_of(system)
    ex: Executor | None = None
    try:
        repo = open_target(estate, target, policy.passphrase.resolve(), create=True)
        try:
            source, ex = make_source(estate, system, ds, ledger=ledger)
            host = ex.host.name if ex is not None else socket.gethostname()
            snap = backup(repo, source, system=system.id, host=host, tags=(ds.name, f"customer:{customer.id}"))
        finally:
            repo.close()
        return BackupOutcome(customer.id, system.id, ds.name, target, snap, None, time.monotonic() - start)
    except OpskeeperError as e:
        return BackupOutcome(customer.id, system.id, ds.name, target, None, f"{type(e).__name__}: {e}",
                             time.monotonic() - start, retryable=isinstance(e, StoreError))
    finally:
        if ex is not None:
            ex.close()


def backup_system(estate: Estate, customer: Customer, system: System) -> list[BackupOutcome]:
    """Every data set of the system to every target of its policy."""
    policy = policy_of(system)
    return [backup_dataset(estate, customer, system, ds, t) for ds in system.datasets for t in policy.targets]


def snapshots_of(repo: Repository, system_id: str | None = None) -> Iterator[SnapshotManifest]:
    for snap in sorted(repo.snapshots(), key=lambda s: s.time, reverse=True):
        if system_id is None or snap.system == system_id:
            yield snap


def verify_target(estate: Estate, target: str, passphrase: str, read_pct: float) -> VerifyReport:
    repo = open_target(estate, target, passphrase)
    try:
        return verify(repo, read_pct=read_pct)
    finally:
        repo.close()


def prune_target(estate: Estate, target: str, system: System, tz: str, *, dry_run: bool = False) -> PruneReport:
    """Apply the system's retention on one target (other systems' snapshots are grouped apart)."""
    policy = policy_of(system)
    repo = open_target(estate, target, policy.passphrase.resolve())
    try:
        return prune(repo, policy.retention, tz=tz, dry_run=dry_run, lock_wait_s=60, system=system.id)
    finally:
        repo.close()


def dataset_of(snap: SnapshotManifest) -> str | None:
    return next((t for t in snap.tags if not t.startswith("customer:")), None)


__all__ = ["BackupError", "BackupOutcome", "backup_dataset", "backup_system", "dataset_of", "find_system",
           "open_target", "prune_target", "snapshots_of", "systems_with_backup", "verify_target"]
