"""Due-driven planning on the example estate: moved and cut windows, notices, at-risk periods."""

from __future__ import annotations

from datetime import timedelta

import pytest

from opskeeper.calendar import PlanStatus, Schedule, WindowStatus, period_of
from opskeeper.calendar.schedule import Announced, PlanState
from opskeeper.config.catch_up import CatchUp, CatchUpPolicy
from opskeeper.config.estate import Estate
from opskeeper.config.loader import load_estate
from opskeeper.config.types import Cadence
from opskeeper.paths import EXAMPLE_ESTATE
from tests.calendar.helpers import blackout, utc, wall

MSK = "Europe/Moscow"
SH = "Asia/Shanghai"


@pytest.fixture(scope="module")
def estate() -> Estate:
    return load_estate(EXAMPLE_ESTATE)


def plan(schedule: Schedule, customer_id: str, cadence: Cadence, now: str):
    c = schedule.estate.customer(customer_id)
    at = utc(now)
    return schedule.plan(c, cadence, period_of(cadence, at, c.timezone), at)


def test_new_year_and_quarterly_blackouts_move_the_january_run(estate):
    run = plan(Schedule(estate), "volga", Cadence.MONTHLY, "2027-01-01T00:00Z")
    assert run.period.key == "2027-01"
    assert run.status is PlanStatus.PLANNED
    assert wall(run.window.start, MSK) == "2027-01-17 03:00 MSK"
    assert wall(run.notice_at, MSK) == "2027-01-14 03:00 MSK"  # 72 h ahead
    assert [(wall(m.window.start, MSK), m.status, m.blackouts) for m in run.moved_by] == [
        (
            "2027-01-03 03:00 MSK",
            WindowStatus.REMOVED,
            ("Новогодние каникулы (New Year holidays)", "Квартальная отчётность (quarterly reporting)"),
        ),
        ("2027-01-10 03:00 MSK", WindowStatus.REMOVED, ("Квартальная отчётность (quarterly reporting)",)),
    ]
    assert run.note.startswith("moved by blackout Новогодние каникулы")


def test_month_end_cuts_the_window_and_the_run_uses_what_is_left(estate):
    run = plan(Schedule(estate), "hanhai", Cadence.MONTHLY, "2026-11-23T14:00Z")
    assert run.status is PlanStatus.PLANNED
    assert (wall(run.window.start, SH), wall(run.window.end, SH)) == (
        "2026-11-28 22:00 CST",
        "2026-11-29 00:00 CST",
    )
    assert run.moved_by[0].status is WindowStatus.CUT
    assert "window cut by blackout 月末结账" in run.note


def test_done_period_needs_nothing(estate):
    s = Schedule(estate, PlanState(done=frozenset({("volga", "monthly", "2026-11")})))
    assert plan(s, "volga", Cadence.MONTHLY, "2026-11-23T00:00Z").status is PlanStatus.DONE
    assert plan(s, "volga", Cadence.QUARTERLY, "2026-11-23T00:00Z").status is PlanStatus.PLANNED


def test_last_window_too_close_to_announce_puts_the_period_at_risk(estate):
    # Jan 31 03:00 MSK is the last January window; its 72 h notice was due Jan 28 03:00 MSK.
    s = with_policy(estate, CatchUp())  # full notice only
    run = plan(s, "volga", Cadence.MONTHLY, "2027-01-28T12:00Z")
    assert run.status is PlanStatus.AT_RISK
    assert run.window is None and len(run.late_notice) == 1
    assert "will miss the period" in run.note and "advance notice" in run.note
    # If that very window was announced 72 h ahead, it is usable.
    window = run.late_notice[0]
    told = {
        ("volga", "monthly", "2027-01"): Announced(
            window.start, window.end, window.start - timedelta(hours=72)
        )
    }
    announced = with_policy(estate, CatchUp(), PlanState(announced=told))
    assert plan(announced, "volga", Cadence.MONTHLY, "2027-01-28T12:00Z").status is PlanStatus.PLANNED
    # Announced too late (48 h ahead), or another window announced: not usable.
    late = {
        ("volga", "monthly", "2027-01"): Announced(
            window.start, window.end, window.start - timedelta(hours=48)
        )
    }
    assert plan(with_policy(estate, CatchUp(), PlanState(announced=late)), "volga", Cadence.MONTHLY,
                "2027-01-28T12:00Z").status is PlanStatus.AT_RISK  # fmt: skip


def with_policy(estate: Estate, policy: CatchUp, state: PlanState | None = None) -> Schedule:
    tier = estate.tiers["advanced"].model_copy(update={"catch_up": policy})
    return Schedule(
        estate.model_copy(update={"tiers": {**estate.tiers, "advanced": tier}}), state or PlanState()
    )


def test_catch_up_policy_decides_a_window_too_close_for_the_full_notice(estate):
    at = "2027-01-28T12:00Z"  # the last January window (Sun 31 03:00 MSK) is 60 h away
    assert plan(with_policy(estate, CatchUp()), "volga", Cadence.MONTHLY, at).status is PlanStatus.AT_RISK
    short = plan(with_policy(estate, CatchUp(policy=CatchUpPolicy.SHORT, min_lead=timedelta(hours=4))),
                 "volga", Cadence.MONTHLY, at)  # fmt: skip
    assert short.status is PlanStatus.PLANNED and short.catch_up
    assert short.notice_at == utc(at) and short.lead == timedelta(hours=60)
    assert "catch-up: short notice (60.0 h)" in short.note
    too_short = CatchUp(policy=CatchUpPolicy.SHORT, min_lead=timedelta(hours=70))
    assert plan(with_policy(estate, too_short), "volga", Cadence.MONTHLY, at).status is PlanStatus.AT_RISK
    none = plan(
        with_policy(estate, CatchUp(policy=CatchUpPolicy.NONE)), "volga", Cadence.MONTHLY, "2027-01-30T23:50Z"
    )
    assert none.status is PlanStatus.PLANNED and none.lead == timedelta(minutes=10)


def test_catch_up_policy_is_validated():
    with pytest.raises(ValueError, match="needs a positive 'min_lead'"):
        CatchUp(policy=CatchUpPolicy.SHORT)
    with pytest.raises(ValueError, match="only goes with policy 'short'"):
        CatchUp(policy=CatchUpPolicy.NONE, min_lead=timedelta(hours=1))


def test_blackout_covering_the_rest_of_the_period_puts_it_at_risk(estate):
    volga = estate.customer("volga")
    freeze = blackout(reason="audit freeze", start="2026-11-24", end="2026-11-30")
    changed = volga.model_copy(update={"blackouts": [*volga.blackouts, freeze]})
    s = with_policy(estate.model_copy(update={"customers": [estate.customer("hanhai"), changed]}), CatchUp())
    run = plan(s, "volga", Cadence.MONTHLY, "2026-11-20T00:00Z")  # Sun 22nd is 48 h away: too close
    assert run.status is PlanStatus.AT_RISK
    assert [m.blackouts for m in run.moved_by] == [("audit freeze",)]
    assert "moved by blackout audit freeze" in run.note


def test_due_now_inside_an_announced_open_window_with_cadences_merged(estate):
    start, end = utc("2026-11-29T00:00Z"), utc("2026-11-29T03:00Z")  # Sun 03:00-06:00 MSK
    told = {("volga", c, p): Announced(start, end, start - timedelta(hours=73))
            for c, p in (("monthly", "2026-11"), ("quarterly", "2026-Q4"), ("annual", "2026"))}  # fmt: skip
    s = Schedule(estate, PlanState(announced=told))
    due = s.due_now(utc("2026-11-29T01:00Z"))  # Sun 04:00 MSK, in volga's window
    # The annual run repeats the quarterly and monthly steps: it alone runs, the others are covered.
    assert {(r.customer_id, r.cadence) for r in due} == {("volga", Cadence.ANNUAL)}
    covered = [
        r for r in s.plans(estate.customer("volga"), utc("2026-11-29T01:00Z")) if r.status == "covered"
    ]
    assert {r.note for r in covered} == {"covered by annual 2026 (same window)"}
    assert s.due_now(utc("2026-11-29T04:00Z")) == []


def _notices_due(s: Schedule, at, ahead):  # as the tick asks (scheduling.plan_tick): each plan's own decision
    return [r for c in s.estate.customers for r in s.plans(c, at) if r.notice_due(at, ahead)]


def test_notices_fall_due_a_little_before_72h_so_the_lead_is_never_short(estate):
    s = Schedule(estate)
    ahead = timedelta(minutes=10)
    due = _notices_due(s, utc("2026-11-25T23:50Z"), ahead)  # volga window Sun 29 00:00Z minus 72 h 10 min
    # One notice: the annual run that covers the quarterly and monthly work of the window.
    assert {(r.customer_id, r.cadence) for r in due} == {("volga", Cadence.ANNUAL)}
    assert _notices_due(s, utc("2026-11-25T23:45Z"), ahead) == []
    # Past the notice time without a notice: that window is lost, the next one is planned.
    [late] = [r for r in s.plans(estate.customer("volga"), utc("2026-11-26T00:05Z")) if r.cadence == "annual"]
    assert late.window.start == utc("2026-12-06T00:00Z")


def test_customer_schedule_lists_windows_blackouts_and_runs_per_period(estate):
    cs = Schedule(estate).customer(estate.customer("hanhai"), utc("2026-11-23T14:00Z"), 60)
    assert len(cs.windows) == 8
    assert [wall(b.start, SH) for b in cs.blackouts] == ["2026-11-29 00:00 CST", "2026-12-30 00:00 CST"]
    assert {b.reason for b in cs.blackouts} == {"月末结账 (month-end close)"}
    assert [(r.cadence.value, r.period.key) for r in cs.runs] == [
        ("monthly", "2026-11"),
        ("monthly", "2026-12"),
        ("monthly", "2027-01"),
        ("quarterly", "2026-Q4"),
        ("quarterly", "2027-Q1"),
        ("annual", "2026"),
        ("annual", "2027"),
    ]


def test_window_across_the_period_boundary_counts_from_the_period_start(estate):
    # Sat 2026-10-31 22:00 -> Sun 2026-11-01 02:00 CST (hanhai's window, here without blackouts).
    hanhai = estate.customer("hanhai").model_copy(update={"blackouts": []})
    s = Schedule(estate.model_copy(update={"customers": [hanhai]}))
    now = utc("2026-10-20T00:00Z")
    october = s.plan(hanhai, Cadence.MONTHLY, period_of(Cadence.MONTHLY, now, SH), now)
    assert (wall(october.window.start, SH), wall(october.window.end, SH)) == (
        "2026-10-24 22:00 CST",
        "2026-10-25 02:00 CST",
    )
    november = s.plan(hanhai, Cadence.MONTHLY, period_of(Cadence.MONTHLY, utc("2026-11-05T00:00Z"), SH), now)
    assert wall(november.window.start, SH) == "2026-11-01 00:00 CST"
    assert wall(november.notice_at, SH) == "2026-10-29 00:00 CST"


def test_only_the_windows_before_the_chosen_one_moved_it(estate):
    """The annual run of 2027 planned into 7 March: the quarter-end blackouts of April, July and October
    remove later windows, which did not move this run and are not shown as if they had."""
    run = plan(Schedule(estate), "volga", Cadence.ANNUAL, "2027-03-01T09:00Z")
    assert run.status is PlanStatus.PLANNED
    assert wall(run.window.start, MSK) == "2027-03-07 03:00 MSK"
    assert run.moved_by == () and "blackout" not in run.note
