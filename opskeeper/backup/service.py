"""Backup runs: every data set of the chosen systems to each of their targets, recorded, then pruned;
pruning and verification of the targets on their own.

:func:`run_backups`, :func:`run_prunes` and :func:`run_verify` are the one orchestration of each.
The CLI calls them with the threaded runner; the Prefect flows (flows/backup.py) with the
Prefect one, where each data set and target is a task run retried on store trouble (a retry
resumes from the packs already uploaded). A failure stays with its data set and target.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from opskeeper.backup.ops import (
    BackupOutcome,
    backup_dataset,
    passphrase_for_target,
    policy_of,
    prune_target,
    systems_with_backup,
    verify_target,
)
from opskeeper.backup.prune import PruneReport
from opskeeper.backup.record import record_backup_run, record_prune, record_verify
from opskeeper.backup.repo import Repository
from opskeeper.backup.restore import RestoreResult, restore_remote
from opskeeper.backup.verify import VerifyReport
from opskeeper.config.backup import DataSet
from opskeeper.config.estate import Customer, Estate, System
from opskeeper.errors import InputError
from opskeeper.ledger import Ledger
from opskeeper.remote import connect
from opskeeper.remote.fanout import Runner, Work, reraise, threaded
from opskeeper.trigger import Trigger

# Data sets the threaded runner backs up at once: one. Each backup already reads and encrypts in
# threads, and two systems' first backups to one new target would race to initialise its repository.
CONCURRENCY = 1


@dataclass(frozen=True)
class BackupJob:
    """One data set of a system to one of its policy's targets."""

    customer: Customer
    system: System
    dataset: DataSet
    target: str


@dataclass(frozen=True)
class SystemBackup:
    """One system's backup run: the run on record, each data set's outcome, and the prunes after it."""

    customer: Customer
    system: System
    run_id: int
    outcomes: tuple[BackupOutcome, ...]
    pruned: tuple[tuple[str, PruneReport], ...] = ()

    @property
    def ok(self) -> bool:
        return all(o.ok for o in self.outcomes)


def _crashed(job: BackupJob, e: BaseException) -> BackupOutcome:
    return BackupOutcome(job.customer.id, job.system.id, job.dataset.name, job.target, None,
                         f"{type(e).__name__}: {e}", 0.0)  # fmt: skip


def backup_work(estate: Estate, ledger: Ledger | None = None) -> Work[BackupJob, BackupOutcome]:
    """One data set to one target; an unreachable store is retried where a runner can wait. With ``ledger``,
    a refused host key is audited as a security event, as on every path that connects to a host."""
    return Work(
        "backup-dataset",
        lambda j: backup_dataset(estate, j.customer, j.system, j.dataset, j.target, ledger=ledger),
        label=lambda j: f"backup-{j.dataset.name}-to-{j.target}",
        crashed=_crashed,
        retryable=lambda outcome: outcome.retryable,
        retries=2,
        retry_delay_s=(10, 60),
    )


Done = tuple[Customer, System, tuple[BackupOutcome, ...]]


def record_work(ledger: Ledger, started_at: datetime, trigger: Trigger) -> Work[Done, int]:
    """The run, the snapshot mirror rows and the audit entry of one system (retried: SQLite may be busy)."""

    def one(done: Done) -> int:
        customer, system, outcomes = done
        return record_backup_run(ledger, customer.id, system.id, outcomes, started_at=started_at,
                                 trigger=trigger.trigger, triggered_by=trigger.by,
                                 flow_run_id=trigger.flow_run_id)  # fmt: skip

    return Work("record-backup-run", one, label=lambda done: f"record-backup-{done[1].id}", crashed=reraise,
                retries=2, retry_delay_s=(2,), serial=True)  # fmt: skip


def prune_work(estate: Estate, ledger: Ledger, dry_run: bool) -> Work[tuple[Customer, System, str], PruneReport]:
    """Apply a system's retention on one target, in its customer's zone, and record it."""

    def one(job: tuple[Customer, System, str]) -> PruneReport:
        customer, system, target = job
        report = prune_target(estate, target, system, customer.timezone, dry_run=dry_run)
        record_prune(ledger, target, system.id, report)  # a dry run records nothing
        return report

    return Work("prune-target", one, label=lambda job: f"prune-{job[1].id}-{job[2]}", crashed=reraise,
                serial=True)  # fmt: skip


def verify_work(estate: Estate, ledger: Ledger) -> Work[tuple[str, float], VerifyReport]:
    """Check one target's structure, read a share of its packs, and record the result."""

    def one(job: tuple[str, float]) -> VerifyReport:
        target, read_pct = job
        report = verify_target(estate, target, passphrase_for_target(estate, target), read_pct)
        record_verify(ledger, target, report, read_pct=read_pct)
        return report

    return Work("verify-target", one, label=lambda job: f"verify-{job[0]}", crashed=reraise, serial=True)


def run_backups(
    estate: Estate,
    ledger: Ledger,
    systems: Sequence[tuple[Customer, System]],
    *,
    runner: Runner = threaded(CONCURRENCY),
    trigger: Trigger = Trigger(),
    prune: bool = False,
) -> list[SystemBackup]:
    """Back up the systems (fanned out by ``runner``), record one run per system, prune the ones that
    fully succeeded when asked to. Times come from the ledger's clock."""
    started_at = ledger.now()
    jobs = [BackupJob(c, s, ds, t) for c, s in systems for ds in s.datasets for t in policy_of(s).targets]
    outcomes = runner(backup_work(estate, ledger), jobs)
    done: list[Done] = [
        (c, s, tuple(o for j, o in zip(jobs, outcomes, strict=True) if j.system is s)) for c, s in systems
    ]
    run_ids = runner(record_work(ledger, started_at, trigger), done)
    results = [SystemBackup(c, s, run_id, outs) for (c, s, outs), run_id in zip(done, run_ids, strict=True)]
    if prune:
        results = [_with_prunes(estate, ledger, runner, r) if r.ok else r for r in results]
    return results


def _with_prunes(estate: Estate, ledger: Ledger, runner: Runner, result: SystemBackup) -> SystemBackup:
    pruned = run_prunes(estate, ledger, [(result.customer, result.system)], runner=runner)
    return replace(result, pruned=tuple((target, report) for _, target, report in pruned))


def run_prunes(
    estate: Estate,
    ledger: Ledger,
    systems: Sequence[tuple[Customer, System]],
    *,
    runner: Runner = threaded(CONCURRENCY),
    dry_run: bool = False,
) -> list[tuple[System, str, PruneReport]]:
    """Apply each system's retention on each of its targets (other systems' snapshots are grouped apart)."""
    jobs = [(c, s, t) for c, s in systems for t in policy_of(s).targets]
    reports = runner(prune_work(estate, ledger, dry_run), jobs)
    return [(s, t, report) for (_, s, t), report in zip(jobs, reports, strict=True)]


def run_verify(
    estate: Estate,
    ledger: Ledger,
    targets: Sequence[str],
    *,
    read_pct: float | None = None,
    runner: Runner = threaded(CONCURRENCY),
) -> list[tuple[str, VerifyReport]]:
    """Verify each target, reading ``read_pct`` percent of its packs (default: the share its first
    system's policy asks for, ``verify_fraction``)."""
    jobs = [(t, read_pct if read_pct is not None else _policy_share(estate, t)) for t in targets]
    return list(zip(targets, runner(verify_work(estate, ledger), jobs), strict=True))


def _policy_share(estate: Estate, target: str) -> float:
    owner = next(s for _, s in systems_with_backup(estate) if target in policy_of(s).targets)
    return policy_of(owner).verify_fraction * 100


def restore_to_host(
    estate: Estate, ledger: Ledger, repo: Repository, snap_id: str, system: System, host_name: str, to: str,
    *, include: str = "",
) -> RestoreResult:
    """Restore a snapshot onto a host of ``system`` over SSH; a refused host key is audited in ``ledger``."""
    try:
        host = system.host(host_name)
    except KeyError as e:
        raise InputError(f"system {system.id} has no host {host_name!r}") from e
    with connect(host, ledger=ledger, estate=estate) as executor:
        executor.connect()  # up front: a refused host key is that, not a restore stopped half-way
        return restore_remote(repo, snap_id, executor, to, include=include)
