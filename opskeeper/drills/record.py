"""Write a drill to the ledger as it happens: the run, its steps, its timeline, the verdict, the items.

Each write is its own short transaction, so a drill killed half-way leaves
everything up to the kill (the timeline is the evidence of what was faulted).
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Any

from opskeeper.config.secrets import redact
from opskeeper.drills.evaluate import Evaluation
from opskeeper.drills.items import ItemChanges, OpenItem
from opskeeper.drills.timeline import TimelineEvent
from opskeeper.ledger import Ledger
from opskeeper.ledger.core import Run, RunStatus, StepResult
from opskeeper.ledger.drills import ActionItem, Drill, DrillEvent, DrillStatus, ItemStatus, open_items
from opskeeper.ledger.runs import process_owner
from opskeeper.runbook.engine import StepRecord


def start(
    ledger: Ledger, *, scenario: str, customer: str, system: str, triggered_by: str, force_window: bool,
    flow_run_id: str | None,
) -> tuple[int, int]:  # fmt: skip
    with ledger.session() as s:
        run = Run(kind="drill", cadence=scenario, customer_id=customer, system_id=system, trigger="manual",
                  triggered_by=triggered_by, flow_run_id=flow_run_id, force_window=force_window,
                  owner=process_owner())  # fmt: skip  # a killed drill is found and closed by reap_abandoned
        s.add(run)
        s.flush()
        drill = Drill(scenario=scenario, customer_id=customer, system_id=system, run_id=run.id,
                      flow_run_id=flow_run_id, triggered_by=triggered_by, force_window=force_window)  # fmt: skip
        s.add(drill)
        s.flush()
        return drill.id, run.id


def event(ledger: Ledger, drill_id: int, e: TimelineEvent) -> None:
    with ledger.session() as s:
        s.add(DrillEvent(drill_id=drill_id, kind=e.kind.value, at=e.at, ok=e.ok, duration_s=e.duration_s,
                         detail=redact(e.detail)[:2000]))  # fmt: skip


def step(ledger: Ledger, run_id: int, r: StepRecord) -> None:
    detail = _jsonable(r.detail) if r.detail else None
    with ledger.session() as s:
        s.add(StepResult(run_id=run_id, runbook=r.runbook, step=r.step, host=r.host, started_at=r.started_at,
                         ended_at=r.ended_at, duration_s=r.duration_s, status=r.status.value,
                         attempts=r.attempts, exit_code=r.exit_code, output=r.output, error=r.error,
                         detail=detail))  # fmt: skip


def set_approver(ledger: Ledger, drill_id: int, approver: str) -> None:
    with ledger.session() as s:
        drill = s.get(Drill, drill_id)
        assert drill is not None
        drill.approved_by = approver


def open_items_of(ledger: Ledger, customer: str, scenario: str) -> list[OpenItem]:
    with ledger.session() as s:
        return [OpenItem(i.id, i.fingerprint) for i in open_items(s, customer, scenario)]


def finish(
    ledger: Ledger, drill_id: int, *, status: DrillStatus, reason: str | None,
    evaluation: Evaluation | None, changes: ItemChanges | None, now: datetime | None = None,
) -> None:  # fmt: skip
    now = now or ledger.now()
    with ledger.session() as s:
        drill = s.get(Drill, drill_id)
        assert drill is not None
        reason = redact(reason) if reason else None  # an error's text may quote a secret
        drill.status, drill.reason, drill.ended_at = status.value, reason, now
        if evaluation is not None:
            drill.score = evaluation.score
            drill.rto_s = _secs(evaluation.rto.measured)
            drill.rpo_s = _secs(evaluation.rpo.measured)
            drill.rto_target_s = evaluation.rto.target.total_seconds()
            drill.rpo_target_s = evaluation.rpo.target.total_seconds()
            drill.evaluation = evaluation_json(evaluation)
        run = s.get(Run, drill.run_id) if drill.run_id else None
        if run is not None:
            run.ended_at, run.reason = now, reason
            run.status = {DrillStatus.PASS: RunStatus.OK, DrillStatus.CANCELLED: RunStatus.CANCELLED,
                          DrillStatus.ABORTED: RunStatus.SKIPPED}.get(status, RunStatus.FAILED).value  # fmt: skip
            run.summary = {"drill_id": drill_id, "verdict": status.value, "score": drill.score}
        if changes is not None:
            _apply(s, drill, changes, now)


def _apply(s: Any, drill: Drill, changes: ItemChanges, now: datetime) -> None:
    for item_id in changes.closed:
        item = s.get(ActionItem, item_id)
        item.status, item.closed_by_drill, item.closed_at, item.last_seen_drill = (
            ItemStatus.CLOSED.value, drill.id, now, drill.id)
    for item_id in changes.still_open:
        s.get(ActionItem, item_id).last_seen_drill = drill.id
    for new in changes.opened:
        s.add(ActionItem(customer_id=drill.customer_id, scenario=drill.scenario, fingerprint=new.fingerprint,
                         severity=new.severity, title=new.title, detail=redact(new.detail), owner=new.owner,
                         due=new.due, opened_by_drill=drill.id, last_seen_drill=drill.id, opened_at=now))  # fmt: skip


def _secs(td: Any) -> float | None:
    return None if td is None else td.total_seconds()


def evaluation_json(e: Evaluation) -> dict[str, Any]:
    out = _jsonable(asdict(e))
    for name, obj in (("rto", e.rto), ("rpo", e.rpo)):
        out[name]["met"] = obj.met
        out[name]["margin"] = _secs(obj.margin)
        out[name]["describe"] = obj.describe()
    return out


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    if hasattr(value, "total_seconds"):
        return value.total_seconds()
    if isinstance(value, str | int | float | bool) or value is None:
        return redact(value) if isinstance(value, str) else value
    return str(value)
