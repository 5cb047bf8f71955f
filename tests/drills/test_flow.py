"""The dr_drill flow under the Prefect test harness: verdict, report artifact, approval by pause/resume."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from uuid import UUID

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey, FlowRunFilter, TaskRunFilter
from prefect.client.schemas.sorting import ArtifactSort
from prefect.flow_runs import resume_flow_run

from flows.dr_drill import dr_drill
from opskeeper.config.estate import Estate
from opskeeper.drills.errors import DrillCrashed
from opskeeper.ledger import Ledger
from opskeeper.ledger.audit import AuditEntry
from opskeeper.ledger.drills import Drill
from tests.drills.conftest import ledger_breaking_scenario, variant, write_estate

pytestmark = pytest.mark.flow


def test_flow_runs_a_drill_and_publishes_the_report(backed_up: Estate, tmp_path: Path) -> None:
    estate_file = write_estate(tmp_path / "estate.yaml")
    summary = dr_drill("data-corruption", "hanhai", config=str(estate_file))
    assert summary["verdict"] == "pass"
    assert Path(str(summary["report"])).exists()
    assert "| RTO |" in _newest_artifact("drill-hanhai-data-corruption")


def _newest_artifact(key: str) -> str:
    with get_client(sync_client=True) as client:
        arts = client.read_artifacts(
            # every field given: this server rejects the nulls the client sends for omitted ones
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key])),
            flow_run_filter=FlowRunFilter(), task_run_filter=TaskRunFilter(),
            sort=ArtifactSort.CREATED_DESC, limit=1, offset=0,
        )
    assert arts, f"no artifact {key}"
    return str(arts[0].data)


def _resume_when_paused(ledger: Ledger, run_input: dict[str, object]) -> threading.Thread:
    def worker() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with ledger.session() as s:
                d = s.query(Drill).order_by(Drill.id.desc()).first()
                flow_run_id = d.flow_run_id if d else None
            if flow_run_id:
                with get_client(sync_client=True) as client:
                    fr = client.read_flow_run(UUID(flow_run_id))
                if fr.state and fr.state.is_paused():
                    resume_flow_run(UUID(flow_run_id), run_input=run_input)
                    return
            time.sleep(0.2)

    t = threading.Thread(target=worker, daemon=True)
    t.start()
    return t


@pytest.mark.parametrize(("approve", "verdict"), [(True, "pass"), (False, None)])
def test_flow_pauses_for_approval(backed_up: Estate, tmp_path: Path, approve: bool, verdict: str | None) -> None:
    runbooks = tmp_path / "runbooks"
    variant(runbooks, "data-corruption", safety={"fault_roles": []})
    estate_file = write_estate(tmp_path / "estate.yaml", runbooks_dir=runbooks)
    ledger = Ledger.open()
    waiter = _resume_when_paused(ledger, {"approver": "bob", "approve": approve})
    state = dr_drill("data-corruption", "hanhai", config=str(estate_file), return_state=True)
    waiter.join(5)
    with ledger.session() as s:
        actions = [(a.actor, a.action) for a in s.query(AuditEntry).order_by(AuditEntry.seq)]
    if approve:
        assert state.is_completed() and state.result()["verdict"] == verdict
        assert ("bob", "drill.approved") in actions
    else:
        assert state.is_failed()
        assert "drill.approval_refused" in [a for _, a in actions]
        assert "drill.fault" not in [a for _, a in actions]


def test_flow_of_a_crashed_drill_fails_records_error_and_publishes_the_report(backed_up: Estate,
                                                                             tmp_path: Path) -> None:
    ledger = Ledger.open()
    marker = ledger_breaking_scenario(tmp_path / "runbooks", ledger, tmp_path)
    estate_file = write_estate(tmp_path / "estate.yaml", runbooks_dir=tmp_path / "runbooks")
    state = dr_drill("data-corruption", "hanhai", config=str(estate_file), return_state=True)
    assert state.is_failed() and not state.is_cancelled()
    with pytest.raises(DrillCrashed, match="in recover: LedgerError"):
        state.result()
    assert marker.exists()
    with ledger.session() as s:
        (d,) = s.query(Drill).all()
        assert d.status == "error" and "cleanup_done" in [e.kind for e in d.events]
    assert "**ERROR**" in _newest_artifact("drill-hanhai-data-corruption")


def test_an_unanswered_approval_is_a_refusal_not_a_crash(
    backed_up: Estate, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Prefect 3 ends an unanswered pause with FlowPauseTimeout (not TimeoutError): no approver, no fault."""
    import flows.dr_drill

    monkeypatch.setattr(flows.dr_drill, "APPROVAL_TIMEOUT_S", 1)
    runbooks = tmp_path / "runbooks"
    variant(runbooks, "data-corruption", safety={"fault_roles": []})
    estate_file = write_estate(tmp_path / "estate.yaml", runbooks_dir=runbooks)
    ledger = Ledger.open()
    state = dr_drill("data-corruption", "hanhai", config=str(estate_file), return_state=True)
    assert not isinstance(state.result(raise_on_failure=False), DrillCrashed)
    with ledger.session() as s:
        actions = [a.action for a in s.query(AuditEntry).order_by(AuditEntry.seq)]
        (d,) = s.query(Drill).all()
        assert d.status != "error"
    assert "drill.approval_refused" in actions and "drill.fault" not in actions
