"""The clock jumps forward and back under the tick: nothing runs twice, nothing is told twice, skipped work
is caught up once.

The tick's decisions are driven through the one clock seam (``opskeeper.clock.FixedClock``): at each
instant the tick's own steps run (plan from the ledger, send the notices that fell due, claim, run the due
maintenance for real on the example estate's local host, record missed periods), as flows/tick.py does.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from sqlalchemy import func, select

from flows.tick import _maintenance_seen, record_missed
from opskeeper import scheduling
from opskeeper.config.estate import Estate
from opskeeper.config.loader import load_estate
from opskeeper.config.runbook import load_runbooks
from opskeeper.ledger import Ledger
from opskeeper.ledger import runs as ledger_runs
from opskeeper.ledger.core import Dispatch, Run, RunStatus
from opskeeper.ledger.notify import Notification
from opskeeper.maintenance import Trigger, run_customer, threaded_runner
from tests.faults.estates import example_estate
from tests.faults.test_maintenance_faults import _steps
from tests.ticking import at, tick

TICK = scheduling.TICK_EVERY


def _utc(s: str) -> datetime:
    return datetime.fromisoformat(s).replace(tzinfo=UTC)


def _estate(tmp_path: Path, home: Path, catch_up: str | None = None) -> Estate:
    """volga as the example has it (Sundays 03:00-06:00 MSK, 72 h notice, catch-up short/24 h), monthly only."""
    path = example_estate(tmp_path, home, sleep_s=0)
    data = yaml.safe_load(path.read_text())
    tier = data["tiers"][data["customers"][0]["tier"]]
    tier["cadences"] = ["monthly"]
    if catch_up:
        tier["catch_up"] = {"policy": catch_up}
    path.write_text(yaml.safe_dump(data, allow_unicode=True))
    return load_estate(path)


class Scheduler:
    """The tick's steps at whatever time the clock says; runs are real (local host), advance notices go
    nowhere (on record only), a breach message to the estate's outbox."""

    def __init__(self, estate: Estate, ledger: Ledger) -> None:
        self.estate, self.ledger = estate, ledger
        self.runbooks = load_runbooks(estate.runbooks_dir)

    def tick(self, now: datetime) -> datetime:
        """One tick at ``now``; when the next tick can change anything (quiet stretches are skipped)."""
        ledger = at(self.ledger, now)
        plan = tick(self.estate, self.ledger, now)  # plan, then send the notices that fell due
        for r in plan.due:
            assert r.window is not None
            if scheduling.claim(ledger, "maintenance", r.customer_id, r.cadence.value,
                                r.window.start.isoformat(), work_seen=_maintenance_seen(ledger, r), now=now):  # fmt: skip
                run_customer(self.estate, self.runbooks, ledger, self.estate.customer(r.customer_id), r.cadence,
                             runner=threaded_runner(self.estate, self.runbooks, ledger), now=now,
                             trigger=Trigger("tick", "scheduler"))  # fmt: skip
        # The tick's own task (without Prefect): the breach recorded once, the customer told (idempotently).
        record_missed.fn(self.estate, [(c, cad.value, p, plan.reasons.get((c, cad, p), ""))
                                       for c, cad, p in plan.missed], now)  # fmt: skip
        wake = plan.wake_at if not plan.planned and not plan.due and plan.wake_at else now + TICK
        return now + max(TICK, -(-(wake - now) // TICK) * TICK)

    def run_through(self, start: datetime, end: datetime) -> None:
        """Ticks on the TICK_EVERY grid from ``start`` to ``end``, by the clock as it reads now."""
        now = start
        while now <= end:
            now = self.tick(now)


def _runs(ledger: Ledger) -> list[Run]:
    with ledger.session() as s:
        return list(s.scalars(select(Run).where(Run.kind == "maintenance").order_by(Run.id)))


def _counts(ledger: Ledger) -> tuple[int, int, int, int]:
    """(runs, dispatches, notifications, breaches) on record."""
    with ledger.session() as s:
        n = [s.scalar(select(func.count()).select_from(t)) or 0 for t in (Run, Dispatch, Notification)]
    return n[0], n[1], n[2], len(ledger_runs.breaches(ledger))


def _told(ledger: Ledger) -> list[tuple[str, str]]:
    """(event, window start) of every message on record, in order."""
    with ledger.session() as s:
        rows = s.execute(select(Notification.event, Notification.context).order_by(Notification.id)).all()
    return [(e, str((ctx.get("window_start") or {}).get("$dt", ""))[:16]) for e, ctx in rows]


def _at_tick(run: Run, at: str) -> bool:
    """Started by the tick at ``at`` (the run's clock runs on from the tick's time by real elapsed time)."""
    return _utc(at) <= run.started_at < _utc(at) + TICK


ANNOUNCED = ("maintenance_scheduled", "2027-03-21T00:00")  # 72 h ahead, on the 18th


@pytest.mark.parametrize(
    ("jump", "policy", "told", "ran"),
    [
        # Over the announced window: the next one can still get the full notice; it runs there, once.
        (timedelta(days=3), None, [("maintenance_scheduled", "2027-03-28T00:00")], True),
        # Further: 49 h before the last window, too late for 72 h. The tier's policy (short, 24 h) takes it.
        (timedelta(days=5), None, [("maintenance_scheduled", "2027-03-28T00:00")], True),
        # The same with policy full: the period is missed, recorded and told once; nothing runs at short notice.
        (timedelta(days=5), "full", [("sla_breached", "")], False),
    ],
)
def test_clock_jumps_forward_over_the_announced_window(
    tmp_path: Path, opskeeper_home: Path, jump: timedelta, policy: str | None,
    told: list[tuple[str, str]], ran: bool,
) -> None:  # fmt: skip
    estate = _estate(tmp_path, opskeeper_home, policy)
    ledger = Ledger.open()
    sched = Scheduler(estate, ledger)
    sched.tick(_utc("2027-02-28T20:00"))  # on record since February: March's work is owed in full
    before = _utc("2027-03-20T23:00")  # an hour before the announced window opens
    sched.run_through(_utc("2027-03-17T23:00"), before)
    assert _told(ledger) == [ANNOUNCED] and _counts(ledger) == (0, 0, 1, 0)
    sched.run_through(before + jump, _utc("2027-04-01T00:00"))  # the clock jumped: ticks resume later
    assert _told(ledger) == [ANNOUNCED, *told]
    runs = _runs(ledger)
    if ran:
        [run] = runs
        assert run.status == RunStatus.OK and run.period == "2027-03" and _at_tick(run, "2027-03-28T00:00")
        assert [s.step for s in _steps(ledger, run.id)] == ["first", "slow", "last"]
        assert ledger_runs.breaches(ledger) == []
    else:
        assert runs == []
        [breach] = ledger_runs.breaches(ledger)
        assert (breach.customer_id, breach.period) == (
            "volga",
            "2027-03",
        ) and "catch-up full" in breach.reason
    assert ledger.verify_audit()[1] == []


def test_clock_goes_back_after_a_run(tmp_path: Path, opskeeper_home: Path) -> None:
    """Two hours back just after the run: the window opens "again"; nothing runs or is told twice."""
    estate = _estate(tmp_path, opskeeper_home)
    ledger = Ledger.open()
    sched = Scheduler(estate, ledger)
    after = _utc("2027-03-21T01:00")
    sched.run_through(_utc("2027-03-17T23:00"), after)
    [run] = _runs(ledger)
    assert run.status == RunStatus.OK and _at_tick(run, "2027-03-21T00:00")
    done = _counts(ledger)
    assert done == (1, 1, 1, 0) and _told(ledger) == [ANNOUNCED]
    sched.run_through(after - timedelta(hours=2), _utc("2027-03-21T03:00"))  # back over the window's start
    assert _counts(ledger) == done and _told(ledger) == [ANNOUNCED]
    sched.run_through(_utc("2027-03-21T03:00"), _utc("2027-04-01T00:00"))  # and on past the period's end
    assert _counts(ledger) == done and [r.id for r in _runs(ledger)] == [run.id]
    assert ledger.verify_audit()[1] == []
