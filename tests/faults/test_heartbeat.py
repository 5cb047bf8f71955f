"""A run on another machine in a step that takes hours keeps beating and is never reaped; once its
process is killed, the beats stop and the reaper closes it after the silence."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from opskeeper.clock import SYSTEM
from opskeeper.ledger import Ledger, heartbeat
from opskeeper.ledger import runs as ledger_runs
from opskeeper.ledger.core import Run, RunStatus

# A worker elsewhere (its owner names another machine, so no pid check can help) that started
# three hours ago and is still in one long step.
WORKER = """
import sys, time
from datetime import timedelta
from opskeeper.clock import SYSTEM
from opskeeper.ledger import Ledger
from opskeeper.ledger import runs
from opskeeper.ledger.core import Run
ledger = Ledger.open()
run_id = runs.start_run(ledger, runs.NewRun("maintenance", "volga", "monthly", period="2026-11"))
with ledger.session() as s:
    run = s.get(Run, run_id)
    run.owner, run.started_at = "worker-on-another-machine:4242", SYSTEM.now() - timedelta(hours=3)
print(run_id, flush=True)
time.sleep(600)
"""


def _heartbeat(ledger: Ledger, run_id: int) -> datetime | None:
    with ledger.session() as s:
        return s.get_one(Run, run_id).heartbeat_at


def _next_beat(ledger: Ledger, run_id: int, after: datetime | None) -> datetime:
    for _ in range(600):  # the worker beats every 0.1 s; allow a loaded machine a minute
        beat = _heartbeat(ledger, run_id)
        if beat is not None and (after is None or beat > after):
            return beat
        time.sleep(0.1)
    raise AssertionError(f"run {run_id}: no heartbeat after {after}")


def test_long_step_elsewhere_is_not_reaped_until_its_process_dies() -> None:
    ledger = Ledger.open()
    env = {**os.environ, "OPSKEEPER_HEARTBEAT_S": "0.1"}
    worker = subprocess.Popen([sys.executable, "-c", WORKER], env=env, stdout=subprocess.PIPE, text=True)
    try:
        assert worker.stdout is not None
        run_id = int(worker.stdout.readline())
        first = _next_beat(ledger, run_id, None)
        _next_beat(ledger, run_id, first)  # it keeps beating
        # Three hours since it started and no step has ended, but it beats: not abandoned.
        assert ledger_runs.reap_abandoned(ledger, SYSTEM.now()) == []
        assert ledger_runs.get_run(ledger, run_id).status == RunStatus.RUNNING  # type: ignore[union-attr]
    finally:
        worker.send_signal(signal.SIGKILL)
        worker.wait()
    last = _heartbeat(ledger, run_id)
    assert last is not None
    assert ledger_runs.reap_abandoned(ledger, last + timedelta(minutes=9)) == []  # silent, not yet for long
    assert ledger_runs.reap_abandoned(ledger, last + timedelta(minutes=11)) == [run_id]
    assert ledger_runs.get_run(ledger, run_id).status == RunStatus.ABANDONED  # type: ignore[union-attr]


def test_a_finished_run_stops_beating() -> None:
    env = {**os.environ, "OPSKEEPER_HEARTBEAT_S": "0.1"}
    code = ("from opskeeper.ledger import Ledger, runs\n"
            "from opskeeper.ledger.core import Run, RunStatus\n"
            "import time\n"
            "l = Ledger.open()\n"
            "r = runs.start_run(l, runs.NewRun('maintenance', 'volga', 'monthly', period='2026-11'))\n"
            "def beat():\n"
            "    with l.session() as s:\n"
            "        return s.get_one(Run, r).heartbeat_at\n"
            "while beat() is None:\n"
            "    time.sleep(0.05)\n"
            "runs.finish_run(l, r, RunStatus.OK)\n"
            "last = beat()\n"
            "time.sleep(1)\n"  # ten beats' time
            "print(last == beat(), flush=True)\n")  # fmt: skip
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "True"


def _beating(ledger: Ledger) -> set[int]:
    return set(heartbeat._BEATER._runs.get(ledger.engine, {}))


def test_beats_only_for_runs_whose_insert_was_committed() -> None:
    ledger = Ledger.open()
    with pytest.raises(RuntimeError), ledger.session() as s:  # the insert is rolled back
        s.add(Run(kind="maintenance", customer_id="volga", status=RunStatus.RUNNING))
        s.flush()
        rolled_back = s.scalars(select(Run.id)).one()
        raise RuntimeError("abandon the transaction")
    assert rolled_back not in _beating(ledger)  # SQLite may give its id to another process's run
    kept = ledger_runs.start_run(ledger, ledger_runs.NewRun("maintenance", "volga", "monthly", period="2026-11"))
    assert kept in _beating(ledger)
    ledger_runs.finish_run(ledger, kept, RunStatus.OK)
