"""Write a drill to the ledger as it happens: the run, its steps, its timeline, the verdict, the items.

Each write is its own short transaction (``opskeeper.ledger.drills``), so a drill killed half-way leaves
everything up to the kill (the timeline is the evidence of what was faulted).
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Any

from opskeeper.config.secrets import redact
from opskeeper.drills.evaluate import Evaluation
from opskeeper.drills.timeline import TimelineEvent
from opskeeper.ledger import Ledger
from opskeeper.ledger import drills as ledger_drills
from opskeeper.ledger.drills import DrillMeasures, DrillStatus, ItemChanges, OpenItem
from opskeeper.ledger.runs import process_owner
from opskeeper.runbook.engine import StepRecord


def start(
    ledger: Ledger, *, scenario: str, customer: str, system: str, triggered_by: str, force_window: bool,
    flow_run_id: str | None,
) -> tuple[int, int]:  # fmt: skip
    return ledger_drills.start_drill(
        ledger, scenario=scenario, customer=customer, system=system, triggered_by=triggered_by,
        force_window=force_window, flow_run_id=flow_run_id,
        owner=process_owner())  # fmt: skip  # a killed drill is found and closed by reap_abandoned


def event(ledger: Ledger, drill_id: int, e: TimelineEvent) -> None:
    ledger_drills.add_event(ledger, drill_id, kind=e.kind.value, at=e.at, ok=e.ok, duration_s=e.duration_s,
                            detail=redact(e.detail)[:2000])


def step(ledger: Ledger, run_id: int, r: StepRecord) -> None:
    ledger_drills.add_step(ledger, run_id, r, _jsonable(r.detail) if r.detail else None)


def set_approver(ledger: Ledger, drill_id: int, approver: str) -> None:
    ledger_drills.set_approver(ledger, drill_id, approver)


def open_items_of(ledger: Ledger, customer: str, scenario: str) -> list[OpenItem]:
    return ledger_drills.open_items_of(ledger, customer, scenario)


def finish(
    ledger: Ledger, drill_id: int, *, status: DrillStatus, reason: str | None,
    evaluation: Evaluation | None, changes: ItemChanges | None, now: datetime | None = None,
) -> None:  # fmt: skip
    ledger_drills.finish_drill(
        ledger, drill_id, status=status,
        reason=redact(reason) if reason else None,  # an error's text may quote a secret
        measures=_measures(evaluation) if evaluation is not None else None,
        changes=changes, now=now or ledger.now())


def _measures(e: Evaluation) -> DrillMeasures:
    return DrillMeasures(score=e.score, rto_s=_secs(e.rto.measured), rpo_s=_secs(e.rpo.measured),
                         rto_target_s=e.rto.target.total_seconds(), rpo_target_s=e.rpo.target.total_seconds(),
                         evaluation=evaluation_json(e))


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
