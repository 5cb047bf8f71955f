"""Core ledger tables: runs, step results, health samples."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from opskeeper.ledger.base import Base, UTCDateTime, stamp


class RunStatus(StrEnum):
    RUNNING = "running"
    OK = "ok"
    PARTIAL = "partial"
    FAILED = "failed"
    SKIPPED_BLACKOUT = "skipped-blackout"
    SKIPPED_WINDOW = "skipped-window"
    SKIPPED = "skipped"
    CANCELLED = "cancelled"
    ABANDONED = "abandoned"  # its process died mid-run (kill -9, power loss); found and closed later

    @property
    def finished(self) -> bool:
        return self is not RunStatus.RUNNING


class StepStatus(StrEnum):
    OK = "ok"
    FAILED = "failed"  # ran; the expectation was not met
    ERROR = "error"  # could not run: transport error, timeout, bad template
    SKIPPED = "skipped"
    ROLLED_BACK = "rolled-back"


class Run(Base):
    __tablename__ = "runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(32))  # maintenance, backup, scan, drill, ...
    cadence: Mapped[str | None] = mapped_column(String(32))
    customer_id: Mapped[str | None] = mapped_column(String(64), index=True)
    system_id: Mapped[str | None] = mapped_column(String(64))
    period: Mapped[str | None] = mapped_column(String(32))  # e.g. 2026-11 for a monthly run
    trigger: Mapped[str] = mapped_column(String(32), default="manual")  # manual, tick, schedule
    triggered_by: Mapped[str | None] = mapped_column(String(128))
    flow_run_id: Mapped[str | None] = mapped_column(String(64))
    owner: Mapped[str | None] = mapped_column(String(128))  # hostname:pid of the process running it
    dry_run: Mapped[bool] = mapped_column(Boolean, default=False)
    force_window: Mapped[bool] = mapped_column(Boolean, default=False)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=stamp)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(32), default=RunStatus.RUNNING)
    reason: Mapped[str | None] = mapped_column(Text)
    summary: Mapped[dict | None] = mapped_column(JSON)
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # see opskeeper.ledger.heartbeat

    steps: Mapped[list[StepResult]] = relationship(
        back_populates="run", order_by="StepResult.id", cascade="all, delete-orphan"
    )

    __table_args__ = (
        Index("ix_runs_kind_customer_period", "kind", "customer_id", "cadence", "period"),
        Index("ix_runs_kind_started", "kind", "started_at"),  # the planner's snapshot reads runs by time
    )


class StepResult(Base):
    __tablename__ = "step_results"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), index=True)
    runbook: Mapped[str] = mapped_column(String(128))
    step: Mapped[str] = mapped_column(String(128))
    host: Mapped[str] = mapped_column(String(128))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime] = mapped_column(UTCDateTime)
    duration_s: Mapped[float] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(32))
    attempts: Mapped[int] = mapped_column(Integer, default=1)
    exit_code: Mapped[int | None] = mapped_column(Integer)
    output: Mapped[str | None] = mapped_column(Text)  # redacted, capped
    error: Mapped[str | None] = mapped_column(Text)
    detail: Mapped[dict | None] = mapped_column(JSON)  # parsed data, e.g. check results

    run: Mapped[Run] = relationship(back_populates="steps")


class HealthSample(Base):
    __tablename__ = "health_samples"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[int | None] = mapped_column(ForeignKey("runs.id", ondelete="SET NULL"))
    customer_id: Mapped[str] = mapped_column(String(64))
    host: Mapped[str] = mapped_column(String(128))
    taken_at: Mapped[datetime] = mapped_column(UTCDateTime, default=stamp)
    metric: Mapped[str] = mapped_column(String(64))  # e.g. disk.used_pct
    subject: Mapped[str] = mapped_column(String(256), default="")  # e.g. the mount point
    value: Mapped[float] = mapped_column(Float)
    unit: Mapped[str] = mapped_column(String(16), default="")

    __table_args__ = (Index("ix_health_host_metric_time", "host", "metric", "taken_at"),)


class SlaBreach(Base):
    """A contract promise missed: a cadence's period ended without a successful run, a deadline passed."""

    __tablename__ = "sla_breaches"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    customer_id: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(32))  # maintenance, notification, drill, ...
    subject: Mapped[str] = mapped_column(String(128))  # e.g. monthly, or a notification id
    period: Mapped[str] = mapped_column(String(32))
    detected_at: Mapped[datetime] = mapped_column(UTCDateTime, default=stamp)
    reason: Mapped[str] = mapped_column(Text)

    __table_args__ = (UniqueConstraint("customer_id", "kind", "subject", "period", name="uq_sla_breach"),)


class Dispatch(Base):
    """The tick started this work for this window: inserted first, so two ticks never start it twice."""

    __tablename__ = "dispatches"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(32))
    customer_id: Mapped[str] = mapped_column(String(64))
    subject: Mapped[str] = mapped_column(String(128))  # cadence, system id, scenario
    slot: Mapped[str] = mapped_column(String(64))  # window start (ISO) or period key
    dispatched_at: Mapped[datetime] = mapped_column(UTCDateTime, default=stamp)
    flow_run_id: Mapped[str | None] = mapped_column(String(64))

    __table_args__ = (UniqueConstraint("kind", "customer_id", "subject", "slot", name="uq_dispatch"),)
