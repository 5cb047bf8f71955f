"""Measurement, evaluation against the tier, score, findings, action items and freshness (pure, no I/O)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from opskeeper.config.drills import Objectives, Scenario
from opskeeper.config.estate import Tier
from opskeeper.config.types import FindingSeverity
from opskeeper.drills.evaluate import CheckOutcome, Finding, Phase, Verdict, evaluate, fmt
from opskeeper.drills.freshness import freshness
from opskeeper.drills.items import OpenItem, reconcile
from opskeeper.drills.timeline import Event, Timeline

T0 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


def tier(rto: str = "4h", rpo: str = "24h") -> Tier:
    return Tier.model_validate({"response": {"emergency": "1h"}, "rto": rto, "rpo": rpo})


def scenario(**objectives: str) -> Scenario:
    return Scenario.model_validate({
        "name": "s", "title": "S",
        "hypothesis": [{"name": "up", "action": "http.status", "expect": {"type": "exact", "value": 200}}],
        "fault": [{"name": "f", "action": "service.stop"}],
        "recovery": [{"name": "r", "run": "true"}],
        "objectives": objectives,
    })


def timeline(fault: float = 0, restored: float = 600, verified: float = 660) -> Timeline:
    t = Timeline()
    t.record(Event.DECLARED, at=T0 - timedelta(seconds=30))
    t.record(Event.FAULT_INJECTED, at=T0 + timedelta(seconds=fault))
    t.record(Event.DETECTED, at=T0 + timedelta(seconds=5))
    t.record(Event.SERVICE_RESTORED, at=T0 + timedelta(seconds=restored))
    t.record(Event.DATA_VERIFIED, at=T0 + timedelta(seconds=verified))
    return t


def test_rto_is_fault_to_restored_and_verified_rpo_is_fault_to_snapshot() -> None:
    ev = evaluate(scenario(), tier(), timeline(), newest_restored=T0 - timedelta(hours=3))
    assert ev.rto.measured == timedelta(seconds=660)
    assert ev.rpo.measured == timedelta(hours=3)
    assert ev.rto.source == "tier" and ev.rto.target == timedelta(hours=4)
    assert ev.verdict is Verdict.PASS and ev.score == 100
    assert ev.rto.margin == timedelta(hours=4) - timedelta(seconds=660)


def test_too_slow_recovery_fails_a_tight_objective_with_the_margin() -> None:
    ev = evaluate(scenario(rto="5m"), tier(), timeline(restored=1000, verified=1020),
                  newest_restored=T0 - timedelta(minutes=1))
    assert ev.rto.source == "scenario"
    assert ev.verdict is Verdict.FAIL
    assert ev.rto.margin == timedelta(minutes=5) - timedelta(seconds=1020)
    (f,) = [f for f in ev.findings if f.fingerprint == "rto-exceeded"]
    assert f.title == "RTO exceeded by 12m"  # 17 min measured against 5 min
    assert f.severity is FindingSeverity.HIGH
    assert ev.score == round(25 * 300 / 1020 + 25 + 50)


def test_rpo_exceeded_and_unmeasured() -> None:
    ev = evaluate(scenario(), tier(rpo="1h"), timeline(), newest_restored=T0 - timedelta(hours=2, minutes=30))
    assert [f.title for f in ev.findings] == ["RPO exceeded by 1h30m"]
    ev = evaluate(scenario(), tier(), timeline(), newest_restored=None)
    assert ev.verdict is Verdict.FAIL and ev.findings[0].fingerprint == "rpo-unmeasured"


def test_not_restored_is_critical_and_scores_no_rto_points() -> None:
    t = Timeline()
    t.record(Event.FAULT_INJECTED, at=T0)
    ev = evaluate(scenario(), tier(), t, newest_restored=None)
    assert ev.findings[0].severity is FindingSeverity.CRITICAL
    assert ev.rto.points == 0 and ev.verdict is Verdict.FAIL


def test_checks_and_cleanup_shape_the_verdict() -> None:
    checks = [
        CheckOutcome(Phase.BEFORE, "up", True, "200", "= 200", ""),
        CheckOutcome(Phase.DETECTION, "fault detected", False, "", "", "not detected within 0:01:00"),
        CheckOutcome(Phase.VERIFICATION, "sums", True, "[]", "custom:empty", ""),
        CheckOutcome(Phase.AFTER, "up", True, "200", "= 200", ""),
    ]
    ev = evaluate(scenario(), tier(), timeline(), newest_restored=T0, checks=checks)
    assert ev.verdict is Verdict.PASS  # late detection is a medium finding: an action item, not a fail
    assert ev.score == round(50 + 50 * 2 / 3)
    ev = evaluate(scenario(), tier(), timeline(), newest_restored=T0, checks=checks, cleanup_ok=False)
    assert ev.verdict is Verdict.FAIL and "cleanup-failed" in [f.fingerprint for f in ev.findings]


def test_aborted_before_fault() -> None:
    t = Timeline()
    t.record(Event.DECLARED, at=T0)
    ev = evaluate(scenario(), tier(), t, newest_restored=None, aborted="steady state not met")
    assert ev.verdict is Verdict.ABORTED and ev.score == 0


def test_error_is_its_own_verdict_and_never_a_pass() -> None:
    crash = Finding("drill-error:RuntimeError", FindingSeverity.HIGH, "Drill stopped by an unexpected error in recover")
    t = timeline()  # everything measured and met: still not a pass
    ev = evaluate(scenario(), tier(), t, newest_restored=T0, error=crash)
    assert ev.verdict is Verdict.ERROR and not ev.passed and ev.score == 0
    assert ev.rto.met and crash in ev.findings
    t = Timeline()
    t.record(Event.FAULT_INJECTED, at=T0)  # crashed before the recovery: unmeasured is the crash's finding
    ev = evaluate(scenario(), tier(), t, newest_restored=None, error=crash)
    assert [f.fingerprint for f in ev.findings] == ["drill-error:RuntimeError"]
    changes = reconcile(ev, [OpenItem(7, "rto-exceeded")], owner="dba", tier=tier(), now=T0)
    assert [i.fingerprint for i in changes.opened] == ["drill-error:RuntimeError"] and changes.closed == ()


def test_action_items_open_once_and_close_only_on_a_later_pass() -> None:
    fail = evaluate(scenario(rto="5m"), tier(), timeline(restored=1000, verified=1020), newest_restored=T0)
    changes = reconcile(fail, [], owner="dba", tier=tier(), now=T0)
    (item,) = changes.opened
    assert item.owner == "dba" and item.due == T0 + timedelta(days=30)  # tier remediation for "high"
    again = reconcile(fail, [OpenItem(7, item.fingerprint)], owner="dba", tier=tier(), now=T0)
    assert again.opened == () and again.still_open == (7,) and again.closed == ()
    ok = evaluate(scenario(), tier(), timeline(), newest_restored=T0)
    done = reconcile(ok, [OpenItem(7, item.fingerprint)], owner="dba", tier=tier(), now=T0)
    assert done.closed == (7,) and done.opened == ()


def test_fmt() -> None:
    assert fmt(timedelta(seconds=1.25)) == "1.2s"
    assert fmt(timedelta(seconds=3725)) == "1h2m5s"


def test_freshness_flags_scenarios_not_passed_within_the_tier_period(example_estate: object) -> None:
    estate = example_estate
    hanhai = estate.customer("hanhai")  # type: ignore[attr-defined]
    now = T0
    (never,) = freshness(estate, hanhai, {}, now)  # type: ignore[arg-type]
    assert never.overdue and never.due_by is None
    (fresh,) = freshness(estate, hanhai, {"data-corruption": now - timedelta(weeks=25)}, now)  # type: ignore[arg-type]
    assert not fresh.overdue and fresh.due_by == now + timedelta(weeks=1)
    (stale,) = freshness(estate, hanhai, {"data-corruption": now - timedelta(weeks=27)}, now)  # type: ignore[arg-type]
    assert stale.overdue


def test_objectives_model_accepts_durations() -> None:
    assert Objectives.model_validate({"rto": "15m"}).rto == timedelta(minutes=15)


def test_due_drills_for_the_tick(example_estate: object) -> None:
    from opskeeper.drills.freshness import due_drills

    passes = {"hanhai": {"data-corruption": T0 - timedelta(weeks=1)}, "volga": {}}
    due = due_drills(example_estate, lambda c: passes[c], T0)  # type: ignore[arg-type]
    assert [(f.customer, f.scenario) for f in due] == [("volga", "data-corruption")]
