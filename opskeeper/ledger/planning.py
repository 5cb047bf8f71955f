"""What the planner needs from the ledger, read in a few bulk queries (never per customer and cadence).

One :class:`History` per tick (or ``schedule show``): maintenance runs since a date, the windows
announced in maintenance notices and when, the drill notices (dispatch claims), and when the
scheduler first ticked. The planner (``opskeeper.planner``) turns it into decisions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from opskeeper.ledger.audit import AuditEntry
from opskeeper.ledger.core import Dispatch, Run, RunStatus
from opskeeper.ledger.db import Ledger
from opskeeper.ledger.drills import Drill, DrillStatus
from opskeeper.ledger.notify import DeliveryStatus, Notification

FIRST_TICK = "scheduler.first-tick"
CUSTOMER_SEEN = "scheduler.customer-seen"  # the first tick that knew this customer (added mid-period)
MAINTENANCE_SCHEDULED = "maintenance_scheduled"
COVERED_PREFIX = "covered by "  # the reason of a run row that records a period done by a larger cadence


@dataclass(frozen=True)
class RunRow:
    id: int
    customer_id: str
    cadence: str
    period: str
    status: str
    started_at: datetime
    reason: str


@dataclass(frozen=True)
class NoticeRow:
    """One maintenance notice row (one per contact): the window it named and when it was written."""

    id: int
    customer_id: str
    topic: str
    window_start: datetime
    window_end: datetime
    sent_at: datetime


@dataclass(frozen=True)
class History:
    runs: tuple[RunRow, ...] = ()
    notices: tuple[NoticeRow, ...] = ()
    drill_notices: tuple[tuple[str, str, str, datetime], ...] = ()  # (customer, scenario, slot, told at)
    first_tick: datetime | None = None
    customers_seen: dict[str, datetime] = field(default_factory=dict)  # customer -> first tick that knew it


EMPTY = History()


def load_history(ledger: Ledger, since: datetime) -> History:
    """Maintenance runs started and notices written since ``since``, drill notice claims, the first tick."""
    runs = select(
        Run.id, Run.customer_id, Run.cadence, Run.period, Run.status, Run.started_at, Run.reason
    ).where(Run.kind == "maintenance", Run.dry_run.is_(False), Run.started_at >= since)
    notices = select(
        Notification.id, Notification.customer_id, Notification.topic, Notification.context,
        Notification.created_at,
    ).where(
        Notification.event == MAINTENANCE_SCHEDULED,
        Notification.status != DeliveryStatus.FAILED,
        Notification.created_at >= since,
    )  # fmt: skip
    drills = select(Dispatch.customer_id, Dispatch.subject, Dispatch.slot, Dispatch.dispatched_at).where(
        Dispatch.kind == "drill-notice", Dispatch.dispatched_at >= since
    )
    first = select(AuditEntry.details).where(AuditEntry.action == FIRST_TICK).limit(1)
    seen = select(AuditEntry.subject, AuditEntry.details).where(AuditEntry.action == CUSTOMER_SEEN)
    with ledger.session() as s:
        run_rows = tuple(
            RunRow(i, c or "", k or "", p or "", st, at, r or "")
            for i, c, k, p, st, at, r in s.execute(runs.order_by(Run.id))
        )
        notice_rows = tuple(
            n for row in s.execute(notices.order_by(Notification.id)) if (n := _notice(*row)) is not None
        )
        drill_rows = tuple((c, sc, slot, at) for c, sc, slot, at in s.execute(drills))
        details = s.execute(first).scalar()
        customers = {c: datetime.fromisoformat(d["at"]) for c, d in s.execute(seen)}
    started = datetime.fromisoformat(details["at"]) if details else None
    return History(run_rows, notice_rows, drill_rows, started, customers)


def _notice(
    row_id: int, customer_id: str, topic: str, context: dict[str, Any], created_at: datetime
) -> NoticeRow | None:
    try:
        start = datetime.fromisoformat(context["window_start"]["$dt"])
        end = datetime.fromisoformat(context["window_end"]["$dt"])
    except (KeyError, TypeError, ValueError):
        return None  # not a window notice (hand-written, older format): names no window
    return NoticeRow(row_id, customer_id, topic, start, end, created_at)


def record_first_tick(ledger: Ledger, now: datetime) -> None:
    ledger.audit("scheduler", FIRST_TICK, "tick", {"at": now.isoformat()})


def record_customer_seen(ledger: Ledger, customer_id: str, now: datetime) -> None:
    """Periods of this customer before ``now`` are nobody's breach: it was not in the estate yet."""
    ledger.audit("scheduler", CUSTOMER_SEEN, customer_id, {"at": now.isoformat()})


def record_covered(
    ledger: Ledger, customer_id: str, cadence: str, period: str, by: RunRow, now: datetime
) -> int:
    """A row saying this period's work was done by a larger cadence's run (``runs list`` shows it)."""
    reason = f"{COVERED_PREFIX}{by.cadence} {by.period} (run {by.id})"
    with ledger.session() as s:
        run = Run(kind="maintenance", customer_id=customer_id, cadence=cadence, period=period,
                  trigger="tick", triggered_by="scheduler", started_at=now, ended_at=now,
                  status=RunStatus.SKIPPED, reason=reason,
                  summary={"covered_by_run": by.id, "covered_by": f"{by.cadence} {by.period}"})  # fmt: skip
        s.add(run)
        s.flush()
        run_id = run.id
    ledger.audit("scheduler", "run.covered", f"run/{run_id}", {"by_run": by.id, "period": period})
    return run_id


def all_last_passes(ledger: Ledger) -> dict[str, dict[str, datetime]]:
    """Customer -> scenario -> start of its newest passing drill, for every customer in one query."""
    q = (
        select(Drill.customer_id, Drill.scenario, func.max(Drill.started_at))
        .where(Drill.status == DrillStatus.PASS)
        .group_by(Drill.customer_id, Drill.scenario)
    )
    out: dict[str, dict[str, datetime]] = {}
    with ledger.session() as s:
        for customer, scenario, at in s.execute(q):
            out.setdefault(customer, {})[scenario] = at
    return out
