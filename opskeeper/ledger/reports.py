"""The ledger rows the reports read: the monthly report, the drill report and the evidence pack.

Each query reads in one transaction (one consistent view of the ledger) and returns a frozen bundle of
detached rows, loaded in full (relationships the reports read are loaded eagerly), in the order the
report shows them. The reports assemble, filter and scrub; they open no session.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session, selectinload

from opskeeper.ledger import audit as audit_chain
from opskeeper.ledger.audit import AuditEntry, AuditHead, AuditProblem
from opskeeper.ledger.backup import BackupSnapshot
from opskeeper.ledger.core import HealthSample, Run, SlaBreach
from opskeeper.ledger.db import Ledger
from opskeeper.ledger.drills import ActionItem, Drill, DrillEvent, get_drill, history, list_items
from opskeeper.ledger.findings import Finding, SecurityScan
from opskeeper.ledger.notify import Notification

# -- the monthly report -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class MonthRange:
    """One report month: its name (``2026-11``) and its instants [start, end) in UTC."""

    month: str
    start: datetime
    end: datetime


@dataclass(frozen=True)
class MonthlyRows:
    runs: tuple[Run, ...]  # maintenance runs of the month, steps loaded
    health: tuple[HealthSample, ...]
    snapshots: tuple[BackupSnapshot, ...]  # the customer's whole catalog
    restores: tuple[AuditEntry, ...]  # backup.restore entries of the month (any customer's)
    findings: tuple[Finding, ...]  # first seen before the month's end
    scans: tuple[SecurityScan, ...]  # scored, started before the month's end, by host and time
    drills: tuple[Drill, ...]
    notices: tuple[Notification, ...]  # created in the month
    breaches: tuple[SlaBreach, ...]  # all of the customer's
    breached_notices: tuple[Notification, ...]  # every breached notification of the customer, by id
    items: tuple[ActionItem, ...]  # opened before the month's end, by due date


def monthly_rows(ledger: Ledger, customer: str, systems: Sequence[str], metrics: Sequence[str],
                 m: MonthRange) -> MonthlyRows:
    """What the monthly report of ``customer`` for month ``m`` is built from."""
    with ledger.session() as s:
        return MonthlyRows(
            runs=_month_runs(s, customer, m),
            health=tuple(s.scalars(
                select(HealthSample)
                .where(HealthSample.customer_id == customer, HealthSample.metric.in_(list(metrics)))
                .where(HealthSample.taken_at >= m.start, HealthSample.taken_at < m.end)
                .order_by(HealthSample.taken_at, HealthSample.id))),
            snapshots=_customer_snapshots(s, customer, systems),
            restores=tuple(s.scalars(
                select(AuditEntry).where(AuditEntry.action == "backup.restore", AuditEntry.at >= m.start,
                                         AuditEntry.at < m.end).order_by(AuditEntry.seq))),
            findings=tuple(s.scalars(
                select(Finding).where(Finding.customer_id == customer, Finding.first_seen < m.end))),
            scans=tuple(s.scalars(
                select(SecurityScan)
                .where(SecurityScan.customer_id == customer, SecurityScan.score.is_not(None))
                .where(SecurityScan.started_at < m.end)
                .order_by(SecurityScan.host, SecurityScan.started_at, SecurityScan.id))),
            drills=tuple(s.scalars(
                select(Drill).where(Drill.customer_id == customer, Drill.started_at >= m.start,
                                    Drill.started_at < m.end).order_by(Drill.started_at, Drill.id))),
            notices=tuple(s.scalars(
                select(Notification).where(Notification.customer_id == customer,
                                           Notification.created_at >= m.start, Notification.created_at < m.end)
                .order_by(Notification.created_at, Notification.id))),
            breaches=tuple(s.scalars(select(SlaBreach).where(SlaBreach.customer_id == customer))),
            breached_notices=tuple(s.scalars(
                select(Notification).where(Notification.customer_id == customer,
                                           Notification.breached_at.is_not(None)).order_by(Notification.id))),
            items=tuple(s.scalars(
                select(ActionItem).where(ActionItem.customer_id == customer, ActionItem.opened_at < m.end)
                .order_by(ActionItem.due, ActionItem.id))),
        )  # fmt: skip


def _month_runs(s: Session, customer: str, m: MonthRange) -> tuple[Run, ...]:
    q = (
        select(Run).options(selectinload(Run.steps))
        .where(Run.kind == "maintenance", Run.customer_id == customer, Run.dry_run.is_(False))
        # A monthly run belongs to the month it was for (its period); a quarterly or annual run, to the
        # month it ran in. Never to the month a test or a late worker happened to stamp on it.
        .where(or_(
            Run.period == m.month,
            and_(Run.cadence != "monthly", Run.started_at >= m.start, Run.started_at < m.end),
        ))
        .order_by(Run.started_at, Run.id)
    )  # fmt: skip
    return tuple(s.scalars(q))


def _customer_snapshots(s: Session, customer: str, systems: Sequence[str]) -> tuple[BackupSnapshot, ...]:
    q = select(BackupSnapshot).where(
        (BackupSnapshot.customer_id == customer) | BackupSnapshot.system_id.in_(list(systems))
    )
    return tuple(s.scalars(q.order_by(BackupSnapshot.taken_at, BackupSnapshot.id)))


# -- the drill report -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DrillRows:
    drill: Drill
    events: tuple[DrillEvent, ...]  # its timeline, in order
    history: tuple[Drill, ...]  # finished drills of the scenario for the customer up to this one
    items: tuple[ActionItem, ...]  # items this drill opened, closed or saw again


def drill_rows(ledger: Ledger, drill_id: int) -> DrillRows | None:
    """What the report of one drill is built from; None when there is no such drill."""
    with ledger.session() as s:
        d = get_drill(s, drill_id)
        if d is None:
            return None
        return DrillRows(d, tuple(d.events), tuple(history(s, d.customer_id, d.scenario, upto_id=d.id)),
                         tuple(list_items(s, customer=d.customer_id, drill_id=d.id)))


# -- the evidence pack ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AuditExport:
    """The whole audit trail, its verification and its head, read in one transaction."""

    entries: tuple[AuditEntry, ...]  # in chain order
    checked: int
    problems: tuple[AuditProblem, ...]
    head_seq: int
    head_hash: str
    verified_at: datetime


@dataclass(frozen=True)
class EvidenceRows:
    """Every row of one customer the evidence pack exports or names (the pack picks its range)."""

    audit: AuditExport
    runs: tuple[Run, ...]  # by id, steps loaded
    drills: tuple[Drill, ...]  # by id
    notifications: tuple[Notification, ...]  # by id
    findings: tuple[Finding, ...]  # by id
    scans: tuple[SecurityScan, ...]  # by id
    snapshots: tuple[BackupSnapshot, ...]  # the customer's whole catalog, by time


def evidence_rows(ledger: Ledger, customer: str, systems: Sequence[str]) -> EvidenceRows:
    with ledger.session() as s:
        return EvidenceRows(
            audit=_audit_export(s, ledger),
            runs=tuple(s.scalars(select(Run).options(selectinload(Run.steps))
                                 .where(Run.customer_id == customer).order_by(Run.id))),
            drills=tuple(s.scalars(select(Drill).where(Drill.customer_id == customer).order_by(Drill.id))),
            notifications=tuple(s.scalars(select(Notification).where(Notification.customer_id == customer)
                                          .order_by(Notification.id))),
            findings=tuple(s.scalars(select(Finding).where(Finding.customer_id == customer).order_by(Finding.id))),
            scans=tuple(s.scalars(select(SecurityScan).where(SecurityScan.customer_id == customer)
                                  .order_by(SecurityScan.id))),
            snapshots=_customer_snapshots(s, customer, systems),
        )  # fmt: skip


def _audit_export(s: Session, ledger: Ledger) -> AuditExport:
    checked, problems = audit_chain.verify(s)
    head = s.execute(select(AuditHead.seq, AuditHead.hash).where(AuditHead.id == 1)).one_or_none()
    entries = tuple(s.scalars(select(AuditEntry).order_by(AuditEntry.seq)))
    return AuditExport(entries, checked, tuple(problems), head.seq if head else 0,
                       head.hash if head else audit_chain.GENESIS, ledger.now())
