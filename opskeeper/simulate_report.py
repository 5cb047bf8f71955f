"""What a simulation did, read back from its ledger: per customer and cadence, and the drills."""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta

from opskeeper.calendar import blackout_at, next_period, period_of, window_open_at
from opskeeper.config.estate import Customer, Estate
from opskeeper.config.types import Cadence
from opskeeper.ledger import Ledger
from opskeeper.ledger.core import RunStatus
from opskeeper.ledger.planning import COVERED_PREFIX, History, RunRow, load_history
from opskeeper.ledger.simulation import MissedPeriod, simulation_records
from opskeeper.planner import announcements

NO_WINDOW = "no open maintenance window"


@dataclass
class CadenceReport:
    cadence: str
    periods: int = 0
    runs: int = 0  # attempts that reached the hosts (ok or failed)
    ok: int = 0
    failed: int = 0
    covered: int = 0  # periods done by a larger cadence's run
    missed: int = 0
    missed_with_open_window: int = 0  # missed although a window was open in the period
    duplicates: int = 0  # a second successful run (or a run after being covered) in one period
    in_blackout: int = 0
    outside_window: int = 0
    catch_up_notices: int = 0  # notices shorter than the tier's notice period (catch-up policy)
    shortest_lead_h: float | None = None
    median_lead_h: float | None = None
    breaches: list[dict[str, str]] = field(default_factory=list)


@dataclass
class DrillReport:
    scenario: str
    drills: int = 0
    notices: int = 0
    shortest_lead_h: float | None = None


@dataclass
class CustomerReport:
    customer: str
    tier: str
    notice_h: float
    cadences: list[CadenceReport]
    drills: list[DrillReport]


def report(
    estate: Estate, ledger: Ledger, start: datetime, end: datetime, customers: list[Customer]
) -> list[CustomerReport]:
    history = load_history(ledger, start - timedelta(days=1))
    recs = simulation_records(ledger)
    breaches, drills, claims = recs.breaches, recs.drills, recs.claims
    out = []
    for c in customers:
        tier = estate.tier_of(c)
        cads = [
            _cadence(c, cad, history, breaches, start, end, tier.maintenance_notice) for cad in tier.cadences
        ]
        out.append(
            CustomerReport(
                c.id, c.tier, _hours(tier.maintenance_notice), cads, _drills(c, history, drills, claims)
            )
        )
    return out


def _cadence(
    c: Customer, cadence: Cadence, history: History, breaches: list[MissedPeriod], start: datetime, end: datetime,
    notice: timedelta,
) -> CadenceReport:  # fmt: skip
    r = CadenceReport(cadence.value, periods=_count_periods(cadence, c.timezone, start, end))
    runs = [x for x in history.runs if (x.customer_id, x.cadence) == (c.id, cadence.value)]
    ok_periods: dict[str, int] = {}
    covered = {
        x.period for x in runs if x.status == RunStatus.SKIPPED and x.reason.startswith(COVERED_PREFIX)
    }
    r.covered = len(covered)
    for x in runs:
        if x.status in (RunStatus.OK, RunStatus.FAILED, RunStatus.PARTIAL):
            r.runs += 1
            r.ok += x.status == RunStatus.OK
            r.failed += x.status != RunStatus.OK
            if x.status == RunStatus.OK:
                ok_periods[x.period] = ok_periods.get(x.period, 0) + 1
            r.in_blackout += blackout_at(c.blackouts, c.timezone, x.started_at) is not None
            r.outside_window += window_open_at(c, x.started_at) is None
        elif x.status == RunStatus.SKIPPED_BLACKOUT:
            r.in_blackout += 1  # the planner sent it into a blackout; the gate stopped it
        elif x.status == RunStatus.SKIPPED_WINDOW:
            r.outside_window += 1
    r.duplicates = sum(n - 1 for n in ok_periods.values()) + len(covered & set(ok_periods))
    leads = _leads(c, cadence, runs, history)
    r.catch_up_notices = sum(lead < notice for lead in leads)
    if leads:
        r.shortest_lead_h = _hours(min(leads))
        r.median_lead_h = round(statistics.median(x.total_seconds() for x in leads) / 3600, 2)
    for b in breaches:
        if (b.customer_id, b.subject) == (c.id, cadence.value):
            r.missed += 1
            r.missed_with_open_window += NO_WINDOW not in b.reason
            r.breaches.append({"period": b.period, "reason": b.reason})
    return r


def _leads(c: Customer, cadence: Cadence, runs: list[RunRow], history: History) -> list[timedelta]:
    """For each attempt: how long before its window the customer was first told of that window."""
    told: dict[tuple[str, datetime], datetime] = {}
    for n in history.notices:
        if n.customer_id == c.id and n.topic.startswith(f"maintenance:{cadence.value}:"):
            told.setdefault((n.topic, n.window_start), n.sent_at)
    ends = {(k[2], a.start): a.end for k, a in announcements(history.notices).items() if k[0] == c.id}
    leads = []
    for x in runs:
        if x.status not in (RunStatus.OK, RunStatus.FAILED, RunStatus.PARTIAL):
            continue
        topic = f"maintenance:{cadence.value}:{x.period}"
        starts = [w for (t, w) in told if t == topic and w <= x.started_at]
        if starts:
            w = max(starts)
            if x.started_at < ends.get((x.period, w), x.started_at + timedelta(seconds=1)):
                leads.append(w - told[(topic, w)])
    return leads


def _drills(c: Customer, history: History, drills: list, claims: list) -> list[DrillReport]:  # type: ignore[type-arg]
    out = []
    for scenario in dict.fromkeys(d for s in c.systems for d in s.drills):
        d = DrillReport(scenario)
        d.drills = sum(1 for cid, sc, _ in drills if (cid, sc) == (c.id, scenario))
        told = {slot: at for cid, sc, slot, at in history.drill_notices if (cid, sc) == (c.id, scenario)}
        d.notices = len(told)
        ran = {slot for cid, sc, slot, kind in claims if kind == "drill" and (cid, sc) == (c.id, scenario)}
        leads = [datetime.fromisoformat(slot) - told[slot] for slot in ran if slot in told]
        d.shortest_lead_h = _hours(min(leads)) if leads else None
        out.append(d)
    return out


def _count_periods(cadence: Cadence, tz: str, start: datetime, end: datetime) -> int:
    n, period = 0, period_of(cadence, start, tz)
    while period.start < end:
        n, period = n + 1, next_period(cadence, period, tz)
    return n


def _hours(td: timedelta) -> float:
    return round(td.total_seconds() / 3600, 2)


def as_json(reports: list[CustomerReport]) -> list[dict[str, object]]:
    return [asdict(r) for r in reports]
