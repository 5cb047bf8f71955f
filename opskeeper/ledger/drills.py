"""Drill tables: drills (verdict, measured RTO/RPO, objectives), their timeline, and action items.

Repository functions live beside the tables; they take a Session so callers
choose the transaction. Times are aware UTC datetimes; durations are seconds.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Index, Integer, String, Text, select
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship

from opskeeper.ledger.base import Base, UTCDateTime, stamp


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
