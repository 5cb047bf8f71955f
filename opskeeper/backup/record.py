"""Recording backup work in the ledger: a run per operation, the snapshot mirror, the audit trail.

Kept apart from the operations so the core can run (and restore) with no ledger
at all: the ledger may be exactly what was lost.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from opskeeper.backup.ops import BackupOutcome, dataset_of, policy_of, systems_with_backup
from opskeeper.backup.prune import PruneReport
from opskeeper.backup.repo import Repository
from opskeeper.backup.tree import SnapshotManifest
from opskeeper.backup.verify import VerifyReport
from opskeeper.config.estate import Estate
from opskeeper.config.secrets import redact
from opskeeper.ledger import Ledger
from opskeeper.ledger import backup as ledger_backup
from opskeeper.ledger.backup import SnapshotRecord
from opskeeper.ledger.core import RunStatus


def to_record(snap: SnapshotManifest, target: str, customer: str | None = None) -> SnapshotRecord:
    customer = customer or next((t.split(":", 1)[1] for t in snap.tags if t.startswith("customer:")), None)
    return SnapshotRecord(
        snapshot_id=snap.id, target=target, host=snap.host, source_kind=snap.source_kind, source=snap.source,
        taken_at=datetime.fromisoformat(snap.time), customer_id=customer, system_id=snap.system or None,
        dataset=dataset_of(snap), files=snap.stats.files, bytes=snap.stats.bytes,
        new_bytes=snap.stats.new_bytes, stored_bytes=snap.stats.stored_bytes,
    )


def _status(oks: int, fails: int) -> RunStatus:
    if fails == 0:
        return RunStatus.OK
    return RunStatus.FAILED if oks == 0 else RunStatus.PARTIAL


def record_backup_run(ledger: Ledger, customer: str, system: str, outcomes: Sequence[BackupOutcome], *,
                      started_at: datetime, trigger: str = "manual", triggered_by: str | None = None,
                      flow_run_id: str | None = None) -> int:
    """One run row for a system's backup, one mirror row per snapshot, one audit entry. Returns the run id."""
    oks = [o for o in outcomes if o.ok]
    fails = [o for o in outcomes if not o.ok]
    status = _status(len(oks), len(fails))
    errors = [{"target": o.target, "dataset": o.dataset, "error": redact(o.error or "")} for o in fails]
    summary: dict[str, object] = {
        "snapshots": [{"target": o.target, "dataset": o.dataset, "snapshot": o.snapshot.id,
                       "files": o.snapshot.stats.files, "bytes": o.snapshot.stats.bytes,
                       "new_bytes": o.snapshot.stats.new_bytes, "seconds": round(o.duration_s, 3)}
                      for o in oks if o.snapshot],
        "errors": errors,
    }
    return ledger_backup.record_backup_run(
        ledger, customer=customer, system=system, status=status,
        reason="; ".join(e["error"] for e in errors)[:2000] or None, summary=summary,
        snapshots=[to_record(o.snapshot, o.target, customer) for o in oks if o.snapshot is not None],
        failures=len(fails), started_at=started_at, trigger=trigger, triggered_by=triggered_by,
        flow_run_id=flow_run_id)


def record_verify(ledger: Ledger, target: str, report: VerifyReport, *, read_pct: float) -> None:
    damaged = sorted({p.snapshot for p in report.problems if p.snapshot})
    ledger_backup.record_verify_run(
        ledger, target, ok=report.ok, damaged=damaged,
        summary={"target": target, "read_pct": read_pct, "snapshots": report.snapshots,
                 "packs": report.packs, "packs_read": report.packs_read,
                 "problems": [p.message for p in report.problems[:100]]})
    ledger.audit("opskeeper", "backup.verify", f"target:{target}",
                 {"ok": report.ok, "packs_read": report.packs_read, "damaged_snapshots": damaged})


def record_prune(ledger: Ledger, target: str, system: str, report: PruneReport) -> None:
    if report.dry_run:
        return
    ledger_backup.forget_snapshots(ledger, target, report.forgotten)
    ledger.audit("opskeeper", "backup.prune", f"target:{target}",
                 {"system": system, "forgotten": report.forgotten, "retained_by_lock": report.retained,
                  "packs_deleted": report.packs_deleted, "bytes_freed": report.bytes_freed})


def sync_catalog(ledger: Ledger, target: str, repo: Repository) -> tuple[int, int]:
    """Mirror a repository's snapshot list into the ledger (rebuilds a lost ledger's catalog)."""
    records = [to_record(s, target) for s in repo.snapshots()]
    return ledger_backup.sync_catalog(ledger, target, records)


def due_backups(estate: Estate, ledger: Ledger, now: datetime | None = None) -> list[str]:
    """Systems whose newest mirrored snapshot is older than their policy's cadence (or that have none).

    For the tick: it starts the ``backup`` flow for each (its own window and blackout rules apply).
    """
    now = now or ledger.now()
    systems = [system for _, system in systems_with_backup(estate)]
    last = ledger_backup.last_snapshot_times(ledger, [system.id for system in systems])
    return [system.id for system in systems
            if (taken := last[system.id]) is None or now - taken >= policy_of(system).interval]
