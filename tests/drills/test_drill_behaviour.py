"""Drill behaviour on this machine with real files and backups: objectives, approval, blackout, cleanup,
cancellation, action items closed by a later pass."""

from __future__ import annotations

from pathlib import Path

import pytest

from opskeeper.config.estate import Estate
from opskeeper.drills.context import DrillRequest
from opskeeper.drills.drive import run_drill
from opskeeper.drills.errors import ApprovalRefused, DrillRefused
from opskeeper.drills.timeline import Event
from opskeeper.ledger import Ledger
from opskeeper.ledger.audit import AuditEntry
from opskeeper.ledger.drills import Drill, DrillStatus, list_items
from opskeeper.runbook.actions import ActionContext, ActionOutcome, register
from tests.drills.conftest import variant

SLOW = {"name": "slow restart of the service", "run": "sleep 1.5"}


def _runbooks(backed_up: Estate, tmp_path: Path) -> Path:
    runbooks = tmp_path / "runbooks"
    backed_up.runbooks_dir = str(runbooks)
    return runbooks


def test_too_slow_recovery_fails_a_tight_objective_with_the_margin(backed_up: Estate, ledger: Ledger,
                                                                   tmp_path: Path) -> None:
    rb = _runbooks(backed_up, tmp_path)
    base = __import__("yaml").safe_load((Path("runbooks/drills/data-corruption.yaml")).read_text())
    variant(rb, "data-corruption", recovery=[*base["recovery"], SLOW], objectives={"rto": "1s"})
    result = run_drill(backed_up, DrillRequest("data-corruption", "hanhai"), ledger=ledger)
    ev = result.evaluation
    assert result.status is DrillStatus.FAIL
    assert ev.rto.source == "scenario" and ev.rto.measured > ev.rto.target
    (finding,) = [f for f in ev.findings if f.fingerprint == "rto-exceeded"]
    assert finding.title == f"RTO exceeded by {ev.rto.describe().split('exceeded by ')[1]}"
    assert ev.rto.margin == ev.rto.target - ev.rto.measured
    with ledger.session() as s:
        d = s.get(Drill, result.drill_id)
        assert d.rto_s == pytest.approx(ev.rto.measured.total_seconds())
        assert d.rto_target_s == 1.0
        (item,) = list_items(s, customer="hanhai", only_open=True)
        assert item.fingerprint == "rto-exceeded" and item.owner == "duty-engineer"


def test_action_item_closed_only_by_a_later_passing_drill(backed_up: Estate, ledger: Ledger,
                                                          tmp_path: Path) -> None:
    rb = _runbooks(backed_up, tmp_path)
    variant(rb, "data-corruption", objectives={"rto": "0s"})
    first = run_drill(backed_up, DrillRequest("data-corruption", "hanhai"), ledger=ledger)
    second = run_drill(backed_up, DrillRequest("data-corruption", "hanhai"), ledger=ledger)
    assert (first.status, second.status) == (DrillStatus.FAIL, DrillStatus.FAIL)
    assert (first.items_opened, second.items_opened) == (1, 0)  # the same gap is one item
    variant(rb, "data-corruption")  # the objective is met again
    third = run_drill(backed_up, DrillRequest("data-corruption", "hanhai"), ledger=ledger)
    assert third.status is DrillStatus.PASS and third.items_closed == 1
    with ledger.session() as s:
        (item,) = list_items(s, customer="hanhai")
        assert (item.status, item.opened_by_drill, item.last_seen_drill, item.closed_by_drill) == (
            "closed", first.drill_id, third.drill_id, third.drill_id)


def _needs_approval(backed_up: Estate, tmp_path: Path) -> None:
    variant(_runbooks(backed_up, tmp_path), "data-corruption", safety={"fault_roles": []})


def test_approval_required_and_refused_without_approver(backed_up: Estate, ledger: Ledger,
                                                        tmp_path: Path) -> None:
    _needs_approval(backed_up, tmp_path)
    data = Path(backed_up.customer("hanhai").systems[0].datasets[0].paths[0])  # type: ignore[union-attr]
    before = {p: p.read_bytes() for p in data.rglob("*.dat")}
    with pytest.raises(ApprovalRefused, match="needs an approver"):
        run_drill(backed_up, DrillRequest("data-corruption", "hanhai"), ledger=ledger)
    assert {p: p.read_bytes() for p in data.rglob("*.dat")} == before  # nothing was faulted
    with ledger.session() as s:
        (d,) = s.query(Drill).all()
        assert d.status == DrillStatus.ABORTED
        assert [a.action for a in s.query(AuditEntry).all()] == ["drill.approval_refused"]


def test_approval_given_is_audited(backed_up: Estate, ledger: Ledger, tmp_path: Path) -> None:
    _needs_approval(backed_up, tmp_path)
    result = run_drill(backed_up, DrillRequest("data-corruption", "hanhai", approve="alice"), ledger=ledger)
    assert result.status is DrillStatus.PASS
    with ledger.session() as s:
        assert s.get(Drill, result.drill_id).approved_by == "alice"
        entries = [(a.actor, a.action) for a in s.query(AuditEntry).order_by(AuditEntry.seq)]
    assert entries == [("alice", "drill.approved"), ("alice", "drill.fault")]
    assert ledger.verify_audit()[1] == []


def test_blackout_refuses_unless_forced(backed_up: Estate, ledger: Ledger) -> None:
    import datetime as dt

    from opskeeper.config.estate import Blackout

    today = dt.datetime.now(dt.UTC).date()
    backed_up.customer("hanhai").blackouts = [
        Blackout(reason="month-end close", start=today - dt.timedelta(days=2), end=today + dt.timedelta(days=2))
    ]
    with pytest.raises(DrillRefused, match=r"in a blackout \(month-end close\).*--force-window"):
        run_drill(backed_up, DrillRequest("data-corruption", "hanhai"), ledger=ledger)
    forced = run_drill(backed_up, DrillRequest("data-corruption", "hanhai", force_window=True), ledger=ledger)
    assert forced.status is DrillStatus.PASS
    with ledger.session() as s:
        assert "drill.force_window" in [a.action for a in s.query(AuditEntry).all()]


def test_no_usable_backup_refuses(example_estate: Estate, ledger: Ledger) -> None:
    with pytest.raises(DrillRefused, match="no usable backup of data set erp-data"):
        run_drill(example_estate, DrillRequest("data-corruption", "hanhai"), ledger=ledger)


def test_cleanup_runs_after_a_failure_mid_recovery(backed_up: Estate, ledger: Ledger, tmp_path: Path) -> None:
    marker = tmp_path / "cleaned"
    variant(_runbooks(backed_up, tmp_path), "data-corruption",
            recovery=[{"name": "restore fails", "run": "echo 'restore target full' >&2; exit 3"}],
            cleanup=[{"name": "undo", "run": f"touch {marker}"}])
    result = run_drill(backed_up, DrillRequest("data-corruption", "hanhai"), ledger=ledger)
    assert marker.exists()
    assert result.status is DrillStatus.FAIL
    assert result.timeline.has(Event.CLEANUP_DONE) and not result.timeline.has(Event.SERVICE_RESTORED)
    assert {f.fingerprint for f in result.evaluation.findings} >= {"rto-unmeasured"}


def test_a_drill_step_may_roll_back_like_a_runbook_step(backed_up: Estate, ledger: Ledger, tmp_path: Path) -> None:
    """on_failure: rollback undoes the failed step and the phase's earlier ones on that host, newest first."""
    log, never, cleaned = tmp_path / "undone", tmp_path / "never", tmp_path / "cleaned"
    variant(_runbooks(backed_up, tmp_path), "data-corruption",
            recovery=[{"name": "prepare", "run": "true", "rollback": f"echo prepare >> {log}"},
                      {"name": "restore fails", "run": "exit 3", "on_failure": "rollback",
                       "rollback": f"echo restore >> {log}"},
                      {"name": "not reached", "run": f"touch {never}"}],
            cleanup=[{"name": "undo", "run": f"touch {cleaned}"}])  # fmt: skip
    result = run_drill(backed_up, DrillRequest("data-corruption", "hanhai"), ledger=ledger)
    assert log.read_text().split() == ["restore", "prepare"]
    assert cleaned.exists() and not never.exists()
    assert result.status is DrillStatus.FAIL and not result.timeline.has(Event.SERVICE_RESTORED)


def test_failed_cleanup_fails_the_drill_and_raises_an_incident(backed_up: Estate, ledger: Ledger,
                                                               tmp_path: Path) -> None:
    from opskeeper.drills.runner import Hooks

    incidents: list[str] = []
    variant(_runbooks(backed_up, tmp_path), "data-corruption",
            cleanup=[{"name": "undo fails", "run": "exit 1"}])
    result = run_drill(backed_up, DrillRequest("data-corruption", "hanhai"), ledger=ledger,
                       hooks=Hooks(incident=lambda run, msg: incidents.append(msg)))
    assert result.status is DrillStatus.FAIL
    assert result.timeline.has(Event.CLEANUP_FAILED)
    assert "cleanup-failed" in {f.fingerprint for f in result.evaluation.findings}
    assert incidents == ["drill cleanup failed"]


@register("test.cancel")
def _cancel(ctx: ActionContext) -> ActionOutcome:
    raise KeyboardInterrupt  # what a cancellation looks like inside a step


def test_cleanup_runs_after_cancellation(backed_up: Estate, ledger: Ledger, tmp_path: Path) -> None:
    marker = tmp_path / "cleaned"
    variant(_runbooks(backed_up, tmp_path), "data-corruption",
            recovery=[{"name": "operator cancels", "action": "test.cancel"}],
            cleanup=[{"name": "undo", "run": f"touch {marker}"}])
    with pytest.raises(KeyboardInterrupt):
        run_drill(backed_up, DrillRequest("data-corruption", "hanhai"), ledger=ledger)
    assert marker.exists()
    with ledger.session() as s:
        (d,) = s.query(Drill).all()
        assert d.status == DrillStatus.CANCELLED
        assert "cleanup_done" in [e.kind for e in d.events]


def test_report_of_an_aborted_drill(backed_up: Estate, ledger: Ledger, tmp_path: Path) -> None:
    from opskeeper.reports import drill as report

    _needs_approval(backed_up, tmp_path)
    with pytest.raises(ApprovalRefused):
        run_drill(backed_up, DrillRequest("data-corruption", "hanhai"), ledger=ledger)
    built = report.build(ledger, 1)
    for fmt in ("md", "html", "json"):
        text = report.render(built, fmt)
        assert "aborted" in text.lower() and "needs an approver" in text
