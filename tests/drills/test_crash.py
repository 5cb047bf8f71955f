"""A drill stopped by an unexpected exception is recorded as error, never as cancelled or passed.

The crash is real: a recovery step makes the ledger refuse step records (a SQLite trigger, as a
ledger that went read-only or lost its disk would), so the write of that step's record fails
inside the drill machinery. Cleanup must still run, an action item is opened, the report and the
freshness logic treat the drill as failed. Cancellation (Ctrl-C, SIGTERM) stays cancelled.
"""

from __future__ import annotations

import signal
from concurrent.futures import CancelledError
from datetime import timedelta
from pathlib import Path

import pytest
from prefect.exceptions import CancelledRun, TerminationSignal

from opskeeper.clock import SYSTEM
from opskeeper.config.estate import Estate
from opskeeper.drills.context import DrillRequest
from opskeeper.drills.drive import Terminated, is_cancellation, run_drill
from opskeeper.drills.errors import DrillCrashed
from opskeeper.drills.freshness import due_drills
from opskeeper.drills.runner import Hooks
from opskeeper.ledger import Ledger, LedgerError
from opskeeper.ledger.drills import Drill, DrillStatus, last_passes, list_items
from opskeeper.reports import drill as report
from tests.drills.conftest import ledger_breaking_scenario, variant


def _ledger_breaking_drill(backed_up: Estate, ledger: Ledger, tmp_path: Path) -> Path:
    backed_up.runbooks_dir = str(tmp_path / "runbooks")
    return ledger_breaking_scenario(tmp_path / "runbooks", ledger, tmp_path)


def test_crash_mid_recovery_is_an_error_with_cleanup_and_an_item(
    backed_up: Estate, ledger: Ledger, tmp_path: Path
) -> None:
    marker = _ledger_breaking_drill(backed_up, ledger, tmp_path)
    incidents: list[str] = []
    hooks = Hooks(incident=lambda run, msg: incidents.append(msg))
    with pytest.raises(
        DrillCrashed, match=r"drill 1 stopped by an unexpected error in recover: LedgerError"
    ) as e:
        run_drill(backed_up, DrillRequest("data-corruption", "hanhai"), ledger=ledger, hooks=hooks)
    assert isinstance(e.value.__cause__, LedgerError) and "ledger lost" in str(e.value.__cause__)
    assert e.value.exit_code == 1
    assert marker.exists()  # cleanup ran
    assert incidents == []  # cleanup succeeded: the system is not left faulted
    with ledger.session() as s:
        (d,) = s.query(Drill).all()
        assert d.status == DrillStatus.ERROR
        assert d.reason and d.reason.startswith(
            "Drill stopped by an unexpected error in recover: LedgerError"
        )
        kinds = [e.kind for e in d.events]
        assert kinds.index("error") < kinds.index("cleanup_done") < kinds.index("evaluated")
        error = next(e for e in d.events if e.kind == "error")
        assert (
            not error.ok and error.detail.startswith("recover: LedgerError") and "ledger lost" in error.detail
        )
        evaluation = d.evaluation or {}
        assert evaluation["verdict"] == "error" and d.score == 0
        # what the crash left unmeasured is its finding, not a missed objective
        fingerprints = {f["fingerprint"] for f in evaluation["findings"]}
        assert "drill-error:LedgerError" in fingerprints and "rto-unmeasured" not in fingerprints
        (item,) = list_items(s, customer="hanhai", only_open=True)
        assert item.fingerprint == "drill-error:LedgerError" and item.opened_by_drill == d.id
        assert item.severity == "high" and item.owner == "duty-engineer"
        # an error never counts as a pass: the scenario stays due
        assert "data-corruption" not in last_passes(s, "hanhai")
        due = due_drills(backed_up, lambda c: last_passes(s, c), SYSTEM.now(), customer="hanhai")
    assert "data-corruption" in {f.scenario for f in due}
    built = report.build(ledger, 1)
    assert [p.status for p in built.trend] == ["error"]  # in the trend, as a failed point
    md, html = report.render(built, "md"), report.render(built, "html")
    assert "**ERROR**" in md and "ERROR (drill crashed)" in md and "ledger lost" in md
    assert 'class="verdict error"' in html and "Drill stopped by an unexpected error in recover" in html


def test_the_same_crash_again_is_the_same_item_and_a_pass_closes_it(
    backed_up: Estate, ledger: Ledger, tmp_path: Path
) -> None:
    _ledger_breaking_drill(backed_up, ledger, tmp_path)
    for _ in range(2):
        with pytest.raises(DrillCrashed):
            run_drill(backed_up, DrillRequest("data-corruption", "hanhai"), ledger=ledger)
    variant(Path(backed_up.runbooks_dir), "data-corruption")  # the shipped scenario: the cause is gone
    passed = run_drill(backed_up, DrillRequest("data-corruption", "hanhai"), ledger=ledger)
    assert passed.status is DrillStatus.PASS and passed.items_closed == 1
    with ledger.session() as s:
        (item,) = list_items(s, customer="hanhai")
        assert (item.opened_by_drill, item.closed_by_drill) == (1, 3)


@pytest.mark.parametrize(("error", "cancelled"), [
    (KeyboardInterrupt(), True), (Terminated("signal 15"), True), (TerminationSignal(signal.SIGTERM), True),
    (SystemExit(1), True), (CancelledError(), True),
    (RuntimeError("bug"), False), (LedgerError("gone"), False), (TimeoutError(), False),
])  # fmt: skip
def test_what_counts_as_a_cancellation(error: BaseException, cancelled: bool) -> None:
    assert is_cancellation(error) is cancelled


def test_a_callers_own_cancellation() -> None:
    assert not is_cancellation(CancelledRun("cancelled"))
    assert is_cancellation(CancelledRun("cancelled"), (CancelledRun,))


def test_error_is_never_fresh(example_estate: Estate, ledger: Ledger) -> None:
    """Only a pass resets the drill period: a newer error leaves the older pass as the last one."""
    old = SYSTEM.now() - timedelta(days=400)
    with ledger.session() as s:
        s.add(Drill(scenario="data-corruption", customer_id="hanhai", system_id="erp", status="pass",
                    started_at=old))  # fmt: skip
        s.add(Drill(scenario="data-corruption", customer_id="hanhai", system_id="erp", status="error",
                    started_at=SYSTEM.now()))  # fmt: skip
    with ledger.session() as s:
        assert last_passes(s, "hanhai") == {"data-corruption": old}
