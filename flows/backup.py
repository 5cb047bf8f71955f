"""Backup flows: ``backup`` (one system, following its policy) and ``verify_backups`` (all targets).

The tick starts ``backup`` when a system's newest snapshot is older than its
policy's cadence; engineers can run either by hand. The flow fails when any
data set could not be backed up (after the task retries); what succeeded stays.
"""

from __future__ import annotations

from typing import Annotated

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.runtime import flow_run
from pydantic import Field

from opskeeper.backup.errors import BackupError
from opskeeper.backup.ops import find_system, policy_of, targets_in_use
from opskeeper.backup.service import run_backups, run_verify
from opskeeper.clock import SYSTEM
from opskeeper.config.estate import Estate
from opskeeper.config.loader import load_estate
from opskeeper.config.types import Severity
from opskeeper.ledger import Ledger
from opskeeper.notify.events import Event
from opskeeper.notify.service import notify
from opskeeper.paths import config_path
from opskeeper.trigger import Trigger
from tasks.backup import publish_backup_artifact, publish_verify_artifact
from tasks.fanout import as_tasks, task_runner


@task(name="notify-backup-failed", retries=2, retry_delay_seconds=5, cache_policy=NO_CACHE)
def notify_backup_failed(
    estate: Estate, customer_id: str, system: str, run_id: int, errors: list[str]
) -> None:
    """The emergency plan's high-severity message: a backup failed (once per run)."""
    # Which target or path failed is internal detail: the customer hears the system and that we are on it.
    reason = f"{len(errors)} data set/target(s) failed"
    notify(
        estate,
        Ledger.open(),
        event=Event.BACKUP_FAILED,
        customer_id=customer_id,
        severity=Severity.HIGH,
        dedup_key=f"backup/{run_id}/failed",
        context={"system": system, "failed_at": SYSTEM.now(), "reason": reason},
    )


@flow(name="backup", task_runner=task_runner(), log_prints=False)  # type: ignore[arg-type]
def backup(
    system: Annotated[str, Field(description="System id from the estate")],
    prune: Annotated[bool, Field(description="Apply the retention policy after backing up")] = True,
    trigger: Annotated[str, Field(description="manual, tick or schedule (recorded)")] = "manual",
    config: Annotated[str | None, Field(description="Estate file (default: $OPSKEEPER_CONFIG)")] = None,
) -> dict[str, object]:
    """Back up every data set of one system to each of its targets, record it, then prune."""
    log = get_run_logger()
    estate = load_estate(config_path(config))
    customer, sys_ = find_system(estate, system)
    policy_of(sys_)  # a system without a backup policy is bad input: nothing runs
    fr_id = str(flow_run.id) if flow_run.id else None
    who = Trigger(trigger, f"prefect:{fr_id}" if fr_id else "prefect", fr_id)
    [done] = run_backups(estate, Ledger.open(), [(customer, sys_)], runner=as_tasks, trigger=who, prune=prune)
    publish_backup_artifact(sys_.id, list(done.outcomes))
    for t, report in done.pruned:
        log.info("prune %s: forgot %d, retained by lock %d, freed %.1f MiB",
                 t, len(report.forgotten), len(report.retained), report.bytes_freed / 2**20)  # fmt: skip
    errors = [o.error or "" for o in done.outcomes if not o.ok]
    if errors:
        notify_backup_failed(estate, customer.id, sys_.name or sys_.id, done.run_id, errors)
        raise BackupError(f"backup of {sys_.id} failed for {len(errors)} data set/target(s): " + "; ".join(errors))
    return {"run_id": done.run_id, "snapshots": [o.snapshot.id for o in done.outcomes if o.snapshot],
            "errors": errors}  # fmt: skip


@flow(name="verify-backups", task_runner=task_runner(), log_prints=False)  # type: ignore[arg-type]
def verify_backups(
    read_pct: Annotated[
        float | None,
        Field(description="Percent of packs to read (default: policies' verify_fraction)", ge=0, le=100),
    ] = None,
    config: Annotated[str | None, Field(description="Estate file (default: $OPSKEEPER_CONFIG)")] = None,
) -> dict[str, bool]:
    """Verify every target in use; read a rotating share of each target's packs."""
    estate = load_estate(config_path(config))
    reports = dict(run_verify(estate, Ledger.open(), targets_in_use(estate), read_pct=read_pct, runner=as_tasks))
    publish_verify_artifact(reports)
    damaged = [t for t, r in reports.items() if not r.ok]
    if damaged:
        raise BackupError(f"backup verification found damage on target(s): {', '.join(damaged)}")
    return {t: r.ok for t, r in reports.items()}
