"""Due-driven scheduling: what the tick starts, once per announced window, and the periods it records as missed."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml

from opskeeper.config.loader import load_estate
from opskeeper.config.types import Cadence
from opskeeper.ledger import Ledger
from opskeeper.ledger import runs as ledger_runs
from opskeeper.ledger.core import Run, RunStatus
from opskeeper.maintenance import MaintenanceResult, Trigger, run_customer, threaded_runner
from opskeeper.scheduling import claim, plan_drills, plan_tick, record_missed
from tests.conftest import EXAMPLE_ESTATE
from tests.test_maintenance import COUNTED, Env, example_estate
from tests.ticking import at, record_run, tick, tick_through

# Sunday 2026-11-29 01:30 UTC = 04:30 MSK: inside volga's Sunday 03:00-06:00 window.
IN_VOLGA_WINDOW = datetime(2026, 11, 29, 1, 30, tzinfo=UTC)
VOLGA_WINDOW = datetime(2026, 11, 29, 0, 0, tzinfo=UTC)
FIRST = datetime(2026, 11, 20, tzinfo=UTC)  # the scheduler's first tick, well ahead of the notice


def _estate(tmp_path: Path):  # type: ignore[no-untyped-def]
    data = yaml.safe_load(EXAMPLE_ESTATE.read_text())
    data["runbooks_dir"] = str(EXAMPLE_ESTATE.parent.parent / "runbooks")
    path = tmp_path / "estate.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True))
    return load_estate(path)


def _due(plan) -> set[tuple[str, Cadence]]:  # type: ignore[no-untyped-def]
    return {(r.customer_id, r.cadence) for r in plan.due}


def test_window_without_a_timely_notice_is_not_used(tmp_path: Path) -> None:
    estate, ledger = _estate(tmp_path), Ledger.open()
    assert not plan_tick(estate, ledger, IN_VOLGA_WINDOW).due  # nobody was told 72 h ahead


def test_due_in_the_announced_window_and_not_again_after_an_attempt(tmp_path: Path) -> None:
    estate, ledger = _estate(tmp_path), Ledger.open()
    tick_through(estate, ledger, FIRST, VOLGA_WINDOW - timedelta(hours=71))  # the 72 h notice went out
    plan = tick(estate, ledger, IN_VOLGA_WINDOW)
    # The annual run repeats the quarterly and monthly steps: one run in the window, the others covered.
    assert ("volga", Cadence.ANNUAL) in _due(plan) and ("volga", Cadence.MONTHLY) not in _due(plan)
    covered = {r.cadence: r for r in plan.plans if r.customer_id == "volga" and r.status == "covered"}
    assert set(covered) == {Cadence.MONTHLY, Cadence.QUARTERLY}
    assert covered[Cadence.MONTHLY].note == "covered by annual 2026 (same window)"
    assert not any(c == "hanhai" for c, _ in _due(plan))  # hanhai's window is Saturday evening in Shanghai
    record_run(ledger, "volga", "annual", "2026", IN_VOLGA_WINDOW, RunStatus.FAILED)
    later = tick(estate, ledger, IN_VOLGA_WINDOW + timedelta(minutes=5))
    # A failed run is not retried in the same window; the next window needs its own notice first.
    assert not _due(later) & {("volga", c) for c in Cadence}
    annual = next(r for r in later.plans if (r.customer_id, r.cadence) == ("volga", Cadence.ANNUAL))
    assert annual.window is not None and annual.window.start > IN_VOLGA_WINDOW + timedelta(hours=72)


def test_done_in_period_is_not_due(tmp_path: Path) -> None:
    estate, ledger = _estate(tmp_path), Ledger.open()
    tick_through(estate, ledger, FIRST, VOLGA_WINDOW - timedelta(hours=71))
    record_run(ledger, "volga", "annual", "2026", datetime(2026, 11, 22, 1, tzinfo=UTC))
    plan = tick(estate, ledger, IN_VOLGA_WINDOW)
    # Done by the annual run of 22 November: the monthly and quarterly of its periods are covered.
    assert not _due(plan) & {("volga", c) for c in Cadence}
    assert {(c, k.value, p) for c, k, p, _ in plan.covered} >= {("volga", "monthly", "2026-11"),
                                                                ("volga", "quarterly", "2026-Q4")}  # fmt: skip


def test_claim_makes_a_second_dispatch_a_no_op() -> None:
    ledger = Ledger.open()
    now = datetime(2026, 11, 29, tzinfo=UTC)
    assert claim(ledger, "maintenance", "volga", "monthly", "2026-11-29T00:00:00+00:00", now=now)
    assert not claim(ledger, "maintenance", "volga", "monthly", "2026-11-29T00:00:00+00:00", now=now)
    assert claim(ledger, "maintenance", "volga", "monthly", "2026-12-06T00:00:00+00:00", now=now)


def test_missed_period_is_a_breach_once_but_not_before_the_scheduler_existed(tmp_path: Path) -> None:
    estate, ledger = _estate(tmp_path), Ledger.open()
    # The first tick ever, on 30 October: October began before the scheduler existed, so it is nobody's breach.
    first = plan_tick(estate, at(ledger, datetime(2026, 10, 30, tzinfo=UTC)), datetime(2026, 10, 30, tzinfo=UTC))
    assert not first.missed
    december = plan_tick(estate, ledger, datetime(2026, 12, 2, 12, tzinfo=UTC))
    missed = {(c, cad, p) for c, cad, p in december.missed}
    assert ("volga", Cadence.MONTHLY, "2026-11") in missed
    reason = december.reasons[("volga", Cadence.MONTHLY, "2026-11")]
    assert "could be announced in time" in reason  # nobody was ever told: no window was usable
    assert record_missed(ledger, "volga", Cadence.MONTHLY, "2026-11", reason)
    assert not record_missed(ledger, "volga", Cadence.MONTHLY, "2026-11")  # recorded once
    assert [b.period for b in ledger_runs.breaches(ledger, "volga")] == ["2026-11"]


def test_abandoned_run_is_reaped_and_its_window_is_free_again(tmp_path: Path) -> None:
    estate, ledger = _estate(tmp_path), Ledger.open()
    tick_through(estate, ledger, FIRST, VOLGA_WINDOW - timedelta(hours=71))
    stamped = at(ledger, IN_VOLGA_WINDOW - timedelta(minutes=20))
    run_id = ledger_runs.start_run(stamped, ledger_runs.NewRun("maintenance", "volga", "annual", period="2026"))
    with ledger.session() as s:  # the process that ran it is gone (kill -9)
        s.get(Run, run_id).owner = "elsewhere-or-dead:999999999"  # type: ignore[union-attr]
    assert ("volga", Cadence.ANNUAL) not in _due(plan_tick(estate, ledger, IN_VOLGA_WINDOW))  # still running
    assert ledger_runs.reap_abandoned(ledger, IN_VOLGA_WINDOW) == [run_id]  # silent for 20 minutes
    assert ledger_runs.get_run(ledger, run_id).status == RunStatus.ABANDONED  # type: ignore[union-attr]
    assert ("volga", Cadence.ANNUAL) in _due(plan_tick(estate, ledger, IN_VOLGA_WINDOW))


def test_overdue_drill_is_announced_ahead_then_started_in_the_window(tmp_path: Path) -> None:
    estate, ledger = _estate(tmp_path), Ledger.open()
    next_week = VOLGA_WINDOW + timedelta(days=7)  # Sunday 6 December 03:00 MSK
    day_before = VOLGA_WINDOW - timedelta(hours=24)
    plans = {(p.customer_id, p.scenario): p for p in plan_drills(estate, ledger, day_before, silent=set())}
    volga = plans[("volga", "data-corruption")]  # never passed: overdue
    # The window 24 h ahead cannot get the 72 h notice: the drill goes in the next week's window.
    assert volga.window.start == next_week and not volga.announce and not volga.start
    told = next_week - timedelta(hours=72, minutes=5)
    [p] = [p for p in plan_drills(estate, ledger, told, silent=set()) if p.customer_id == "volga"]
    assert p.window.start == next_week and p.announce
    assert claim(ledger, "drill-notice", "volga", "data-corruption", next_week.isoformat(), now=told)
    inside = {
        (p.customer_id, p.scenario): p
        for p in plan_drills(estate, ledger, next_week + timedelta(hours=1), silent=set())
    }
    assert inside[("volga", "data-corruption")].start and not inside[("volga", "data-corruption")].announce


def test_a_drill_told_too_late_does_not_start(tmp_path: Path) -> None:
    estate, ledger = _estate(tmp_path), Ledger.open()
    assert claim(ledger, "drill-notice", "volga", "data-corruption", VOLGA_WINDOW.isoformat(),
                 now=VOLGA_WINDOW - timedelta(hours=24))  # fmt: skip
    plan = {
        (p.customer_id, p.scenario): p for p in plan_drills(estate, ledger, IN_VOLGA_WINDOW, silent=set())
    }
    assert not plan[("volga", "data-corruption")].start  # told only 24 h ahead: not this window
    silent = {
        (p.customer_id, p.scenario): p
        for p in plan_drills(estate, ledger, IN_VOLGA_WINDOW, {"data-corruption"})
    }
    assert silent[("volga", "data-corruption")].start  # a silent drill needs no notice


def test_the_ticks_catch_up_resumes_the_failed_run(tmp_path: Path, opskeeper_home: Path) -> None:
    """A host fails in the first window; the tick's catch-up in the next window of the month does only the rest."""
    count, broken = tmp_path / "count", tmp_path / "broken"
    path = example_estate(tmp_path, opskeeper_home, COUNTED % {"count": count, "broken": broken}, second_volga_host=True)
    data = yaml.safe_load(path.read_text())
    data["customers"] = [c for c in data["customers"] if c["id"] == "volga"]
    data["tiers"][data["customers"][0]["tier"]]["cadences"] = ["monthly"]
    path.write_text(yaml.safe_dump(data, allow_unicode=True))
    env = Env(path)
    estate, ledger = env.estate, env.ledger
    first_window, next_window = VOLGA_WINDOW - timedelta(days=7), VOLGA_WINDOW  # Sundays 22 and 29 November

    def tick_and_run(now: datetime) -> MaintenanceResult:
        tick_through(estate, ledger, now - timedelta(days=10), now - timedelta(minutes=5))  # the notices went out
        plan = tick(estate, ledger, now)
        assert ("volga", Cadence.MONTHLY) in _due(plan)
        # What flows/tick.py starts: the maintenance flow with the tick's trigger and no --again.
        return run_customer(estate, env.runbooks, ledger, estate.customer("volga"), Cadence.MONTHLY,
                            runner=threaded_runner(estate, env.runbooks, ledger), now=now,
                            trigger=Trigger("tick", "scheduler"))  # fmt: skip

    (tmp_path / "broken-volga-tms-2").touch()
    failed = tick_and_run(first_window + timedelta(hours=1))
    assert failed.status is RunStatus.PARTIAL
    (tmp_path / "broken-volga-tms-2").unlink()
    caught_up = tick_and_run(next_window + timedelta(hours=1))
    assert caught_up.status is RunStatus.OK and caught_up.resumed_from == [failed.run_id]
    assert Counter(count.read_text().splitlines()) == Counter(
        {f"volga-tms-{h} {s}": 1 for h in (1, 2) for s in ("one", "two", "three")})  # fmt: skip
    assert not _due(tick(estate, ledger, next_window + timedelta(hours=1, minutes=5)))  # done for November
