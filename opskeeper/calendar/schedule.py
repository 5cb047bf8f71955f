"""Due-driven planning: for each customer and cadence, where in its period the work will run.

The core stays ledger-free: what the ledger says (periods done, windows announced and when, attempts)
comes in as one :class:`PlanState` snapshot, built by ``opskeeper.planner`` from a few bulk queries.
See "Scheduling" in ARCHITECTURE.md.

The rules, per window (never per period):
- work starts only in the window the customer was last told about, and only if that notice went out
  at least the tier's ``maintenance_notice`` before the window (or, when no window left in the period
  can get the full notice, at least the tier's catch-up lead: see ``config/catch_up.py``);
- a window in which this cadence was already attempted is not used again (one attempt per window);
- a larger cadence planned into the same window covers the smaller ones (an annual run repeats every
  quarterly and monthly step): they show as ``covered`` and only the larger one runs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum

from opskeeper.calendar.intervals import Interval, utc
from opskeeper.calendar.periods import Period, next_period, period_of
from opskeeper.calendar.windows import WindowOccurrence, WindowStatus, blackout_intervals, window_status
from opskeeper.config.estate import Customer, Estate
from opskeeper.config.types import Cadence

PlanKey = tuple[str, str, str]  # (customer_id, cadence value, period key)
SIZE = {Cadence.MONTHLY: 1, Cadence.QUARTERLY: 2, Cadence.ANNUAL: 3}  # a larger run repeats the smaller


class PlanStatus(StrEnum):
    DONE = "done"  # done successfully in this period
    COVERED = "covered"  # a larger cadence's run does (or did) this period's work
    PLANNED = "planned"  # an open window that can be (or was) announced in time remains in the period
    DUE_NOW = "due-now"  # the planned window is open now and was announced in time
    AT_RISK = "at-risk"  # no usable window remains: the period will be missed


@dataclass(frozen=True)
class Announced:
    """The window last announced for a piece of work, and when the customer was first told of it."""

    start: datetime
    end: datetime
    sent_at: datetime

    def names(self, part: Interval) -> bool:
        return (self.start, self.end) == (part.start, part.end)


@dataclass(frozen=True)
class PlanState:
    """What the ledger says, as plain data: one snapshot feeds the tick and ``schedule show`` alike."""

    done: frozenset[PlanKey] = frozenset()
    covered: Mapping[PlanKey, str] = field(default_factory=dict)  # key -> "annual 2027 (run 42)"
    announced: Mapping[PlanKey, Announced] = field(default_factory=dict)
    attempts: Mapping[tuple[str, str], tuple[datetime, ...]] = field(default_factory=dict)
    first_tick: datetime | None = None

    def attempted(self, customer_id: str, cadence: Cadence, part: Interval) -> bool:
        return any(part.start <= at < part.end for at in self.attempts.get((customer_id, cadence.value), ()))


@dataclass(frozen=True)
class MovedBy:
    """A window occurrence the run could not use because blackouts removed or cut it."""

    window: Interval
    status: WindowStatus
    blackouts: tuple[str, ...]


@dataclass(frozen=True)
class PlannedRun:
    customer_id: str
    cadence: Cadence
    period: Period
    status: PlanStatus
    window: Interval | None = None  # where it will run (an open part of a window occurrence)
    notice_at: datetime | None = None  # when the notice is due: window start - notice (catch-up: now)
    moved_by: tuple[MovedBy, ...] = ()
    late_notice: tuple[Interval, ...] = ()  # open windows skipped: too close to announce in time
    note: str = ""
    announced_at: datetime | None = None  # the customer was told of this window then (None: not yet)
    lead: timedelta | None = None  # the notice lead the customer got (or gets if told at notice_at)
    catch_up: bool = False  # the full notice no longer fits in the period: the tier's catch-up lead
    covered_by: str = ""  # COVERED: the larger cadence's work, e.g. "annual 2027"

    def notice_due(self, now: datetime, ahead: timedelta = timedelta(0)) -> bool:
        """Should the "maintenance scheduled" notice (or its correction) go out now?"""
        if self.status not in (PlanStatus.PLANNED, PlanStatus.DUE_NOW) or self.window is None:
            return False
        assert self.notice_at is not None
        return self.announced_at is None and self.window.start > now and now >= self.notice_at - ahead


@dataclass(frozen=True)
class CustomerSchedule:
    customer_id: str
    name: str
    timezone: str
    start: datetime
    end: datetime
    windows: tuple[WindowOccurrence, ...]
    blackouts: tuple[Interval, ...]
    runs: tuple[PlannedRun, ...]


@dataclass(frozen=True)
class _Candidates:
    parts: list[Interval]
    moved: list[MovedBy]


@dataclass
class Schedule:
    """Plans runs for an estate over one ledger snapshot (``state``)."""

    estate: Estate
    state: PlanState = field(default_factory=PlanState)

    def plan(self, customer: Customer, cadence: Cadence, period: Period, now: datetime) -> PlannedRun:
        """This cadence's work in ``period`` on its own (see :meth:`plans` for cadences merged)."""
        now = utc(now)
        key = (customer.id, cadence.value, period.key)
        base = PlannedRun(customer.id, cadence, period, PlanStatus.AT_RISK)
        if key in self.state.done:
            return replace(base, status=PlanStatus.DONE, note=f"done in {period.key}")
        if by := self.state.covered.get(key):
            return replace(base, status=PlanStatus.COVERED, covered_by=by, note=f"covered by {by}")
        if now >= period.end:
            return replace(base, note=f"period {period.key} is over and the work was not done")
        found = self._candidates(customer, cadence, period, now)
        tier = self.estate.tier_of(customer)
        ann = self.state.announced.get(key)
        notice = tier.maintenance_notice
        choice = _choose(found.parts, ann, notice, now, untold_ok=not notice)
        catch = False
        if choice is None and (short := tier.catch_up.lead_needed()) is not None:
            choice, catch = _choose(found.parts, ann, short, now), True
        moved = tuple(found.moved)
        if choice is None:
            late = tuple(p for p in found.parts if p.start > now)
            return replace(base, moved_by=moved, late_notice=late, note=_risk_note(period, found.moved, late))
        late = tuple(p for p in found.parts if p.start < choice.start and p.start > now)
        # Only the blocked windows up to the chosen one moved or cut the run; later ones are not its business.
        before = [m for m in found.moved if m.window.start <= choice.start]
        moved = tuple(before)
        told = ann.sent_at if ann is not None and ann.names(choice) else None
        notice_at = told or (max(now, choice.start - tier.maintenance_notice) if catch else
                             choice.start - tier.maintenance_notice)  # fmt: skip
        open_now = choice.start <= now and (told is not None or not tier.maintenance_notice)
        notes = [n for n in (_moved_note(before), _catch_note(choice, notice_at) if catch else "") if n]
        return replace(
            base, status=PlanStatus.DUE_NOW if open_now else PlanStatus.PLANNED, window=choice,
            notice_at=notice_at, moved_by=moved, late_notice=late, note="; ".join(notes),
            announced_at=told, lead=choice.start - notice_at, catch_up=catch,
        )  # fmt: skip

    def _candidates(self, customer: Customer, cadence: Cadence, period: Period, now: datetime) -> _Candidates:
        """Open window parts inside the period that have not ended and were not attempted yet."""
        since = max(now, period.start)
        out = _Candidates([], [])
        for occ in window_status(customer, since, period.end):
            if occ.window.start >= period.end:
                continue
            if occ.status is not WindowStatus.OPEN:
                out.moved.append(MovedBy(occ.window, occ.status, tuple(occ.blocked_reasons)))
            for part in occ.open:
                if part.end <= since or part.start >= period.end:
                    continue
                if part.start < period.start:
                    # A window running over the period boundary: a run started before it would be
                    # recorded in the previous period, so only its part inside this period counts.
                    part = replace(part, start=period.start)
                if not self.state.attempted(customer.id, cadence, part):
                    out.parts.append(part)
        return out

    def plans(self, customer: Customer, now: datetime) -> list[PlannedRun]:
        """Every cadence's plan for its current period, merged (what the tick acts on)."""
        tz = customer.timezone
        cadences = self.estate.tier_of(customer).cadences
        return merge_cadences([self.plan(customer, c, period_of(c, now, tz), now) for c in cadences])

    def runs(self, customer: Customer, now: datetime, until: datetime) -> list[PlannedRun]:
        """Plans for every cadence of the customer's tier, for each period from now's to until's, merged."""
        tz = customer.timezone
        out = []
        for cadence in self.estate.tier_of(customer).cadences:
            period = period_of(cadence, now, tz)
            while True:
                out.append(self.plan(customer, cadence, period, now))
                period = next_period(cadence, period, tz)
                if period.start >= until:
                    break
        return merge_cadences(out)

    def customer(self, customer: Customer, now: datetime, days: int) -> CustomerSchedule:
        now = utc(now)
        until = now + timedelta(days=days)
        return CustomerSchedule(
            customer_id=customer.id,
            name=customer.name,
            timezone=customer.timezone,
            start=now,
            end=until,
            windows=tuple(window_status(customer, now, until)),
            blackouts=tuple(blackout_intervals(customer.blackouts, customer.timezone, now, until)),
            runs=tuple(self.runs(customer, now, until)),
        )

    def due_now(self, at: datetime) -> list[PlannedRun]:
        """Work whose announced window is open now and not yet done in its period (what the tick starts)."""
        return [r for c in self.estate.customers for r in self.plans(c, at) if r.status is PlanStatus.DUE_NOW]


def _lead_ok(part: Interval, ann: Announced | None, need: timedelta, now: datetime) -> bool:
    if ann is not None and ann.names(part):
        return part.start - ann.sent_at >= need
    return part.start > now and part.start - now >= need  # can still be told ``need`` ahead


def _choose(
    parts: list[Interval], ann: Announced | None, need: timedelta, now: datetime, *, untold_ok: bool = False
) -> Interval | None:
    """The first part announced at least ``need`` ahead, or that can still be told in time."""
    if untold_ok:
        return parts[0] if parts else None  # a tier without a notice period: even a window already running
    return next((p for p in parts if _lead_ok(p, ann, need, now)), None)


ACTIVE = (PlanStatus.PLANNED, PlanStatus.DUE_NOW)


def merge_cadences(plans: list[PlannedRun]) -> list[PlannedRun]:
    """A larger cadence planned into a smaller one's period, no later than the smaller's own window,
    covers it: its run repeats the smaller's steps, so the work runs once (and is announced once)."""
    active = [p for p in plans if p.status in ACTIVE and p.window is not None]
    out = []
    for p in plans:
        if p.status in (PlanStatus.DONE, PlanStatus.COVERED):
            out.append(p)
            continue
        by = min(
            (q for q in active if SIZE[q.cadence] > SIZE[p.cadence] and q.customer_id == p.customer_id
             and p.period.contains(q.window.start)  # type: ignore[union-attr]
             and (p.window is None or q.window.start <= p.window.start)),  # type: ignore[union-attr]
            key=lambda q: (q.window.start, -SIZE[q.cadence]),  # type: ignore[union-attr]
            default=None,
        )  # fmt: skip
        if by is not None:
            what = f"{by.cadence.value} {by.period.key}"
            p = replace(p, status=PlanStatus.COVERED, covered_by=what, window=by.window, announced_at=None,
                        notice_at=None, lead=None, late_notice=(), note=f"covered by {what} (same window)")  # fmt: skip
        out.append(p)
    return out


def _moved_note(moved: list[MovedBy]) -> str:
    def reasons(status: WindowStatus) -> str:
        return ", ".join(dict.fromkeys(r for m in moved if m.status is status for r in m.blackouts))

    notes = []
    if removed := reasons(WindowStatus.REMOVED):
        notes.append(f"moved by blackout {removed}")
    if cut := reasons(WindowStatus.CUT):
        notes.append(f"window cut by blackout {cut}")
    return "; ".join(notes)


def _catch_note(window: Interval, notice_at: datetime) -> str:
    hours = (window.start - notice_at).total_seconds() / 3600
    return f"catch-up: short notice ({hours:.1f} h)"


def _risk_note(period: Period, moved: list[MovedBy], late: tuple[Interval, ...]) -> str:
    why = []
    if moved:
        why.append(_moved_note(moved))
    if late:
        why.append(f"{len(late)} window(s) too close to give the advance notice")
    tail = f" ({'; '.join(why)})" if why else ""
    return f"no usable window left in {period.key}: will miss the period{tail}"
