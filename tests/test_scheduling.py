"""Due-driven scheduling: what the tick starts, once per window, and the periods it records as missed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml

from opskeeper.config.loader import load_estate
from opskeeper.config.types import Cadence
from opskeeper.ledger import Ledger
from opskeeper.ledger import runs as ledger_runs
from opskeeper.ledger.core import Run, RunStatus
from opskeeper.scheduling import claim, plan_drills, plan_tick, record_missed
from tests.conftest import EXAMPLE_ESTATE

# Sunday 2026-11-29 01:30 UTC = 04:30 MSK: inside volga's Sunday 03:00-06:00 window.
IN_VOLGA_WINDOW = datetime(2026, 11, 29, 1, 30, tzinfo=UTC)


def announced(_customer: str, _cadence: Cadence, _period: str) -> bool:
    """The tick sent the 72 h notice in time (windows without one are not used: see the calendar)."""
    return True


def _estate(tmp_path: Path):  # type: ignore[no-untyped-def]
    data = yaml.safe_load(EXAMPLE_ESTATE.read_text())
    data["runbooks_dir"] = str(EXAMPLE_ESTATE.parent.parent / "runbooks")
    path = tmp_path / "estate.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True))
    return load_estate(path)


def test_window_without_a_timely_notice_is_not_used(tmp_path: Path) -> None:
    estate, ledger = _estate(tmp_path), Ledger.open()
    assert not plan_tick(estate, ledger, IN_VOLGA_WINDOW).due  # nobody was told 72 h ahead


def test_due_in_the_window_and_not_again_after_an_attempt(tmp_path: Path) -> None:
    estate, ledger = _estate(tmp_path), Ledger.open()
    plan = plan_tick(estate, ledger, IN_VOLGA_WINDOW, announced)
    due = {(r.customer_id, r.cadence) for r in plan.due}
    assert ("volga", Cadence.MONTHLY) in due
    assert not any(c == "hanhai" for c, _ in due)  # hanhai's window is Saturday evening in Shanghai
    run_id = ledger_runs.start_run(
        ledger, ledger_runs.NewRun("maintenance", "volga", "monthly", period="2026-11")
    )
    ledger_runs.finish_run(ledger, run_id, RunStatus.FAILED, "disk full")
    with ledger.session() as s:  # it ran in this window
        s.get(Run, run_id).started_at = IN_VOLGA_WINDOW  # type: ignore[union-attr]
    later = plan_tick(estate, ledger, IN_VOLGA_WINDOW + timedelta(minutes=5), announced)
    # A failed run is not retried in the same window: the next window of the period gets it.
    assert ("volga", Cadence.MONTHLY) not in {(r.customer_id, r.cadence) for r in later.due}


def test_done_in_period_is_not_due(tmp_path: Path) -> None:
    estate, ledger = _estate(tmp_path), Ledger.open()
    run_id = ledger_runs.start_run(
        ledger, ledger_runs.NewRun("maintenance", "volga", "monthly", period="2026-11")
    )
    ledger_runs.finish_run(ledger, run_id, RunStatus.OK)
    plan = plan_tick(estate, ledger, IN_VOLGA_WINDOW, announced)
    assert ("volga", Cadence.MONTHLY) not in {(r.customer_id, r.cadence) for r in plan.due}


def test_claim_makes_a_second_dispatch_a_no_op() -> None:
    ledger = Ledger.open()
    assert claim(ledger, "maintenance", "volga", "monthly", "2026-11-29T00:00:00+00:00")
    assert not claim(ledger, "maintenance", "volga", "monthly", "2026-11-29T00:00:00+00:00")
    assert claim(ledger, "maintenance", "volga", "monthly", "2026-12-06T00:00:00+00:00")


def test_missed_period_is_a_breach_once_but_not_before_the_scheduler_existed(tmp_path: Path) -> None:
    estate, ledger = _estate(tmp_path), Ledger.open()
    # The first tick ever, on 30 October: October began before the scheduler existed, so it is nobody's breach.
    first = plan_tick(estate, ledger, datetime(2026, 10, 30, tzinfo=UTC))
    assert not first.missed
    december = plan_tick(estate, ledger, datetime(2026, 12, 2, 12, tzinfo=UTC))
    missed = {(c, cad, p) for c, cad, p in december.missed}
    assert ("volga", Cadence.MONTHLY, "2026-11") in missed
    assert record_missed(ledger, "volga", Cadence.MONTHLY, "2026-11")
    assert not record_missed(ledger, "volga", Cadence.MONTHLY, "2026-11")  # recorded once
    assert [b.period for b in ledger_runs.breaches(ledger, "volga")] == ["2026-11"]


def test_abandoned_run_is_reaped_and_due_again(tmp_path: Path) -> None:
    estate, ledger = _estate(tmp_path), Ledger.open()
    run_id = ledger_runs.start_run(
        ledger, ledger_runs.NewRun("maintenance", "volga", "monthly", period="2026-11")
    )
    with ledger.session() as s:  # the process that ran it is gone (kill -9)
        s.get(Run, run_id).owner = "elsewhere-or-dead:999999999"  # type: ignore[union-attr]
    # Silent for more than two hours: abandoned, and its window's work is due again.
    reaped = ledger_runs.reap_abandoned(ledger, datetime.now(UTC) + timedelta(hours=3))
    assert reaped == [run_id]
    assert ledger_runs.get_run(ledger, run_id).status == RunStatus.ABANDONED  # type: ignore[union-attr]
    plan = plan_tick(estate, ledger, IN_VOLGA_WINDOW, announced)
    assert ("volga", Cadence.MONTHLY) in {(r.customer_id, r.cadence) for r in plan.due}


def test_overdue_drill_is_announced_ahead_then_started_in_the_window(tmp_path: Path) -> None:
    estate, ledger = _estate(tmp_path), Ledger.open()
    window_start = datetime(2026, 11, 29, 0, 0, tzinfo=UTC)  # Sunday 03:00 MSK
    day_before = window_start - timedelta(hours=24)  # inside the 72 h notice period
    plans = {(p.customer_id, p.scenario): p for p in plan_drills(estate, ledger, day_before, silent=set())}
    volga = plans[("volga", "data-corruption")]  # never passed: overdue
    assert volga.window.start == window_start and volga.announce and not volga.start
    assert claim(ledger, "drill-notice", "volga", "data-corruption", window_start.isoformat())
    inside = {
        (p.customer_id, p.scenario): p for p in plan_drills(estate, ledger, IN_VOLGA_WINDOW, silent=set())
    }
    assert inside[("volga", "data-corruption")].start and not inside[("volga", "data-corruption")].announce


def test_unannounced_drill_waits_for_a_window_it_can_announce(tmp_path: Path) -> None:
    estate, ledger = _estate(tmp_path), Ledger.open()
    plan = {
        (p.customer_id, p.scenario): p for p in plan_drills(estate, ledger, IN_VOLGA_WINDOW, silent=set())
    }
    assert not plan[("volga", "data-corruption")].start  # nobody was told: not this window
    silent = {
        (p.customer_id, p.scenario): p
        for p in plan_drills(estate, ledger, IN_VOLGA_WINDOW, {"data-corruption"})
    }
    assert silent[("volga", "data-corruption")].start  # a silent drill needs no notice
