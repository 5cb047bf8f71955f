"""Test helpers: drive the tick's decisions at given instants (no Prefect, no hosts, no wall clock)."""

from __future__ import annotations

from datetime import datetime, timedelta

from opskeeper.clock import FixedClock
from opskeeper.config.estate import Estate
from opskeeper.ledger import Ledger
from opskeeper.ledger import runs as ledger_runs
from opskeeper.ledger.core import RunStatus
from opskeeper.notify.interface import Channel, Message
from opskeeper.notify.notices import send_maintenance_notices
from opskeeper.notify.service import Notifier
from opskeeper.scheduling import TickPlan, plan_tick


class Nowhere(Channel):
    name = "test"

    def send(self, message: Message) -> None:
        return None


QUIET = Notifier(channel_factory=lambda _e, _t: Nowhere())


def at(ledger: Ledger, now: datetime) -> Ledger:
    """The same ledger, stamping rows (notices, runs) at ``now``."""
    return ledger.with_clock(FixedClock(now))


def tick(estate: Estate, ledger: Ledger, now: datetime) -> TickPlan:
    """Plan at ``now`` and send the notices that fell due, as the tick does."""
    stamped = at(ledger, now)
    plan = plan_tick(estate, stamped, now)
    send_maintenance_notices(estate, stamped, now, plan.planned, QUIET)
    return plan


def tick_through(estate: Estate, ledger: Ledger, start: datetime, end: datetime,
                 every: timedelta = timedelta(minutes=5)) -> TickPlan:  # fmt: skip
    """Tick on the ``every`` grid from ``start`` to ``end`` (notices only, nothing runs); the last plan.

    Like ``simulate``, quiet stretches are skipped up to the planner's ``wake_at``.
    """
    now, plan = start, TickPlan()
    while now <= end:
        plan = tick(estate, ledger, now)
        wake = plan.wake_at if not plan.planned and plan.wake_at else now + every
        now += max(every, -(-(wake - now) // every) * every)
    return plan


def record_run(ledger: Ledger, customer: str, cadence: str, period: str, when: datetime,
               status: RunStatus = RunStatus.OK) -> int:  # fmt: skip
    stamped = at(ledger, when)
    run_id = ledger_runs.start_run(stamped, ledger_runs.NewRun("maintenance", customer, cadence, period=period))
    ledger_runs.finish_run(stamped, run_id, status)
    return run_id
