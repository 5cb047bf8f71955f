"""Prefect tasks of the backup flows: thin wrappers over opskeeper.backup.ops and record."""

from __future__ import annotations

from datetime import datetime

from prefect import task
from prefect.artifacts import create_table_artifact
from prefect.cache_policies import NO_CACHE

from opskeeper.backup.ops import BackupOutcome, backup_dataset, prune_target, verify_target
from opskeeper.backup.prune import PruneReport
from opskeeper.backup.record import record_backup_run, record_prune, record_verify
from opskeeper.backup.verify import VerifyReport
from opskeeper.config.backup import DataSet
from opskeeper.config.estate import Customer, Estate, System
from opskeeper.ledger import Ledger


@task(name="backup-dataset", task_run_name="backup-{ds.name}-to-{target}", cache_policy=NO_CACHE,
      retries=2, retry_delay_seconds=[10, 60])
def backup_dataset_task(estate: Estate, customer: Customer, system: System, ds: DataSet, target: str) -> BackupOutcome:
    """Back up one data set to one target. A failure is returned as an outcome; a retry resumes from packs
    already uploaded (they are indexed), so it costs only what is missing."""
    outcome = backup_dataset(estate, customer, system, ds, target)
    if outcome.retryable:
        raise RuntimeError(outcome.error)  # transport trouble: let Prefect retry with backoff
    return outcome


@task(name="record-backup-run", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=2)
def record_backup_task(customer: str, system: str, outcomes: list[BackupOutcome], started_at: datetime,
                       flow_run_id: str | None, trigger: str) -> int:
    """Write the run, the snapshot mirror rows and the audit entry (retried: SQLite may be busy)."""
    return record_backup_run(Ledger.open(), customer, system, outcomes, started_at=started_at, trigger=trigger,
                             triggered_by=f"prefect:{flow_run_id}" if flow_run_id else "prefect",
                             flow_run_id=flow_run_id)


@task(name="prune-target", task_run_name="prune-{system.id}-{target}", cache_policy=NO_CACHE)
def prune_task(estate: Estate, target: str, system: System, tz: str) -> PruneReport:
    """Apply the system's retention on one target and record it."""
    report = prune_target(estate, target, system, tz)
    record_prune(Ledger.open(), target, system.id, report)
    return report


@task(name="verify-target", task_run_name="verify-{target}", cache_policy=NO_CACHE)
def verify_task(estate: Estate, target: str, passphrase_system: System, read_pct: float) -> VerifyReport:
    """Verify one target's structure and read a rotating share of its packs; record the result."""
    assert passphrase_system.backup is not None
    report = verify_target(estate, target, passphrase_system.backup.passphrase.resolve(), read_pct)
    record_verify(Ledger.open(), target, report, read_pct=read_pct)
    return report


def _key(text: str) -> str:
    return "".join(ch if ch.isalnum() else "-" for ch in text.lower()).strip("-")[:60]


@task(name="publish-backup-artifact", cache_policy=NO_CACHE)
def publish_backup_artifact(system: str, outcomes: list[BackupOutcome]) -> None:
    """A table of the snapshots taken (or the errors) in the Prefect UI."""
    rows = [{"dataset": o.dataset, "target": o.target, "snapshot": o.snapshot.id[:12] if o.snapshot else "",
             "files": str(o.snapshot.stats.files) if o.snapshot else "",
             "MiB": f"{o.snapshot.stats.bytes / 2**20:.1f}" if o.snapshot else "",
             "new MiB": f"{o.snapshot.stats.new_bytes / 2**20:.1f}" if o.snapshot else "",
             "seconds": f"{o.duration_s:.1f}", "error": o.error or ""} for o in outcomes]
    create_table_artifact(key=f"backup-{_key(system)}", table=rows, description=f"backup of system {system}")


@task(name="publish-verify-artifact", cache_policy=NO_CACHE)
def publish_verify_artifact(reports: dict[str, VerifyReport]) -> None:
    rows = [{"target": t, "ok": "yes" if r.ok else "NO", "snapshots": str(r.snapshots), "packs": str(r.packs),
             "packs read": str(r.packs_read), "problems": "; ".join(p.message for p in r.problems[:10])}
            for t, r in reports.items()]
    create_table_artifact(key="backup-verify", table=rows, description="backup verification")
