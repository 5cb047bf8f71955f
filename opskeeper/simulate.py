"""``opskeeper simulate``: years of ticks in simulated time, on a throwaway ledger, no host contacted.

Each simulated tick calls what the tick flow calls: ``scheduling.plan_tick``, ``claim``,
``maintenance.run_customer`` (with a host runner that touches nothing and succeeds, or fails at
``fail_rate``), ``record_covered``, ``send_maintenance_notices`` (through a channel that delivers
nowhere), ``record_missed`` and ``plan_drills``. Time is a :class:`FixedClock`. Between ticks where
nothing happened, time jumps to the next instant the planner says something can change
(``TickPlan.wake_at``: a notice falling due, a window opening or closing, a period ending), rounded
up to the tick grid, so ten years take seconds, not 1,051,200 ticks. What it prints comes from the
ledger afterwards (``opskeeper.simulate_report``).
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from opskeeper import scheduling
from opskeeper.calendar import PlannedRun
from opskeeper.clock import FixedClock
from opskeeper.config.drills import Audience
from opskeeper.config.estate import Estate
from opskeeper.config.runbook import RunbookSet, load_runbooks
from opskeeper.config.types import parse_duration
from opskeeper.drills import notices as drill_notices
from opskeeper.drills.scenarios import find_scenario
from opskeeper.errors import InputError
from opskeeper.ledger import Ledger
from opskeeper.ledger.core import StepStatus
from opskeeper.ledger.planning import all_last_passes, record_covered
from opskeeper.ledger.simulation import record_simulated_drill
from opskeeper.maintenance import HostJob, HostResult, Trigger, run_customer
from opskeeper.notify.interface import Channel, Message
from opskeeper.notify.notices import send_maintenance_notices
from opskeeper.notify.service import Notifier

TICK = scheduling.TICK_EVERY


@dataclass(frozen=True)
class Outage:
    """The scheduler is down from ``start`` for ``duration``: no tick runs."""

    start: datetime
    duration: timedelta

    @property
    def end(self) -> datetime:
        return self.start + self.duration

    @classmethod
    def parse(cls, spec: str) -> Outage:
        """``2027-03-01T00:00Z/14d``: an ISO start with a zone, a slash, a duration (``36h``, ``2w``)."""
        start_s, sep, length = spec.partition("/")
        if not sep:
            raise InputError(f"--outage: expected START/DURATION like 2027-03-01T00:00Z/14d, got {spec!r}")
        start = parse_time(start_s, "--outage")
        try:
            duration = parse_duration(length)
        except (ValueError, TypeError) as e:
            raise InputError(f"--outage {spec!r}: bad duration {length!r} (use e.g. 36h, 14d, 2w)") from e
        if duration <= timedelta(0):
            raise InputError(f"--outage {spec!r}: the duration must be positive")
        return cls(start, duration)


def parse_time(value: str, option: str) -> datetime:
    """An ISO date (midnight UTC) or time with a zone; naive times are refused, never guessed."""
    text = value.strip()
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        text += "T00:00+00:00"
    try:
        at = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as e:
        raise InputError(f"{option}: expected a date like 2027-01-01 or a time like 2027-01-01T09:00Z, "
                         f"got {value!r}") from e  # fmt: skip
    if at.tzinfo is None:
        raise InputError(f"{option}: give a UTC offset or 'Z' (e.g. {value}Z); got naive time {value!r}")
    return FixedClock(at).now()


@dataclass(frozen=True)
class Simulation:
    start: datetime
    end: datetime
    outages: tuple[Outage, ...] = ()
    fail_rate: float = 0.0
    seed: int = 0

    def __post_init__(self) -> None:
        if self.end <= self.start:
            raise InputError("--to must be after --from")
        if not 0.0 <= self.fail_rate <= 1.0:
            raise InputError(f"--fail-rate: expected a probability between 0 and 1, got {self.fail_rate}")


class _Nowhere(Channel):
    """Delivers every message nowhere: a simulated notice is on record, never in anyone's inbox."""

    name = "simulated"

    def send(self, message: Message) -> None:
        return None


@dataclass
class World:
    estate: Estate
    sim: Simulation
    ledger: Ledger
    clock: FixedClock
    runbooks: RunbookSet
    rng: random.Random
    notifier: Notifier = field(default_factory=lambda: Notifier(channel_factory=lambda _e, _t: _Nowhere()))
    silent: set[str] = field(default_factory=set)
    scenarios: dict[str, object] = field(default_factory=dict)


def world(estate: Estate, sim: Simulation, ledger: Ledger, clock: FixedClock) -> World:
    """A simulated scheduler over ``ledger`` (which must stamp by ``clock``); :func:`step` ticks it."""
    w = World(estate, sim, ledger, clock, load_runbooks(estate.runbooks_dir), random.Random(sim.seed))
    names = {d for c in estate.customers for s in c.systems for d in s.drills}
    for name in names:
        scenario = find_scenario(name, estate.runbooks_dir)
        w.scenarios[name] = scenario
        if scenario.audience is not Audience.ANNOUNCED:
            w.silent.add(name)
    return w


def run(estate: Estate, sim: Simulation, workdir: Path) -> Ledger:
    """Drive the tick from ``sim.start`` to ``sim.end``; the ledger in ``workdir`` holds what happened."""
    clock = FixedClock(sim.start)
    ledger = Ledger.open(f"sqlite:///{workdir / 'simulated-ledger.sqlite'}", clock=clock)
    simulated = world(estate, sim, ledger, clock)
    t = sim.start
    while t < sim.end:
        down = next((o for o in sim.outages if o.start <= t < o.end), None)
        if down is not None:
            t = _on_grid(sim.start, down.end)
            continue
        acted, wake = step(simulated, t)
        t = t + TICK if acted else next_tick(sim, t, wake)
    return ledger


def next_tick(sim: Simulation, t: datetime, wake: datetime | None) -> datetime:
    """The first tick on the grid at or after the next instant something can change."""
    targets = [sim.end] + ([wake] if wake else []) + [o.start for o in sim.outages if o.start > t]
    return max(t + TICK, _on_grid(sim.start, min(targets)))


def _on_grid(origin: datetime, at: datetime) -> datetime:
    steps = -(-(at - origin) // TICK)  # ceiling: never before ``at``
    return origin + steps * TICK


def step(w: World, now: datetime) -> tuple[bool, datetime | None]:
    """One tick at ``now``, as flows/tick.py does it: whether anything happened, and when to look again."""
    w.clock.set(now)
    plan = scheduling.plan_tick(w.estate, w.ledger, now)
    acted = False
    for run_ in plan.due:
        assert run_.window is not None
        if scheduling.claim(w.ledger, "maintenance", run_.customer_id, run_.cadence.value,
                            run_.window.start.isoformat(), now=now):  # fmt: skip
            _run_maintenance(w, run_, now)
            acted = True
    for customer_id, cadence, period, by in plan.covered:
        record_covered(w.ledger, customer_id, cadence.value, period, by, now)
        acted = True
    if plan.planned and send_maintenance_notices(w.estate, w.ledger, now, plan.planned, w.notifier):
        acted = True
    for c, cadence, period in plan.missed:
        acted |= scheduling.record_missed(
            w.ledger, c, cadence, period, plan.reasons.get((c, cadence, period), "")
        )
    drilled, drill_wake = _drills(w, now)
    wakes = [x for x in (plan.wake_at, drill_wake) if x is not None]
    return acted or drilled, min(wakes) if wakes else None


def _run_maintenance(w: World, planned: PlannedRun, now: datetime) -> None:
    failed = w.rng.random() < w.sim.fail_rate

    def runner(jobs: Sequence[HostJob]) -> list[HostResult]:
        status = StepStatus.ERROR if failed else StepStatus.OK
        return [
            HostResult(j.host_name, j.system_id, status, 1, ("simulated",) if failed else ()) for j in jobs
        ]

    customer = w.estate.customer(planned.customer_id)
    run_customer(w.estate, w.runbooks, w.ledger, customer, planned.cadence, runner=runner, now=now,
                 trigger=Trigger("simulate", "scheduler"))  # fmt: skip


def _drills(w: World, now: datetime) -> tuple[bool, datetime | None]:
    acted = False
    wakes: list[datetime] = []
    passes = all_last_passes(w.ledger)
    for p in scheduling.plan_drills(w.estate, w.ledger, now, w.silent):
        slot = p.window.start.isoformat()
        notice = w.estate.tier_of(w.estate.customer(p.customer_id)).maintenance_notice
        if p.announce:
            drill_notices.scheduled(w.estate, w.ledger, p.customer_id, w.scenarios[p.scenario],  # type: ignore[arg-type]
                                    p.window.start, p.window.end, notifier=w.notifier)  # fmt: skip
            acted |= scheduling.claim(w.ledger, "drill-notice", p.customer_id, p.scenario, slot, now=now)
        if p.start and scheduling.claim(w.ledger, "drill", p.customer_id, p.scenario, slot, now=now):
            _record_drill(w, p.customer_id, p.scenario, now)
            acted = True
        wakes += [t for t in (p.window.start - notice - scheduling.ANNOUNCE_AHEAD, p.window.start) if t > now]
    for c in w.estate.customers:
        every = w.estate.tier_of(c).drill_every
        wakes += [at + every for at in passes.get(c.id, {}).values() if at + every > now]
    return acted, min(wakes) if wakes else None


def _record_drill(w: World, customer_id: str, scenario: str, now: datetime) -> None:
    """A drill that ran and passed (nothing was touched): its freshness resets as a real pass would."""
    customer = w.estate.customer(customer_id)
    system = next(s for s in customer.systems if scenario in s.drills)
    record_simulated_drill(w.ledger, customer_id, system.id, scenario, now)
