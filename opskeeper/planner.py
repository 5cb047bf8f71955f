"""The one planner: a ledger snapshot (``ledger.planning.History``) in, the calendar's plans out.

The tick (``scheduling.plan_tick``), ``opskeeper schedule show`` and ``opskeeper simulate`` all build a
:class:`Planner` from the same kind of snapshot, so what an engineer sees is what the tick will do.
Pure: no query here; the snapshot is read in a few bulk queries by ``ledger.planning.load_history``.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from opskeeper.calendar import Interval, Period, period_of
from opskeeper.calendar.schedule import (
    SIZE,
    Announced,
    CustomerSchedule,
    PlanKey,
    PlannedRun,
    PlanState,
    PlanStatus,
    Schedule,
)
from opskeeper.calendar.windows import window_status
from opskeeper.config.estate import Customer, Estate
from opskeeper.config.types import Cadence
from opskeeper.ledger.core import RunStatus
from opskeeper.ledger.planning import COVERED_PREFIX, History, NoticeRow, RunRow

# Runs that never touched a host are no attempt: the window is still free for the work.
NOT_ATTEMPTS = {RunStatus.SKIPPED_BLACKOUT, RunStatus.SKIPPED_WINDOW, RunStatus.SKIPPED, RunStatus.ABANDONED}
# How far back the snapshot reads: the previous annual period and everything announced since.
LOOKBACK = timedelta(days=740)


def topic_key(customer_id: str, topic: str) -> PlanKey | None:
    """``maintenance:<cadence>:<period>`` on a customer -> (customer, cadence, period)."""
    kind, _, rest = topic.partition(":")
    cadence, _, period = rest.partition(":")
    return (customer_id, cadence, period) if kind == "maintenance" and period else None


def announcements(notices: tuple[NoticeRow, ...]) -> dict[PlanKey, Announced]:
    """The window last announced per piece of work, told since the first notice that named it."""
    out: dict[PlanKey, Announced] = {}
    for n in notices:  # in id order: the last one is what the customer knows
        key = topic_key(n.customer_id, n.topic)
        if key is None:
            continue
        before = out.get(key)
        if before is not None and (before.start, before.end) == (n.window_start, n.window_end):
            continue  # the same window told again (another contact, a retry): the first notice counts
        out[key] = Announced(n.window_start, n.window_end, n.sent_at)
    return out


@dataclass(frozen=True)
class Coverage:
    covered: dict[PlanKey, str]  # key -> "annual 2027 (run 42)"
    by_run: dict[PlanKey, RunRow]  # key -> the larger run that did it
    recorded: frozenset[PlanKey]  # covered periods already written to the ledger as such


def coverage(estate: Estate, runs: tuple[RunRow, ...]) -> Coverage:
    """A successful run of a larger cadence did the smaller cadences' work of the periods it ran in."""
    covered: dict[PlanKey, str] = {}
    by_run: dict[PlanKey, RunRow] = {}
    recorded = set()
    tiers = {c.id: (c.timezone, estate.tier_of(c).cadences) for c in estate.customers}
    for r in runs:
        if r.status == RunStatus.SKIPPED and r.reason.startswith(COVERED_PREFIX):
            recorded.add((r.customer_id, r.cadence, r.period))
        if r.status != RunStatus.OK or r.customer_id not in tiers or r.cadence not in SIZE:
            continue
        tz, cadences = tiers[r.customer_id]
        for smaller in cadences:
            if SIZE[smaller] < SIZE[Cadence(r.cadence)]:
                key = (r.customer_id, smaller.value, period_of(smaller, r.started_at, tz).key)
                covered.setdefault(key, f"{r.cadence} {r.period} (run {r.id})")
                by_run.setdefault(key, r)
    return Coverage(covered, by_run, frozenset(recorded))


def plan_state(estate: Estate, history: History, cover: Coverage | None = None) -> PlanState:
    cover = cover or coverage(estate, history.runs)
    done = frozenset((r.customer_id, r.cadence, r.period) for r in history.runs if r.status == RunStatus.OK)
    attempts: dict[tuple[str, str], list[datetime]] = defaultdict(list)
    for r in history.runs:
        if r.status not in NOT_ATTEMPTS:
            attempts[(r.customer_id, r.cadence)].append(r.started_at)
    return PlanState(
        done=done,
        covered=cover.covered,
        announced=announcements(history.notices),
        attempts={k: tuple(v) for k, v in attempts.items()},
        first_tick=history.first_tick,
    )


@dataclass
class Planner:
    """One snapshot, one set of decisions: the current periods' plans per customer (cadences merged)."""

    estate: Estate
    history: History
    cover: Coverage = field(init=False)
    schedule: Schedule = field(init=False)

    def __post_init__(self) -> None:
        self.cover = coverage(self.estate, self.history.runs)
        self.schedule = Schedule(self.estate, plan_state(self.estate, self.history, self.cover))

    @property
    def state(self) -> PlanState:
        return self.schedule.state

    def plans(self, customer: Customer, now: datetime) -> list[PlannedRun]:
        return self.schedule.plans(customer, now)

    def show(self, customer: Customer, now: datetime, days: int) -> CustomerSchedule:
        return self.schedule.customer(customer, now, days)

    def finished(self, key: PlanKey) -> bool:
        return key in self.state.done or key in self.state.covered

    def previous_period(self, customer: Customer, cadence: Cadence, now: datetime) -> Period:
        current = period_of(cadence, now, customer.timezone)
        return period_of(cadence, current.start - timedelta(seconds=1), customer.timezone)

    def breach_reason(self, customer: Customer, cadence: Cadence, period: Period) -> str:
        """Why the period ended without the work: no window at all, failed runs, or no notice in time."""
        occs = [o for o in window_status(customer, period.start, period.end) if o.window.start < period.end]
        if not any(o.open for o in occs):
            why = ", ".join(dict.fromkeys(r for o in occs for r in o.blocked_reasons)) or "no window"
            return f"no open maintenance window in {period.key} (blackout: {why})"
        tries = [
            at for at in self.state.attempts.get((customer.id, cadence.value), ()) if period.contains(at)
        ]
        if tries:
            return f"{cadence.value} maintenance failed in {len(tries)} window(s) of {period.key}"
        notice = self.estate.tier_of(customer).maintenance_notice
        return (f"no window of {period.key} could be announced in time ({notice} notice, catch-up "
                f"{self.estate.tier_of(customer).catch_up.policy.value}): the scheduler was down or started late")  # fmt: skip


def wake_at(plans: list[PlannedRun], now: datetime, ahead: timedelta) -> datetime | None:
    """The earliest time after ``now`` when these plans can change without anything else happening."""
    times: list[datetime] = []
    for p in plans:
        times.append(p.period.end)
        w: Interval | None = p.window
        if w is None or p.status not in (PlanStatus.PLANNED, PlanStatus.DUE_NOW, PlanStatus.COVERED):
            continue
        times += [w.start, w.end]
        if p.notice_at is not None and p.announced_at is None:
            times.append(p.notice_at - ahead)
    later = [t for t in times if t > now]
    return min(later) if later else None
