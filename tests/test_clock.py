"""The one clock: tests of the seam, and a guard that nothing else in the product reads the wall clock."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from opskeeper.clock import SYSTEM, AnchoredClock, ClockError, FixedClock, anchored
from opskeeper.ledger import Ledger
from opskeeper.ledger import runs as ledger_runs
from opskeeper.ledger.core import RunStatus

REPO = Path(__file__).resolve().parents[1]
AT = datetime(2031, 3, 30, 0, 50, tzinfo=UTC)  # ten minutes before Europe springs forward

# Where reading the wall clock is the point, each with why. Everything else asks a Clock.
WALL_CLOCK_ALLOWED = {
    "opskeeper/clock.py": "the one clock",
    "opskeeper/checks/facts_probe.py": "runs on the target host (stdlib only): the host's own clock is a fact",
    "opskeeper/checks/security/gather.py": "runs on the target host (stdlib only): the age of its apt lists",
    "opskeeper/backup/locks.py": "lock liveness between processes sharing a store: real time by design",
    "opskeeper/backup/store/dir.py": "compares real file modification times",
}
WALL_CLOCK = re.compile(r"datetime\.now\(|datetime\.utcnow\(|\butcnow\(|time\.time\(\)|date\.today\(|datetime\.today\(")


def test_fixed_clock_stands_still_until_moved() -> None:
    clock = FixedClock(AT)
    assert clock.now() == AT and clock.now() == AT
    assert clock.advance(timedelta(minutes=10)) == AT + timedelta(minutes=10) == clock.now()
    clock.set(AT - timedelta(days=1))
    assert clock.now() == AT - timedelta(days=1)


def test_anchored_clock_starts_at_its_time_and_runs_on() -> None:
    clock = AnchoredClock(AT)
    first = clock.now()
    time.sleep(0.01)
    second = clock.now()
    assert AT <= first < second < AT + timedelta(seconds=5)
    assert anchored(None) is SYSTEM and isinstance(anchored(AT), AnchoredClock)


def test_naive_times_are_refused() -> None:
    with pytest.raises(ClockError, match="naive"):
        FixedClock(datetime(2031, 3, 30, 0, 50))


def test_a_time_in_another_zone_is_kept_as_the_same_instant() -> None:
    from zoneinfo import ZoneInfo

    berlin = AT.astimezone(ZoneInfo("Europe/Berlin"))
    assert FixedClock(berlin).now() == AT and FixedClock(berlin).now().tzinfo is UTC


def test_the_ledger_stamps_runs_and_audit_entries_by_its_clock(opskeeper_home: Path) -> None:
    clock = FixedClock(AT)
    ledger = Ledger.open(clock=clock)
    run_id = ledger_runs.start_run(ledger, ledger_runs.NewRun("maintenance", "acme", "monthly", period="2031-03"))
    clock.advance(timedelta(minutes=7))
    ledger_runs.finish_run(ledger, run_id, RunStatus.OK)
    run = ledger_runs.get_run(ledger, run_id)
    assert run is not None and (run.started_at, run.ended_at) == (AT, AT + timedelta(minutes=7))
    with ledger.session() as s:
        from sqlalchemy import select

        from opskeeper.ledger.audit import AuditEntry

        last = s.scalars(select(AuditEntry).order_by(AuditEntry.seq.desc()).limit(1)).one()
    assert last.action == "run.finished" and last.at == AT + timedelta(minutes=7)
    # The same database seen through another clock writes that clock's time.
    other = ledger.with_clock(FixedClock(AT + timedelta(days=3)))
    second = ledger_runs.start_run(other, ledger_runs.NewRun("scan", "acme"))
    assert ledger_runs.get_run(ledger, second).started_at == AT + timedelta(days=3)  # type: ignore[union-attr]


def test_nothing_else_reads_the_wall_clock() -> None:
    offenders = []
    for folder in ("opskeeper", "cli", "flows", "tasks", "deployments"):
        for path in sorted((REPO / folder).rglob("*.py")):
            rel = path.relative_to(REPO).as_posix()
            if rel in WALL_CLOCK_ALLOWED:
                continue
            for n, line in enumerate(path.read_text().splitlines(), 1):
                if WALL_CLOCK.search(line.split("#")[0]):
                    offenders.append(f"{rel}:{n}: {line.strip()}")
    assert not offenders, "ask a Clock (opskeeper.clock) instead:\n" + "\n".join(offenders)
