"""The DR drill flow: a real fault, recovery by runbook, RTO/RPO measured against the customer's contract.

Parameters render as a form in the Prefect UI. Faulting roles outside the
scenario's safety list pauses the run for an approver (``pause_flow_run`` with
input) unless ``approve`` names one; the approval is in the audit trail.
"""

from __future__ import annotations

from prefect import flow, get_run_logger, pause_flow_run
from prefect.exceptions import CancelledRun, FlowPauseTimeout
from prefect.input import RunInput
from prefect.runtime import flow_run
from pydantic import Field

from opskeeper.config.loader import load_estate
from opskeeper.drills import notices
from opskeeper.drills.context import DrillRequest
from opskeeper.drills.drive import drive
from opskeeper.drills.errors import DrillCrashed, DrillFailed
from opskeeper.drills.runner import DrillRun, Hooks, quietly
from opskeeper.ledger import Ledger
from opskeeper.paths import config_path
from tasks.drills import call_as_task, publish_report

APPROVAL_TIMEOUT_S = 3600


class DrillApproval(RunInput):
    """What the approver fills in when the drill pauses before its fault."""

    approver: str = Field(description="Your name (recorded in the audit trail).")
    approve: bool = Field(default=True, description="Untick to refuse: the drill stops before the fault.")


def ask_approval(roles: list[str]) -> str | None:
    """Pause until someone approves (or refuses) faulting these roles; None when refused or timed out."""
    log = get_run_logger()
    log.warning("the fault touches role(s) %s outside the scenario's safety list: waiting for approval",
                ", ".join(roles))  # fmt: skip
    try:
        answer = pause_flow_run(wait_for_input=DrillApproval, timeout=APPROVAL_TIMEOUT_S, poll_interval=2)
    except (TimeoutError, FlowPauseTimeout):  # Prefect 3 raises FlowPauseTimeout when nobody answered
        return None
    return answer.approver if answer.approve and answer.approver.strip() else None


@flow(name="dr-drill", log_prints=True)
def dr_drill(
    scenario: str,
    customer: str,
    approve: str | None = None,
    force_window: bool = False,
    config: str | None = None,
) -> dict[str, object]:
    """Run one DR drill and evaluate it against the customer's contract; the run fails when the drill does.

    Args:
        scenario: Scenario name, e.g. data-corruption (runbooks/drills/*.yaml).
        customer: Customer id from the estate.
        approve: Who approves faulting roles outside the scenario's safety list; empty: pause and ask.
        force_window: Run even inside a customer blackout (recorded in the audit trail).
        config: Estate file (default: $OPSKEEPER_CONFIG, ./opskeeper.yaml, the example estate).
    """
    estate = load_estate(config_path(config))
    ledger = Ledger.open()
    who = f"prefect:{flow_run.id}" if flow_run.id else "prefect"
    request = DrillRequest(scenario, customer, approve or None, force_window, who)
    hooks = Hooks(approve=ask_approval, notice=notices.send, incident=notices.incident,
                  progress=lambda text: print(text))  # fmt: skip
    run = DrillRun(estate, request, ledger=ledger, hooks=hooks,
                   flow_run_id=str(flow_run.id) if flow_run.id else None)  # fmt: skip
    try:  # drive takes the drill's host lock
        result = drive(run, call_as_task, cancellations=(CancelledRun,))
    except DrillCrashed:
        quietly(lambda: publish_report(ledger, run.drill_id))  # the report of the error is the evidence
        raise
    paths = publish_report(ledger, result.drill_id)
    ev = result.evaluation
    summary: dict[str, object] = {
        "drill_id": result.drill_id, "verdict": result.status.value, "score": ev.score if ev else None,
        "rto_s": ev.rto.measured.total_seconds() if ev and ev.rto.measured else None,
        "rpo_s": ev.rpo.measured.total_seconds() if ev and ev.rpo.measured else None,
        "report": paths.get("html"),
    }  # fmt: skip
    print(f"drill {result.drill_id}: {summary}")
    if not result.passed:
        raise DrillFailed(f"drill {result.drill_id} {result.status.value}: "
                          + "; ".join(f.title for f in (ev.findings if ev else ())))  # fmt: skip
    return summary
