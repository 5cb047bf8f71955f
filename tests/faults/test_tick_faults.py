"""House rule 4 for the tick: killed between claiming a dispatch and starting the flow.

The dispatch row (inserted first, so two ticks never start the same work) used to block its window
for good when the tick died right after inserting it. Now a claim whose work never appeared in the
ledger within STALE_CLAIM is taken over by a later tick, once.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from sqlalchemy import select, update

from flows.tick import _drill_seen
from opskeeper import scheduling
from opskeeper.ledger import Ledger, utcnow
from opskeeper.ledger.audit import AuditEntry
from opskeeper.ledger.core import Dispatch, Run, RunStatus
from opskeeper.ledger.drills import Drill
from tests.faults.estates import always_open, example_estate
from tests.faults.procs import PYTHON, finish, spawn
from tests.faults.test_maintenance_faults import _outbox, _steps

# The real tick flow in its own process, ``argv[2]`` minutes later than now through the tick's clock seam
# (flows.tick.SYSTEM). With ``die``, the process SIGKILLs itself the instant its maintenance claim has
# committed: kill -9 exactly between claiming and starting, not somewhere near it.
TICK = r"""
import os, signal, sys
from datetime import timedelta
import flows.tick
from opskeeper import scheduling
from opskeeper.clock import SYSTEM, AnchoredClock
flows.tick.SYSTEM = AnchoredClock(SYSTEM.now() + timedelta(minutes=int(sys.argv[2])))
real_claim = scheduling.claim
def claim(ledger, kind, *key, **kw):
    won = real_claim(ledger, kind, *key, **kw)
    if won and kind == "maintenance" and sys.argv[3] == "die":
        os.kill(os.getpid(), signal.SIGKILL)
    return won
scheduling.claim = claim
print(flows.tick.tick(config=sys.argv[1]))
"""


def _tick(estate: Path, env: dict[str, str], minutes_later: int, then: str = "live") -> tuple[int, str]:
    return finish(spawn([PYTHON, "-c", TICK, str(estate), str(minutes_later), then], env))


def _dispatches(ledger: Ledger) -> list[Dispatch]:
    with ledger.session() as s:
        return list(s.scalars(select(Dispatch).where(Dispatch.kind == "maintenance")))


def _maintenance_runs(ledger: Ledger) -> list[Run]:
    with ledger.session() as s:
        return list(s.scalars(select(Run).where(Run.kind == "maintenance")))


def test_tick_killed_between_claim_and_start(
    tmp_path: Path, opskeeper_home: Path, cli_env: dict[str, str]
) -> None:
    estate = always_open(example_estate(tmp_path, opskeeper_home, sleep_s=0))
    ledger = Ledger.open()
    rc, out = _tick(estate, cli_env, 0, "die")
    assert rc == -9, out
    [claim] = _dispatches(ledger)
    assert _maintenance_runs(ledger) == [] and ledger.verify_audit()[1] == []
    key = (claim.kind, claim.customer_id, claim.subject, claim.slot)

    def seen(since):  # type: ignore[no-untyped-def]
        return any(r.started_at >= since for r in _maintenance_runs(ledger))

    # A fresh claim may belong to a live tick that is starting the work: nobody takes it over.
    assert not scheduling.claim(ledger, *key, work_seen=seen)
    # A tick once the claim is stale (STALE_CLAIM later) takes it over and starts the work, once.
    rc, out = _tick(estate, cli_env, 20)
    assert rc == 0 and "volga/monthly (ran in-process)" in out, out
    [run] = _maintenance_runs(ledger)
    assert run.status == RunStatus.OK and run.trigger == "tick", run.reason
    assert [(s.step, s.status) for s in _steps(ledger, run.id)] == [
        ("first", "ok"),
        ("slow", "ok"),
        ("last", "ok"),
    ]
    assert len(_dispatches(ledger)) == 1
    with ledger.session() as s:
        assert s.scalars(
            select(AuditEntry.subject).where(AuditEntry.action == "dispatch.reclaimed")
        ).all() == ["/".join(key)]
    # The work appeared: later ticks start nothing, and the claim is never taken over again, however old.
    rc, out = _tick(estate, cli_env, 40)
    assert rc == 0 and "volga/monthly" not in out, out
    assert len(_maintenance_runs(ledger)) == 1 and len(_dispatches(ledger)) == 1
    with ledger.session() as s:
        s.execute(update(Dispatch).values(dispatched_at=utcnow() - scheduling.STALE_CLAIM * 2))
    assert not scheduling.claim(ledger, *key, work_seen=seen)
    told = _outbox(opskeeper_home)
    assert told["maintenance_started"] == 1 and told["maintenance_completed"] == 1, told
    assert ledger.verify_audit()[1] == []


def test_a_dead_ticks_drill_claim_is_taken_over_once_the_drill_never_began(opskeeper_home: Path) -> None:
    ledger = Ledger.open()
    key = ("drill", "volga", "data-corruption", "2026-11-29T00:00:00+00:00")
    seen = _drill_seen(ledger, "volga", "data-corruption")
    assert scheduling.claim(ledger, *key, work_seen=seen)  # the tick that then died
    assert not scheduling.claim(ledger, *key, work_seen=seen)  # fresh: maybe a live tick starting it
    with ledger.session() as s:
        s.execute(
            update(Dispatch).values(dispatched_at=utcnow() - scheduling.STALE_CLAIM - timedelta(minutes=1))
        )
    assert scheduling.claim(ledger, *key, work_seen=seen)  # stale and no drill began: taken over
    with ledger.session() as s:  # this time the drill began
        s.add(Drill(scenario="data-corruption", customer_id="volga", system_id="tms"))
        s.execute(update(Dispatch).values(dispatched_at=utcnow() - scheduling.STALE_CLAIM * 2))
    assert not scheduling.claim(ledger, *key, work_seen=seen)  # however old, never again
