"""What the tick does now: due maintenance, advance notices, missed periods. Pure core over the ledger.

See "Scheduling" in ARCHITECTURE.md: the calendar decides what is due; the ledger says what
was done; a dispatch row, inserted before a flow starts, makes a second tick a no-op.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from opskeeper.calendar import Interval, PlannedRun, Schedule, next_open_window, period_of
from opskeeper.calendar.schedule import AnnouncedFn, never
from opskeeper.config.estate import Estate
from opskeeper.config.types import Cadence
from opskeeper.drills.freshness import due_drills
from opskeeper.ledger import Ledger, LedgerError, utcnow
from opskeeper.ledger import runs as ledger_runs
from opskeeper.ledger.audit import AuditEntry
from opskeeper.ledger.core import Dispatch
from opskeeper.ledger.drills import last_passes

TICK_EVERY = timedelta(minutes=5)
# A claim whose work has not appeared in the ledger by then was left by a tick that died before starting it.
STALE_CLAIM = TICK_EVERY * 3
FIRST_TICK = "scheduler.first-tick"


@dataclass
class TickPlan:
    due: list[PlannedRun] = field(default_factory=list)
    planned: list[PlannedRun] = field(default_factory=list)  # for advance notices and corrections
    missed: list[tuple[str, Cadence, str]] = field(default_factory=list)  # (customer, cadence, period)


def schedule_for(estate: Estate, ledger: Ledger, announced: AnnouncedFn | None = None) -> Schedule:
    def done(customer_id: str, cadence: Cadence, period_key: str) -> bool:
        return ledger_runs.succeeded_in_period(ledger, "maintenance", customer_id, cadence.value, period_key)

    return Schedule(estate, done, announced or never, notice_grace=TICK_EVERY * 2)


def first_tick(ledger: Ledger, now: datetime) -> datetime:
    """When this ledger's scheduler first ticked (recorded once); periods before it are nobody's breach."""
    with ledger.session() as s:
        details = s.execute(
            select(AuditEntry.details).where(AuditEntry.action == FIRST_TICK).limit(1)
        ).scalar()
    if details is None:
        ledger.audit("scheduler", FIRST_TICK, "tick", {"at": now.isoformat()})
        return now
    return datetime.fromisoformat(details["at"])


def plan_tick(
    estate: Estate, ledger: Ledger, now: datetime, announced: AnnouncedFn | None = None
) -> TickPlan:
    sched = schedule_for(estate, ledger, announced)
    plan = TickPlan()
    started = first_tick(ledger, now)
    for run in sched.due_now(now):
        assert run.window is not None
        # One attempt per window: a failed run waits for the next window of the period.
        if not ledger_runs.attempted_since(
            ledger, "maintenance", run.customer_id, run.cadence.value, run.window.start
        ):
            plan.due.append(run)
    for c in estate.customers:
        horizon = now + estate.tier_of(c).maintenance_notice + TICK_EVERY * 2
        plan.planned += [r for r in sched.runs(c, now, horizon) if r.window is not None]
        for cadence in estate.tier_of(c).cadences:
            current = period_of(cadence, now, c.timezone)
            previous = period_of(cadence, current.start - timedelta(seconds=1), c.timezone)
            if previous.start >= started and not ledger_runs.succeeded_in_period(
                ledger, "maintenance", c.id, cadence.value, previous.key
            ):
                plan.missed.append((c.id, cadence, previous.key))
    return plan


def claim(
    ledger: Ledger,
    kind: str,
    customer_id: str,
    subject: str,
    slot: str,
    *,
    work_seen: Callable[[datetime], bool] | None = None,
    now: datetime | None = None,
) -> bool:
    """Insert the dispatch row; False if another tick already claimed this work.

    With ``work_seen(claimed_at)`` (did the claimed work show up in the ledger since?), a claim older
    than STALE_CLAIM whose work never appeared is taken over: the tick that made it died between
    claiming and starting the flow, and its row must not block the window for good.
    """
    now = now or utcnow()
    try:
        with ledger.session() as s:
            s.add(Dispatch(kind=kind, customer_id=customer_id, subject=subject, slot=slot, dispatched_at=now))
    except LedgerError as e:
        if isinstance(e.__cause__, IntegrityError):
            return work_seen is not None and _take_over_stale(
                ledger, (kind, customer_id, subject, slot), work_seen, now
            )
        raise
    return True


def _take_over_stale(
    ledger: Ledger, key: tuple[str, str, str, str], work_seen: Callable[[datetime], bool], now: datetime
) -> bool:
    kind, customer_id, subject, slot = key
    where = (Dispatch.kind == kind, Dispatch.customer_id == customer_id, Dispatch.subject == subject,
             Dispatch.slot == slot)  # fmt: skip
    with ledger.session() as s:
        claimed_at = s.execute(select(Dispatch.dispatched_at).where(*where)).scalar()
    if claimed_at is None or now - claimed_at < STALE_CLAIM or work_seen(claimed_at):
        return False
    with ledger.session() as s:
        # Conditional on the claim still being stale: of two ticks taking it over at once, one wins.
        taken = s.execute(
            update(Dispatch)
            .where(*where, Dispatch.dispatched_at <= now - STALE_CLAIM)
            .values(dispatched_at=now)
        ).rowcount  # type: ignore[attr-defined]  # an UPDATE gives a CursorResult
    if taken != 1:
        return False
    ledger.audit("scheduler", "dispatch.reclaimed", "/".join(key),
                 {"claimed_at": claimed_at.isoformat(), "why": "its work never started"})  # fmt: skip
    return True


def record_missed(ledger: Ledger, customer_id: str, cadence: Cadence, period: str) -> bool:
    return ledger_runs.record_breach(
        ledger, customer_id, "maintenance", cadence.value, period,
        f"{cadence.value} maintenance was not completed in period {period}",
    )  # fmt: skip


def claimed(ledger: Ledger, kind: str, customer_id: str, subject: str, slot: str) -> bool:
    with ledger.session() as s:
        found = s.execute(
            select(Dispatch.id).where(Dispatch.kind == kind, Dispatch.customer_id == customer_id,
                                      Dispatch.subject == subject, Dispatch.slot == slot)
        ).first()  # fmt: skip
    return found is not None


@dataclass(frozen=True)
class DrillPlan:
    """An overdue drill and the window it goes in: announce first, start when the window opens."""

    customer_id: str
    scenario: str
    window: Interval
    announce: bool  # the notice period has begun and the notice has not gone out
    start: bool  # the window is open and the customer was told (or the drill is silent)


def plan_drills(estate: Estate, ledger: Ledger, now: datetime, silent: set[str]) -> list[DrillPlan]:
    """Drills whose scenario has not passed within the tier's period (``drill_every``), placed in windows."""
    with ledger.session() as s:
        overdue = due_drills(estate, lambda c: last_passes(s, c), now)
    plans = []
    for f in overdue:
        customer = estate.customer(f.customer)
        window = next_open_window(customer, now)
        if window is None:
            continue
        slot = window.start.isoformat()
        told = f.scenario in silent or claimed(ledger, "drill-notice", f.customer, f.scenario, slot)
        notice_from = window.start - estate.tier_of(customer).maintenance_notice
        announce = not told and notice_from <= now < window.start
        start = window.start <= now < window.end and (told or notice_from >= window.start)
        plans.append(DrillPlan(f.customer, f.scenario, window, announce, start))
    return plans
