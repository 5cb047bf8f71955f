"""Drill tables: drills (verdict, measured RTO/RPO, objectives), their timeline, and action items.

Repository functions live beside the tables; they take a Session so callers
choose the transaction. Times are aware UTC datetimes; durations are seconds.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Index, Integer, String, Text, select
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship

from opskeeper.config.secrets import redact
from opskeeper.ledger.base import Base, UTCDateTime, stamp
from opskeeper.ledger.core import Run, RunStatus, StepResult
from opskeeper.ledger.db import Ledger


class DrillStatus(StrEnum):
    RUNNING = "running"
    PASS = "pass"
    FAIL = "fail"
    ABORTED = "aborted"  # refused or stopped before the fault: nothing measured
    CANCELLED = "cancelled"  # stopped on purpose: Ctrl-C, SIGTERM, Prefect's cancellation
    ERROR = "error"  # stopped by an unexpected exception (a bug, a lost ledger): a failure, never a pass


class ItemStatus(StrEnum):
    OPEN = "open"
    CLOSED = "closed"


class Drill(Base):
    __tablename__ = "drills"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    scenario: Mapped[str] = mapped_column(String(64))
    customer_id: Mapped[str] = mapped_column(String(64))
    system_id: Mapped[str] = mapped_column(String(64))
    run_id: Mapped[int | None] = mapped_column(ForeignKey("runs.id", ondelete="SET NULL"))
    flow_run_id: Mapped[str | None] = mapped_column(String(64))
    triggered_by: Mapped[str | None] = mapped_column(String(128))
    approved_by: Mapped[str | None] = mapped_column(String(128))
    force_window: Mapped[bool] = mapped_column(Boolean, default=False)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=stamp)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(16), default=DrillStatus.RUNNING)
    score: Mapped[int | None] = mapped_column(Integer)
    rto_s: Mapped[float | None] = mapped_column(Float)
    rpo_s: Mapped[float | None] = mapped_column(Float)
    rto_target_s: Mapped[float | None] = mapped_column(Float)
    rpo_target_s: Mapped[float | None] = mapped_column(Float)
    reason: Mapped[str | None] = mapped_column(Text)
    evaluation: Mapped[dict | None] = mapped_column(JSON)  # checks, findings, margins (report input)

    events: Mapped[list[DrillEvent]] = relationship(
        back_populates="drill", order_by="DrillEvent.id", cascade="all, delete-orphan"
    )

    __table_args__ = (Index("ix_drills_customer_scenario", "customer_id", "scenario", "started_at"),)


class DrillEvent(Base):
    __tablename__ = "drill_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    drill_id: Mapped[int] = mapped_column(ForeignKey("drills.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    ok: Mapped[bool] = mapped_column(Boolean, default=True)
    duration_s: Mapped[float | None] = mapped_column(Float)
    detail: Mapped[str] = mapped_column(Text, default="")

    drill: Mapped[Drill] = relationship(back_populates="events")


class ActionItem(Base):
    __tablename__ = "drill_action_items"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    customer_id: Mapped[str] = mapped_column(String(64))
    scenario: Mapped[str] = mapped_column(String(64))
    fingerprint: Mapped[str] = mapped_column(String(128))
    severity: Mapped[str] = mapped_column(String(16))
    title: Mapped[str] = mapped_column(Text)
    detail: Mapped[str] = mapped_column(Text, default="")
    owner: Mapped[str] = mapped_column(String(128))
    due: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(16), default=ItemStatus.OPEN)
    opened_by_drill: Mapped[int] = mapped_column(ForeignKey("drills.id", ondelete="CASCADE"))
    last_seen_drill: Mapped[int] = mapped_column(Integer)
    closed_by_drill: Mapped[int | None] = mapped_column(Integer)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime, default=stamp)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (Index("ix_drill_items_open", "customer_id", "scenario", "status"),)


# -- repository -----------------------------------------------------------------------------------------


def get_drill(s: Session, drill_id: int) -> Drill | None:
    return s.get(Drill, drill_id)


def list_drills(
    s: Session, *, customer: str | None = None, scenario: str | None = None, limit: int = 200
) -> list[Drill]:
    q = select(Drill).order_by(Drill.started_at.desc(), Drill.id.desc()).limit(limit)
    if customer:
        q = q.where(Drill.customer_id == customer)
    if scenario:
        q = q.where(Drill.scenario == scenario)
    return list(s.execute(q).scalars())


def history(s: Session, customer: str, scenario: str, *, upto_id: int | None = None) -> list[Drill]:
    """Finished drills (pass, fail, error) of one scenario for one customer, oldest first (the report's trend)."""
    q = (
        select(Drill)
        .where(Drill.customer_id == customer, Drill.scenario == scenario)
        .where(Drill.status.in_([DrillStatus.PASS, DrillStatus.FAIL, DrillStatus.ERROR]))
        .order_by(Drill.started_at, Drill.id)
    )
    if upto_id is not None:
        q = q.where(Drill.id <= upto_id)
    return list(s.execute(q).scalars())


def last_passes(s: Session, customer: str) -> dict[str, datetime]:
    """Scenario -> start of its newest passing drill for the customer (fail, error, cancelled never count)."""
    out: dict[str, datetime] = {}
    q = select(Drill.scenario, Drill.started_at).where(
        Drill.customer_id == customer, Drill.status == DrillStatus.PASS
    )
    for scenario, started in s.execute(q):
        if scenario not in out or started > out[scenario]:
            out[scenario] = started
    return out


def open_items(s: Session, customer: str, scenario: str) -> list[ActionItem]:
    q = select(ActionItem).where(
        ActionItem.customer_id == customer,
        ActionItem.scenario == scenario,
        ActionItem.status == ItemStatus.OPEN,
    )
    return list(s.execute(q.order_by(ActionItem.id)).scalars())


def list_items(
    s: Session, *, customer: str | None = None, only_open: bool = False, drill_id: int | None = None
) -> list[ActionItem]:
    q = select(ActionItem).order_by(ActionItem.id)
    if customer:
        q = q.where(ActionItem.customer_id == customer)
    if only_open:
        q = q.where(ActionItem.status == ItemStatus.OPEN)
    if drill_id is not None:
        q = q.where(
            (ActionItem.opened_by_drill == drill_id)
            | (ActionItem.closed_by_drill == drill_id)
            | (ActionItem.last_seen_drill == drill_id)
        )
    return list(s.execute(q).scalars())


# -- commands and queries for opskeeper.drills: each opens its own short transaction ------------------------
# A drill killed half-way keeps everything written up to the kill (the timeline is the evidence).


@dataclass(frozen=True)
class NewItem:
    fingerprint: str
    severity: str
    title: str
    detail: str
    owner: str
    due: datetime


@dataclass(frozen=True)
class OpenItem:
    id: int
    fingerprint: str


@dataclass(frozen=True)
class ItemChanges:
    opened: tuple[NewItem, ...]
    closed: tuple[int, ...]  # ids closed by this (passing) drill
    still_open: tuple[int, ...]  # ids whose finding this drill saw again


@dataclass(frozen=True)
class DrillMeasures:
    """What a drill's evaluation puts on its row: score, measured and target RTO/RPO, the evaluation itself."""

    score: int
    rto_s: float | None
    rpo_s: float | None
    rto_target_s: float
    rpo_target_s: float
    evaluation: dict[str, Any]


def start_drill(
    ledger: Ledger, *, scenario: str, customer: str, system: str, triggered_by: str, force_window: bool,
    flow_run_id: str | None, owner: str,
) -> tuple[int, int]:  # fmt: skip
    """The drill row and its run row (owned by ``owner``, so a killed drill is found and closed). (drill, run)"""
    with ledger.session() as s:
        run = Run(kind="drill", cadence=scenario, customer_id=customer, system_id=system, trigger="manual",
                  triggered_by=triggered_by, flow_run_id=flow_run_id, force_window=force_window,
                  owner=owner)  # fmt: skip
        s.add(run)
        s.flush()
        drill = Drill(scenario=scenario, customer_id=customer, system_id=system, run_id=run.id,
                      flow_run_id=flow_run_id, triggered_by=triggered_by, force_window=force_window)  # fmt: skip
        s.add(drill)
        s.flush()
        return drill.id, run.id


def add_event(ledger: Ledger, drill_id: int, *, kind: str, at: datetime, ok: bool, duration_s: float | None,
              detail: str) -> None:
    with ledger.session() as s:
        s.add(DrillEvent(drill_id=drill_id, kind=kind, at=at, ok=ok, duration_s=duration_s, detail=detail))


def add_step(ledger: Ledger, run_id: int, rec: Any, detail: dict[str, Any] | None) -> None:
    """One step result of a drill's run (``rec``: an engine StepRecord; ``detail`` already made JSON-safe)."""
    with ledger.session() as s:
        s.add(StepResult(run_id=run_id, runbook=rec.runbook, step=rec.step, host=rec.host, started_at=rec.started_at,
                         ended_at=rec.ended_at, duration_s=rec.duration_s, status=rec.status.value,
                         attempts=rec.attempts, exit_code=rec.exit_code, output=rec.output, error=rec.error,
                         detail=detail))  # fmt: skip


def set_approver(ledger: Ledger, drill_id: int, approver: str) -> None:
    with ledger.session() as s:
        drill = s.get(Drill, drill_id)
        assert drill is not None
        drill.approved_by = approver


def open_items_of(ledger: Ledger, customer: str, scenario: str) -> list[OpenItem]:
    with ledger.session() as s:
        return [OpenItem(i.id, i.fingerprint) for i in open_items(s, customer, scenario)]


_RUN_STATUS_OF = {DrillStatus.PASS: RunStatus.OK, DrillStatus.CANCELLED: RunStatus.CANCELLED,
                  DrillStatus.ABORTED: RunStatus.SKIPPED}


def finish_drill(
    ledger: Ledger, drill_id: int, *, status: DrillStatus, reason: str | None, measures: DrillMeasures | None,
    changes: ItemChanges | None, now: datetime,
) -> None:  # fmt: skip
    """The verdict on the drill and its run, and the action items it opened, closed or saw again: one transaction."""
    with ledger.session() as s:
        drill = s.get(Drill, drill_id)
        assert drill is not None
        drill.status, drill.reason, drill.ended_at = status.value, reason, now
        if measures is not None:
            drill.score, drill.rto_s, drill.rpo_s = measures.score, measures.rto_s, measures.rpo_s
            drill.rto_target_s, drill.rpo_target_s = measures.rto_target_s, measures.rpo_target_s
            drill.evaluation = measures.evaluation
        run = s.get(Run, drill.run_id) if drill.run_id else None
        if run is not None:
            run.ended_at, run.reason = now, reason
            run.status = _RUN_STATUS_OF.get(status, RunStatus.FAILED).value
            run.summary = {"drill_id": drill_id, "verdict": status.value, "score": drill.score}
        if changes is not None:
            _apply_item_changes(s, drill, changes, now)


def _apply_item_changes(s: Session, drill: Drill, changes: ItemChanges, now: datetime) -> None:
    for item_id in changes.closed:
        item = s.get(ActionItem, item_id)
        assert item is not None
        item.status, item.closed_by_drill, item.closed_at, item.last_seen_drill = (
            ItemStatus.CLOSED.value, drill.id, now, drill.id)
    for item_id in changes.still_open:
        seen = s.get(ActionItem, item_id)
        assert seen is not None
        seen.last_seen_drill = drill.id
    for new in changes.opened:
        s.add(ActionItem(customer_id=drill.customer_id, scenario=drill.scenario, fingerprint=new.fingerprint,
                         severity=new.severity, title=new.title, detail=redact(new.detail), owner=new.owner,
                         due=new.due, opened_by_drill=drill.id, last_seen_drill=drill.id, opened_at=now))  # fmt: skip


# -- queries for the CLI ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class DrillSummary:
    """One line of ``opskeeper drill list``."""

    id: int
    scenario: str
    customer: str
    status: str
    score: int | None
    started_at: datetime
    rto_s: float | None
    rto_target_s: float | None
    rpo_s: float | None
    rpo_target_s: float | None
    approved_by: str | None


def drill_summaries(ledger: Ledger, *, customer: str | None = None) -> list[DrillSummary]:
    """Past drills, newest first (``list_drills``)."""
    with ledger.session() as s:
        return [
            DrillSummary(d.id, d.scenario, d.customer_id, d.status, d.score, d.started_at, d.rto_s,
                         d.rto_target_s, d.rpo_s, d.rpo_target_s, d.approved_by)
            for d in list_drills(s, customer=customer)
        ]  # fmt: skip


@dataclass(frozen=True)
class ItemSummary:
    """One line of ``opskeeper drill actions``."""

    id: int
    customer: str
    scenario: str
    severity: str
    title: str
    owner: str
    due: datetime
    status: str
    opened_by_drill: int | None
    closed_by_drill: int | None


def item_summaries(ledger: Ledger, *, customer: str | None = None, only_open: bool = False) -> list[ItemSummary]:
    """Action items in id order (``list_items``)."""
    with ledger.session() as s:
        return [
            ItemSummary(i.id, i.customer_id, i.scenario, i.severity, i.title, i.owner, i.due, i.status,
                        i.opened_by_drill, i.closed_by_drill)
            for i in list_items(s, customer=customer, only_open=only_open)
        ]  # fmt: skip


def last_passes_of(ledger: Ledger, customer: str) -> dict[str, datetime]:
    """``last_passes`` in its own transaction: scenario -> start of its newest passing drill."""
    with ledger.session() as s:
        return last_passes(s, customer)


def last_drill_started(ledger: Ledger, customer: str, scenario: str) -> datetime | None:
    """When the newest drill of this scenario for this customer began (a refused one too), or None."""
    with ledger.session() as s:
        last = list_drills(s, customer=customer, scenario=scenario, limit=1)
    return last[0].started_at if last else None
