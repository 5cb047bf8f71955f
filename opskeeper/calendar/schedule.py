"""Due-driven planning: for each customer and cadence, where in its period the work will run.

The core stays ledger-free: "already done" and "notice already sent" are callables the caller
wires to the ledger (CLI, tick flow). See "Scheduling" in ARCHITECTURE.md.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum

from opskeeper.calendar.intervals import Interval, utc
from opskeeper.calendar.periods import Period, next_period, period_of
from opskeeper.calendar.windows import WindowOccurrence, WindowStatus, blackout_intervals, window_status
from opskeeper.config.estate import Customer, Estate
from opskeeper.config.types import Cadence

DoneFn = Callable[[str, Cadence, str], bool]  # (customer_id, cadence, period_key) -> done?
AnnouncedFn = Callable[[str, Cadence, str], bool]  # same key -> advance notice already sent?


def never(_customer_id: str, _cadence: Cadence, _period_key: str) -> bool:
    return False


class PlanStatus(StrEnum):
    DONE = "done"  # done successfully in this period
    PLANNED = "planned"  # an open, announceable window remains in the period
    DUE_NOW = "due-now"  # the planned window is open now
    AT_RISK = "at-risk"  # no usable window remains: the period will be missed


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
    notice_at: datetime | None = None  # window start - the tier's maintenance notice
    moved_by: tuple[MovedBy, ...] = ()
    late_notice: tuple[Interval, ...] = ()  # open windows skipped: too close to announce in time
    note: str = ""


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


@dataclass
class Schedule:
    """Plans runs for an estate.

    A window is usable when its advance notice can still go out on time
    (``notice_at >= now - notice_grace``) or the notice for the period was already sent.
    The tick passes a grace of about its own interval so a notice that fell due since the last
    tick is sent rather than pushing the run to the next window.
    """

    estate: Estate
    done: DoneFn = never
    announced: AnnouncedFn = never
    notice_grace: timedelta = field(default_factory=timedelta)

    def plan(self, customer: Customer, cadence: Cadence, period: Period, now: datetime) -> PlannedRun:
        now = utc(now)
        base = PlannedRun(customer.id, cadence, period, PlanStatus.AT_RISK)
        if self.done(customer.id, cadence, period.key):
            return _with(base, status=PlanStatus.DONE, note=f"done in {period.key}")
        if now >= period.end:
            return _with(base, note=f"period {period.key} is over and the work was not done")
        notice = self.estate.tier_of(customer).maintenance_notice
        announced = self.announced(customer.id, cadence, period.key)
        since = max(now, period.start)
        occurrences = [o for o in window_status(customer, since, period.end) if o.window.start < period.end]
        moved: list[MovedBy] = []
        late: list[Interval] = []
        for occ in occurrences:
            if occ.status is not WindowStatus.OPEN:
                moved.append(MovedBy(occ.window, occ.status, tuple(occ.blocked_reasons)))
            for part in occ.open:
                if part.end <= since or part.start >= period.end:
                    continue
                if part.start < period.start:
                    # A window running over the period boundary: a run started before it would be
                    # recorded in the previous period, so only its part inside this period counts.
                    part = replace(part, start=period.start)
                notice_at = part.start - notice
                # A tier without a notice period (0) may use any open window, even one already running.
                if notice and not announced and notice_at < now - self.notice_grace:
                    late.append(part)
                    continue
                status = PlanStatus.DUE_NOW if part.start <= now else PlanStatus.PLANNED
                return _with(
                    base,
                    status=status,
                    window=part,
                    notice_at=notice_at,
                    moved_by=tuple(moved),
                    late_notice=tuple(late),
                    note=_moved_note(moved),
                )
        return _with(
            base, moved_by=tuple(moved), late_notice=tuple(late), note=_risk_note(period, moved, late)
        )

    def runs(self, customer: Customer, now: datetime, until: datetime) -> list[PlannedRun]:
        """Plans for every cadence of the customer's tier, for each period from now's to until's."""
        tz = customer.timezone
        out = []
        for cadence in self.estate.tier_of(customer).cadences:
            period = period_of(cadence, now, tz)
            while True:
                out.append(self.plan(customer, cadence, period, now))
                period = next_period(cadence, period, tz)
                if period.start >= until:
                    break
        return out

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
        """Work whose window is open now and not yet done in its period (what the tick starts)."""
        return [
            run
            for c in self.estate.customers
            for cadence in self.estate.tier_of(c).cadences
            if (run := self.plan(c, cadence, period_of(cadence, at, c.timezone), at)).status
            is PlanStatus.DUE_NOW
        ]

    def notices_due(self, at: datetime) -> list[PlannedRun]:
        """Planned runs whose advance notice time has come and whose notice was not sent yet."""
        out = []
        for c in self.estate.customers:
            for cadence in self.estate.tier_of(c).cadences:
                period = period_of(cadence, at, c.timezone)
                if self.announced(c.id, cadence, period.key):
                    continue
                run = self.plan(c, cadence, period, at)
                if run.notice_at is not None and run.notice_at <= utc(at):
                    out.append(run)
        return out


def _with(run: PlannedRun, **changes: object) -> PlannedRun:
    return replace(run, **changes)  # type: ignore[arg-type]


def _moved_note(moved: list[MovedBy]) -> str:
    def reasons(status: WindowStatus) -> str:
        return ", ".join(dict.fromkeys(r for m in moved if m.status is status for r in m.blackouts))

    notes = []
    if removed := reasons(WindowStatus.REMOVED):
        notes.append(f"moved by blackout {removed}")
    if cut := reasons(WindowStatus.CUT):
        notes.append(f"window cut by blackout {cut}")
    return "; ".join(notes)


def _risk_note(period: Period, moved: list[MovedBy], late: list[Interval]) -> str:
    why = []
    if moved:
        why.append(_moved_note(moved))
    if late:
        why.append(f"{len(late)} window(s) too close to give the advance notice")
    tail = f" ({'; '.join(why)})" if why else ""
    return f"no usable window left in {period.key}: will miss the period{tail}"
