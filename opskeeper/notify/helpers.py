"""Shortcuts for the other areas: the usual messages with the usual dedup keys.

Each wraps :meth:`Notifier.notify`; call them from tasks (maintenance, backup, scan, drill flows).
"""

from __future__ import annotations

from datetime import datetime

from opskeeper.config.estate import Estate
from opskeeper.config.types import Severity
from opskeeper.ledger import Ledger
from opskeeper.notify.events import Event
from opskeeper.notify.records import NotificationRecord
from opskeeper.notify.service import Notifier


def maintenance_result(
    estate: Estate,
    ledger: Ledger,
    *,
    customer_id: str,
    cadence: str,
    period: str,
    started_at: datetime,
    ended_at: datetime,
    ok: bool,
    summary: str = "",
    reason: str = "",
    run_id: int | str | None = None,
    now: datetime | None = None,
    notifier: Notifier | None = None,
) -> list[NotificationRecord]:
    """ "Maintenance completed" (routine) or "failed" (high) for one customer's run in ``period``."""
    customer = estate.customer(customer_id)
    systems = [s.name or s.id for s in customer.systems]
    dedup = f"maintenance:{cadence}:{period}" + (f":run{run_id}" if run_id is not None else "")
    if ok:
        event, severity = Event.MAINTENANCE_COMPLETED, Severity.ROUTINE
        context = {"cadence": cadence, "started_at": started_at, "ended_at": ended_at, "systems": systems,
                   "summary": summary}  # fmt: skip
    else:
        event, severity = Event.MAINTENANCE_FAILED, Severity.HIGH
        context = {
            "cadence": cadence,
            "started_at": started_at,
            "systems": systems,
            "reason": reason or summary,
        }
    return (notifier or Notifier()).notify(
        estate, ledger, event=event, customer_id=customer_id, severity=severity, context=context,
        dedup_key=dedup, now=now, topic=f"maintenance:{cadence}:{period}",
    )  # fmt: skip
