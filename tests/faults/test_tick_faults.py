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
from tests.faults.procs import PYTHON, finish, kill_group, spawn, wait_for

TICK = "import sys; from flows.tick import tick; print(tick(config=sys.argv[1]))"


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
    proc = spawn([PYTHON, "-c", TICK, str(estate)], cli_env)
    wait_for("the maintenance dispatch", lambda: bool(_dispatches(ledger)), 120, proc)
    kill_group(proc)
    [claim] = _dispatches(ledger)
    assert _maintenance_runs(ledger) == [], "killed too late: the run had started"
    key = (claim.kind, claim.customer_id, claim.subject, claim.slot)

    def seen(since):  # type: ignore[no-untyped-def]
        return any(r.started_at >= since for r in _maintenance_runs(ledger))

    # A fresh claim may belong to a live tick that is starting the work: nobody takes it over.
    assert not scheduling.claim(ledger, *key, work_seen=seen)
    # Later (time passes: the claim is backdated), the next tick takes it over and starts the work.
    with ledger.session() as s:
        s.execute(update(Dispatch).where(Dispatch.id == claim.id)
                  .values(dispatched_at=utcnow() - scheduling.STALE_CLAIM - timedelta(minutes=1)))  # fmt: skip
    rc, out = finish(spawn([PYTHON, "-c", TICK, str(estate)], cli_env))
    assert rc == 0 and "volga/monthly (ran in-process)" in out, out
    [run] = _maintenance_runs(ledger)
    assert run.status == RunStatus.OK and run.trigger == "tick", run.reason
    assert len(_dispatches(ledger)) == 1
    with ledger.session() as s:
        assert s.scalar(
            select(AuditEntry.subject).where(AuditEntry.action == "dispatch.reclaimed")
        ) == "/".join(key)
    # The work appeared: the claim is never taken over again, however old.
    with ledger.session() as s:
        s.execute(update(Dispatch).values(dispatched_at=utcnow() - scheduling.STALE_CLAIM * 2))
    assert not scheduling.claim(ledger, *key, work_seen=seen)
    assert ledger.verify_audit()[1] == []


def test_a_dead_ticks_drill_claim_is_taken_over_once_the_drill_never_began(opskeeper_home: Path) -> None:
    ledger = Ledger.open()
    key = ("drill", "volga", "data-corruption", "2026-11-29T00:00:00+00:00")
    seen = _drill_seen(ledger, "volga", "data-corruption")
    assert scheduling.claim(ledger, *key, work_seen=seen)  # the tick that then died
    assert not scheduling.claim(ledger, *key, work_seen=seen)  # fresh: maybe a live tick starting it
    with ledger.session() as s:
        s.execute(update(Dispatch).values(dispatched_at=utcnow() - scheduling.STALE_CLAIM - timedelta(minutes=1)))
    assert scheduling.claim(ledger, *key, work_seen=seen)  # stale and no drill began: taken over
    with ledger.session() as s:  # this time the drill began
        s.add(Drill(scenario="data-corruption", customer_id="volga", system_id="tms"))
        s.execute(update(Dispatch).values(dispatched_at=utcnow() - scheduling.STALE_CLAIM * 2))
    assert not scheduling.claim(ledger, *key, work_seen=seen)  # however old, never again
