"""Which 'running' runs the reaper closes: dead owners, recycled pids; never a live owner's run."""

from __future__ import annotations

import os
import socket
import subprocess
from datetime import timedelta

import pytest

from opskeeper.clock import SYSTEM
from opskeeper.ledger import Ledger
from opskeeper.ledger import runs as ledger_runs
from opskeeper.ledger.core import Run, RunStatus


def _running(ledger: Ledger, pid: int, started_ago: timedelta) -> int:
    with ledger.session() as s:
        run = Run(kind="maintenance", customer_id="volga", cadence="monthly", status=RunStatus.RUNNING,
                  started_at=SYSTEM.now() - started_ago, owner=f"{socket.gethostname()}:{pid}")  # fmt: skip
        s.add(run)
        s.flush()
        return run.id


@pytest.mark.wallclock  # a recycled pid is told by the kernel's process start time, which faketime leaves real
def test_reaper_dead_and_recycled_pids() -> None:
    ledger = Ledger.open()
    gone = subprocess.Popen(["true"])
    gone.wait()
    newer = subprocess.Popen(["sleep", "30"])  # born after the run below started: its pid was recycled
    try:
        dead = _running(ledger, gone.pid, timedelta(minutes=1))
        recycled = _running(ledger, newer.pid, timedelta(minutes=1))
        alive = _running(ledger, os.getpid(), timedelta(seconds=0))
        reaped = ledger_runs.reap_abandoned(ledger, SYSTEM.now())
    finally:
        newer.kill()
        newer.wait()
    assert sorted(reaped) == sorted([dead, recycled])
    assert ledger_runs.get_run(ledger, alive).status == RunStatus.RUNNING  # type: ignore[union-attr]
    assert ledger_runs.get_run(ledger, dead).status == RunStatus.ABANDONED  # type: ignore[union-attr]
