"""What a simulation reads back from its ledger and the drill passes it records (opskeeper simulate)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from opskeeper.ledger.core import Dispatch, SlaBreach
from opskeeper.ledger.db import Ledger
from opskeeper.ledger.drills import Drill, DrillStatus


@dataclass(frozen=True)
class MissedPeriod:
    """A maintenance SLA breach: ``subject`` is the cadence."""

    customer_id: str
    subject: str
    period: str
    reason: str


@dataclass(frozen=True)
class SimulationRecords:
    breaches: list[MissedPeriod]
    drills: list[tuple[str, str, datetime]]  # customer, scenario, started
    claims: list[tuple[str, str, str, str]]  # dispatch rows: customer, subject, slot, kind


def simulation_records(ledger: Ledger) -> SimulationRecords:
    """The maintenance breaches, drills and dispatch claims, read in one transaction."""
    with ledger.session() as s:
        breaches = s.scalars(select(SlaBreach).where(SlaBreach.kind == "maintenance"))
        missed = [MissedPeriod(b.customer_id, b.subject, b.period, b.reason) for b in breaches]
        drills = [
            (r[0], r[1], r[2]) for r in s.execute(select(Drill.customer_id, Drill.scenario, Drill.started_at))
        ]
        claims = [
            (r[0], r[1], r[2], r[3])
            for r in s.execute(select(Dispatch.customer_id, Dispatch.subject, Dispatch.slot, Dispatch.kind))
        ]
    return SimulationRecords(missed, drills, claims)


def record_simulated_drill(
    ledger: Ledger, customer_id: str, system_id: str, scenario: str, now: datetime
) -> None:
    """A drill that "ran" and passed in a simulation (nothing was touched)."""
    with ledger.session() as s:
        s.add(Drill(scenario=scenario, customer_id=customer_id, system_id=system_id, triggered_by="simulate",
                    started_at=now, ended_at=now, status=DrillStatus.PASS, reason="simulated"))  # fmt: skip
