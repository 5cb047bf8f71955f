"""Prefect task: tell the customer a maintenance run started, completed or failed (per the emergency plan)."""

from __future__ import annotations

from datetime import datetime, timedelta

from prefect import task
from prefect.cache_policies import NO_CACHE

from opskeeper.clock import SYSTEM
from opskeeper.config.estate import Estate
from opskeeper.config.types import Severity
from opskeeper.ledger import Ledger
from opskeeper.maintenance import MaintenanceResult
from opskeeper.notify.events import Event
from opskeeper.notify.helpers import maintenance_failure
from opskeeper.notify.service import notify


def _systems(estate: Estate, customer_id: str) -> list[str]:
    return [s.name or s.id for s in estate.customer(customer_id).systems]


@task(name="notify-maintenance-started", retries=2, retry_delay_seconds=5, cache_policy=NO_CACHE)
def notify_started(
    estate: Estate, customer_id: str, cadence: str, run_id: int, window_end: datetime | None
) -> None:
    """Maintenance started (idempotent per run)."""
    now = SYSTEM.now()
    notify(estate, Ledger.open(), event=Event.MAINTENANCE_STARTED, customer_id=customer_id,
           severity=Severity.ROUTINE, dedup_key=f"maintenance/{run_id}/started",
           context={"cadence": cadence, "window_start": now, "window_end": window_end or now + timedelta(hours=1),
                    "systems": _systems(estate, customer_id)})  # fmt: skip


@task(name="notify-maintenance-result", retries=2, retry_delay_seconds=5, cache_policy=NO_CACHE)
def notify_result(estate: Estate, result: MaintenanceResult, started_at: datetime) -> None:
    """Maintenance completed or failed (idempotent per run)."""
    ok = result.status == "ok"
    total = sum(h.steps for h in result.hosts)
    good = total - sum(len(h.failed) for h in result.hosts)
    summary = f"{good}/{total} OK"  # host names are internal, words would need translating: counts only
    base = {
        "cadence": result.cadence,
        "started_at": started_at,
        "systems": _systems(estate, result.customer_id),
    }
    if ok:
        event, severity, context = Event.MAINTENANCE_COMPLETED, Severity.ROUTINE, {
            **base, "ended_at": SYSTEM.now(), "summary": summary}  # fmt: skip
    else:
        # Step names and counts, not host names (internal: the renderer would mask them as "[…]").
        steps = sorted({step for h in result.hosts for step in h.failed})
        broken = sum(1 for h in result.hosts if h.failed or h.error)
        reason = maintenance_failure(steps, broken, len(result.hosts), result.reason)
        event, severity, context = Event.MAINTENANCE_FAILED, Severity.HIGH, {**base, "reason": reason}
    notify(estate, Ledger.open(), event=event, customer_id=result.customer_id, severity=severity,
           dedup_key=f"maintenance/{result.run_id}/result", context=context)  # fmt: skip
