"""Drill freshness: a customer whose scenario has not passed within the tier's drill period is flagged."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from opskeeper.config.estate import Customer, Estate


@dataclass(frozen=True)
class Freshness:
    customer: str
    scenario: str
    last_pass: datetime | None
    due_by: datetime | None  # None: never passed, due now
    overdue: bool


def scenarios_of(customer: Customer) -> list[str]:
    """Scenarios the customer's systems list, in order, without repeats."""
    out: list[str] = []
    for system in customer.systems:
        out += [d for d in system.drills if d not in out]
    return out


def freshness(
    estate: Estate, customer: Customer, last_passes: Mapping[str, datetime], now: datetime
) -> list[Freshness]:
    every: timedelta = estate.tier_of(customer).drill_every
    out = []
    for scenario in scenarios_of(customer):
        last = last_passes.get(scenario)
        due = last + every if last else None
        out.append(Freshness(customer.id, scenario, last, due, due is None or due <= now))
    return out


def due_drills(estate: Estate, last_passes_of: Callable[[str], Mapping[str, datetime]], now: datetime,
               customer: str | None = None) -> list[Freshness]:
    """What the tick should start: every scenario whose last pass is older than the tier's drill period.

    ``last_passes_of(customer_id)`` reads the ledger (``opskeeper.ledger.drills.last_passes``); the
    tick still checks the window, blackouts and the drill notice before starting ``dr_drill``.
    """
    out: list[Freshness] = []
    for c in estate.customers:
        if customer is None or c.id == customer:
            out += [f for f in freshness(estate, c, last_passes_of(c.id), now) if f.overdue]
    return out
