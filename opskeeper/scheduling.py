"""What the tick does now: due maintenance, advance notices, missed periods. Pure core over the ledger.

See "Scheduling" in ARCHITECTURE.md: the calendar decides what is due; the ledger says what
was done; a dispatch row, inserted before a flow starts, makes a second tick a no-op.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from opskeeper.calendar import Interval, PlannedRun, PlanStatus, open_windows
from opskeeper.config.estate import Customer, Estate
from opskeeper.config.types import Cadence
from opskeeper.drills.freshness import due_drills
from opskeeper.ledger import Ledger
from opskeeper.ledger import dispatch as dispatches
from opskeeper.ledger import runs as ledger_runs
from opskeeper.ledger.planning import (
    FIRST_TICK,
    History,
    RunRow,
    all_last_passes,
    load_history,
    record_customer_seen,
    record_first_tick,
)
from opskeeper.planner import LOOKBACK, Planner, wake_at

__all__ = ["FIRST_TICK", "TickPlan", "claim", "plan_drills", "plan_tick", "record_missed"]

TICK_EVERY = timedelta(minutes=5)
# A claim whose work has not appeared in the ledger by then was left by a tick that died before starting it.
STALE_CLAIM = TICK_EVERY * 3
# Notices go out this much before they fall due, so that a tick every TICK_EVERY still gives the full lead.
ANNOUNCE_AHEAD = TICK_EVERY * 2

MissedKey = tuple[str, Cadence, str]  # (customer, cadence, period)


@dataclass
class TickPlan:
    due: list[PlannedRun] = field(default_factory=list)
    planned: list[PlannedRun] = field(default_factory=list)  # notices (or corrections) to send now
    missed: list[MissedKey] = field(default_factory=list)
    reasons: dict[MissedKey, str] = field(default_factory=dict)  # why each missed period was missed
    covered: list[tuple[str, Cadence, str, RunRow]] = field(default_factory=list)  # to write as covered
    plans: list[PlannedRun] = field(default_factory=list)  # every current plan (what schedule show shows)
    wake_at: datetime | None = None  # nothing changes before then unless something runs


def load_snapshot(ledger: Ledger, now: datetime) -> History:
    return load_history(ledger, now - LOOKBACK)


def plan_tick(estate: Estate, ledger: Ledger, now: datetime) -> TickPlan:
    """The tick's decisions at ``now`` from one ledger snapshot (a few bulk queries, none per customer).

    The first tick ever, and the first tick that knows a customer, are recorded: periods before them
    are nobody's breach.
    """
    history = load_snapshot(ledger, now)
    if history.first_tick is None:
        record_first_tick(ledger, now)
    new = [c.id for c in estate.customers if c.id not in history.customers_seen]
    for customer_id in new:
        record_customer_seen(ledger, customer_id, now)
    seen = {**history.customers_seen, **dict.fromkeys(new, now)}
    history = History(history.runs, history.notices, history.drill_notices, history.first_tick or now, seen)
    return decide(Planner(estate, history), now)


def decide(planner: Planner, now: datetime) -> TickPlan:
    """What to start, announce, record as missed or covered, from a planner built on one snapshot."""
    plan = TickPlan()
    history = planner.history
    for c in planner.estate.customers:
        plans = planner.plans(c, now)
        plan.plans += plans
        plan.due += [r for r in plans if r.status is PlanStatus.DUE_NOW]
        plan.planned += [r for r in plans if r.notice_due(now, ANNOUNCE_AHEAD)]
        since = max(history.first_tick or now, history.customers_seen.get(c.id, now))
        for cadence in planner.estate.tier_of(c).cadences:
            period = planner.previous_period(c, cadence, now)
            key = (c.id, cadence.value, period.key)
            if period.start >= since and not planner.finished(key):
                plan.missed.append((c.id, cadence, period.key))
                plan.reasons[(c.id, cadence, period.key)] = planner.breach_reason(c, cadence, period)
    cover = planner.cover
    for (customer_id, cadence_name, period_key), by in cover.by_run.items():
        key = (customer_id, cadence_name, period_key)
        if key not in cover.recorded and key not in planner.state.done:
            plan.covered.append((customer_id, Cadence(cadence_name), period_key, by))
    plan.wake_at = wake_at(plan.plans, now, ANNOUNCE_AHEAD)
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
    now = now or ledger.now()
    key = (kind, customer_id, subject, slot)
    if dispatches.insert_dispatch(ledger, key, now):
        return True
    return work_seen is not None and _take_over_stale(ledger, key, work_seen, now)


def _take_over_stale(
    ledger: Ledger, key: tuple[str, str, str, str], work_seen: Callable[[datetime], bool], now: datetime
) -> bool:
    claimed_at = dispatches.dispatched_at(ledger, key)
    if claimed_at is None or now - claimed_at < STALE_CLAIM or work_seen(claimed_at):
        return False
    # Conditional on the claim still being stale: of two ticks taking it over at once, one wins.
    if not dispatches.take_over_stale(ledger, key, now, STALE_CLAIM):
        return False
    ledger.audit("scheduler", "dispatch.reclaimed", "/".join(key),
                 {"claimed_at": claimed_at.isoformat(), "why": "its work never started"})  # fmt: skip
    return True


def record_missed(ledger: Ledger, customer_id: str, cadence: Cadence, period: str, reason: str = "") -> bool:
    why = f"{cadence.value} maintenance was not completed in period {period}" + (
        f": {reason}" if reason else ""
    )
    return ledger_runs.record_breach(ledger, customer_id, "maintenance", cadence.value, period, why)


def claimed(ledger: Ledger, kind: str, customer_id: str, subject: str, slot: str) -> bool:
    return dispatches.is_claimed(ledger, (kind, customer_id, subject, slot))


@dataclass(frozen=True)
class DrillPlan:
    """An overdue drill and the window it goes in: announce first, start when the window opens."""

    customer_id: str
    scenario: str
    window: Interval
    announce: bool  # the notice is due (the notice period begins about now) and has not gone out
    start: bool  # the window is open and the customer was told in time (or the drill is silent)
    told_at: datetime | None = None


def plan_drills(estate: Estate, ledger: Ledger, now: datetime, silent: set[str]) -> list[DrillPlan]:
    """Drills whose scenario has not passed within the tier's period (``drill_every``), placed in windows."""
    history = load_snapshot(ledger, now)
    return drills_from(estate, history, all_last_passes(ledger), now, silent)


def drills_from(
    estate: Estate, history: History, passes: Mapping[str, Mapping[str, datetime]], now: datetime,
    silent: set[str],
) -> list[DrillPlan]:  # fmt: skip
    """Same rule as maintenance: a drill starts only in a window announced the full notice ahead."""
    told = {(c, sc, slot): at for c, sc, slot, at in history.drill_notices}
    plans = []
    for f in due_drills(estate, lambda c: passes.get(c, {}), now):
        customer = estate.customer(f.customer)
        notice = estate.tier_of(customer).maintenance_notice
        quiet = f.scenario in silent or not notice
        slots = {slot: at for (c, sc, slot), at in told.items() if (c, sc) == (f.customer, f.scenario)}
        found = _drill_window(customer, now, notice, quiet, slots.get)
        if found is None:
            continue
        window, told_at = found
        announce = not quiet and told_at is None and now >= window.start - notice - ANNOUNCE_AHEAD
        start = window.start <= now < window.end and (quiet or told_at is not None)
        plans.append(DrillPlan(f.customer, f.scenario, window, announce, start, told_at))
    return plans


def _drill_window(
    customer: Customer, now: datetime, notice: timedelta, quiet: bool,
    told_at: Callable[[str], datetime | None],
) -> tuple[Interval, datetime | None] | None:  # fmt: skip
    """The first open window that was announced ``notice`` ahead, or can still be; a silent drill: the next."""
    lo = now
    for _ in range(12):  # a year ahead, five weeks at a time
        hi = lo + timedelta(days=35)
        for w in open_windows(customer, lo, hi):
            if w.end <= now or (w.start < lo and lo > now):
                continue  # over, or already looked at in the previous stretch
            if quiet:
                return w, None
            at = told_at(w.start.isoformat())
            if at is not None and w.start - at >= notice:
                return w, at
            if w.start - now >= notice:
                return w, None
        lo = hi
    return None
