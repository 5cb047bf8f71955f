"""Repository functions for runs, step results, health samples and SLA breaches."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import psutil
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from opskeeper.config.secrets import redact, redact_data
from opskeeper.ledger.core import HealthSample, Run, RunStatus, SlaBreach, StepResult
from opskeeper.ledger.db import Ledger
from opskeeper.ledger.drills import Drill, DrillStatus


@dataclass(frozen=True)
class NewRun:
    kind: str
    customer_id: str | None
    cadence: str | None = None
    system_id: str | None = None
    period: str | None = None
    trigger: str = "manual"
    triggered_by: str | None = None
    flow_run_id: str | None = None
    dry_run: bool = False
    force_window: bool = False


def process_owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def start_run(ledger: Ledger, new: NewRun) -> int:
    with ledger.session() as s:
        run = Run(**new.__dict__, started_at=ledger.now(), status=RunStatus.RUNNING, owner=process_owner())
        s.add(run)
        s.flush()
        run_id = run.id
    if new.force_window:
        ledger.audit(new.triggered_by or "unknown", "run.force-window", f"run/{run_id}",
                     {"kind": new.kind, "cadence": new.cadence, "customer": new.customer_id})  # fmt: skip
    return run_id


def finish_run(
    ledger: Ledger,
    run_id: int,
    status: RunStatus,
    reason: str | None = None,
    summary: dict[str, Any] | None = None,
) -> None:
    with ledger.session() as s:
        run = s.get(Run, run_id)
        if run is None:
            raise KeyError(run_id)
        run.status = status
        run.ended_at = ledger.now()
        run.reason = redact(reason) if reason else None
        run.summary = redact_data(summary)  # host errors quote commands and URLs
    ledger.audit(
        "opskeeper", "run.finished", f"run/{run_id}", {"status": str(status), "reason": reason or ""}
    )


def record_skipped(ledger: Ledger, new: NewRun, status: RunStatus, reason: str) -> int:
    """A run that did not start (blackout, closed window) is still on record, with why."""
    run_id = start_run(ledger, new)
    finish_run(ledger, run_id, status, reason)
    return run_id


def add_step(ledger: Ledger, run_id: int, rec: Any) -> None:
    """Write one step record (an engine StepRecord) and its health samples."""
    with ledger.session() as s:
        s.add(
            StepResult(
                run_id=run_id, runbook=rec.runbook, step=rec.step, host=rec.host, started_at=rec.started_at,
                ended_at=rec.ended_at, duration_s=rec.duration_s, status=str(rec.status), attempts=rec.attempts,
                exit_code=rec.exit_code, output=rec.output, error=rec.error, detail=rec.detail,
            )
        )  # fmt: skip
        customer = s.get(Run, run_id).customer_id or ""  # type: ignore[union-attr]
        for sm in rec.samples:
            s.add(HealthSample(run_id=run_id, customer_id=customer, host=rec.host, taken_at=rec.ended_at,
                               metric=sm.metric, subject=sm.subject, value=sm.value, unit=sm.unit))  # fmt: skip


# The detail key of a step a resumed run did not repeat: the run that did it (see opskeeper.runbook.resume).
DONE_IN_RUN = "done_in_run"


@dataclass(frozen=True)
class StepMark:
    """One step row of an earlier run of a period, as the resume rule reads it."""

    run_id: int
    host: str
    runbook: str
    step: str
    status: str
    done_in_run: int | None = None  # the row says "done earlier by that run", not done by this one


def period_steps(
    ledger: Ledger, kind: str, customer_id: str, cadence: str, period: str, *, other_than: int,
    host: str | None = None,
) -> list[StepMark]:  # fmt: skip
    """Every step row (on ``host``, or all) of the (non-dry) runs of this customer, cadence and period other
    than run ``other_than``, in the order they were written (rows of overlapping runs interleave as they
    happened)."""
    q = (
        select(StepResult.run_id, StepResult.host, StepResult.runbook, StepResult.step, StepResult.status,
               StepResult.detail)
        .join(Run, Run.id == StepResult.run_id)
        .where(Run.kind == kind, Run.customer_id == customer_id, Run.cadence == cadence,
               Run.period == period, Run.dry_run.is_(False), Run.id != other_than)
        .order_by(StepResult.id)
    )  # fmt: skip
    if host is not None:
        q = q.where(StepResult.host == host)
    with ledger.session() as s:
        rows = s.execute(q).all()
    return [StepMark(r.run_id, r.host, r.runbook, r.step, r.status, done_in_run(r.detail)) for r in rows]


def done_in_run(detail: Any) -> int | None:
    """The earlier run that did a step, from the step's detail, when a resumed run did not repeat it."""
    value = detail.get(DONE_IN_RUN) if isinstance(detail, dict) else None
    return value if isinstance(value, int) else None


def get_run(ledger: Ledger, run_id: int) -> Run | None:
    with ledger.session() as s:
        return s.execute(
            select(Run).options(selectinload(Run.steps)).where(Run.id == run_id)
        ).scalar_one_or_none()


def list_runs(
    ledger: Ledger, *, kind: str | None = None, customer_id: str | None = None, limit: int = 50
) -> Sequence[Run]:
    with ledger.session() as s:
        q = select(Run).order_by(Run.id.desc()).limit(limit)
        if kind:
            q = q.where(Run.kind == kind)
        if customer_id:
            q = q.where(Run.customer_id == customer_id)
        return s.execute(q).scalars().all()


def succeeded_in_period(ledger: Ledger, kind: str, customer_id: str, cadence: str, period: str) -> bool:
    with ledger.session() as s:
        n = s.execute(
            select(func.count(Run.id)).where(
                Run.kind == kind, Run.customer_id == customer_id, Run.cadence == cadence,
                Run.period == period, Run.status == RunStatus.OK, Run.dry_run.is_(False),
            )
        ).scalar_one()  # fmt: skip
    return n > 0


def attempted_since(ledger: Ledger, kind: str, customer_id: str, cadence: str, since: datetime) -> bool:
    """Whether a (non-dry) run of this cadence started since ``since`` (one attempt per window)."""
    with ledger.session() as s:
        n = s.execute(
            select(func.count(Run.id)).where(
                Run.kind == kind, Run.customer_id == customer_id, Run.cadence == cadence,
                Run.started_at >= since, Run.dry_run.is_(False),
                Run.status.not_in([RunStatus.SKIPPED_BLACKOUT, RunStatus.SKIPPED_WINDOW, RunStatus.ABANDONED]),
            )
        ).scalar_one()  # fmt: skip
    return n > 0


def record_breach(
    ledger: Ledger, customer_id: str, kind: str, subject: str, period: str, reason: str
) -> bool:
    """Record a breach once; returns False if it was already on record."""
    try:
        with ledger.session() as s:
            s.add(
                SlaBreach(customer_id=customer_id, kind=kind, subject=subject, period=period, reason=reason)
            )
    except Exception as e:  # LedgerError wrapping IntegrityError: already recorded
        if isinstance(e.__cause__, IntegrityError):
            return False
        raise
    ledger.audit("opskeeper", "sla.breach", f"{customer_id}/{kind}/{subject}/{period}", {"reason": reason})
    return True


def breaches(ledger: Ledger, customer_id: str | None = None) -> Sequence[SlaBreach]:
    with ledger.session() as s:
        q = select(SlaBreach).order_by(SlaBreach.detected_at.desc())
        if customer_id:
            q = q.where(SlaBreach.customer_id == customer_id)
        return s.execute(q).scalars().all()


def health_series(
    ledger: Ledger, host: str, metric: str, since: datetime
) -> Iterable[tuple[datetime, str, float]]:
    with ledger.session() as s:
        rows = s.execute(
            select(HealthSample.taken_at, HealthSample.subject, HealthSample.value)
            .where(HealthSample.host == host, HealthSample.metric == metric, HealthSample.taken_at >= since)
            .order_by(HealthSample.taken_at)
        ).all()  # fmt: skip
    return [(at, subject, value) for at, subject, value in rows]


def _owner_dead(owner: str | None, started_at: datetime) -> bool:
    """True when the run's process was on this machine and is gone (or its pid now names a newer process)."""
    if not owner or ":" not in owner:
        return False
    host, _, pid = owner.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        created = psutil.Process(int(pid)).create_time()
    except psutil.NoSuchProcess:
        return True
    # The owner existed before it started the run; a process born after that got a recycled pid.
    return created > started_at.timestamp() + 1


def reap_abandoned(ledger: Ledger, now: datetime, silence: timedelta = timedelta(minutes=10)) -> list[int]:
    """Close runs whose process died: its pid is gone (same machine), or no heartbeat and no step for ``silence``.

    A live process beats for its runs every minute (:mod:`opskeeper.ledger.heartbeat`), even in a
    step that takes hours, so ``silence`` only has to outlast a few missed beats.
    """
    reaped: list[int] = []
    with ledger.session() as s:
        running = s.execute(select(Run).where(Run.status == RunStatus.RUNNING)).scalars().all()
        for run in running:
            last = s.execute(
                select(func.max(StepResult.ended_at)).where(StepResult.run_id == run.id)
            ).scalar()
            quiet_since = max(t for t in (last, run.heartbeat_at, run.started_at) if t is not None)
            if _owner_dead(run.owner, run.started_at) or now - quiet_since > silence:
                run.status = RunStatus.ABANDONED
                run.ended_at = now
                run.reason = f"abandoned: its process ({run.owner}) died or fell silent; re-run to finish"
                reaped.append(run.id)
                # A drill killed mid-run is cancelled too, so it no longer holds its customer's hosts.
                for drill in s.scalars(select(Drill).where(Drill.run_id == run.id, Drill.status == DrillStatus.RUNNING)):
                    drill.status, drill.ended_at = DrillStatus.CANCELLED, now
    for run_id in reaped:
        ledger.audit("opskeeper", "run.abandoned", f"run/{run_id}", {})
    return reaped


@dataclass(frozen=True)
class StepProgress:
    """Step results recorded so far by maintenance runs started since a time, and the newest of them."""

    done: int
    last_host: str | None = None
    last_step: str | None = None
    last_status: str | None = None


def maintenance_progress(ledger: Ledger, since: datetime) -> StepProgress:
    """How far the maintenance runs started at or after ``since`` are (the CLI's progress bar)."""
    with ledger.session() as s:
        ids = select(Run.id).where(Run.kind == "maintenance", Run.started_at >= since)
        n = s.execute(select(func.count(StepResult.id)).where(StepResult.run_id.in_(ids))).scalar_one()
        last = s.execute(
            select(StepResult.host, StepResult.step, StepResult.status)
            .where(StepResult.run_id.in_(ids))
            .order_by(StepResult.id.desc())
            .limit(1)
        ).first()
    if last is None:
        return StepProgress(n)
    return StepProgress(n, last.host, last.step, last.status)


@dataclass(frozen=True)
class HealthPoint:
    metric: str
    subject: str
    taken_at: datetime
    value: float


def host_health(
    ledger: Ledger, host: str, metrics: Sequence[str], since: datetime, until: datetime
) -> list[HealthPoint]:
    """One host's samples of ``metrics`` taken in [since, until], oldest first (the annual assessment)."""
    with ledger.session() as s:
        rows = s.execute(
            select(HealthSample.metric, HealthSample.subject, HealthSample.taken_at, HealthSample.value)
            .where(HealthSample.host == host, HealthSample.taken_at >= since, HealthSample.taken_at <= until,
                   HealthSample.metric.in_(list(metrics)))
            .order_by(HealthSample.taken_at)
        ).all()  # fmt: skip
    return [HealthPoint(metric, subject, at, value) for metric, subject, at, value in rows]
