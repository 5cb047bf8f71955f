"""Heartbeats of running runs: how the reaper tells a long step from a dead process on another machine.

A process that inserts a ``running`` run beats for it, from one daemon thread, every
``OPSKEEPER_HEARTBEAT_S`` seconds (default 60) until the run is no longer running. The reaper
closes a run only after ``silence`` without a heartbeat or a step, so a three-hour database
optimisation on a worker elsewhere is never taken for dead, and a killed worker's run is found
within minutes instead of hours.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import weakref
from typing import Any

from sqlalchemy import Engine, event, select, update

from opskeeper.clock import SYSTEM
from opskeeper.ledger.core import Run, RunStatus

log = logging.getLogger(__name__)

DEFAULT_INTERVAL_S = 60.0


def interval_s() -> float:
    try:
        return max(0.05, float(os.environ.get("OPSKEEPER_HEARTBEAT_S", DEFAULT_INTERVAL_S)))
    except ValueError:
        return DEFAULT_INTERVAL_S


class _Beater:
    """The process's heartbeat thread and the runs it beats for, per ledger engine."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._runs: weakref.WeakKeyDictionary[Engine, set[int]] = weakref.WeakKeyDictionary()
        self._thread: threading.Thread | None = None
        self._pid = os.getpid()

    def add(self, engine: Engine, run_id: int) -> None:
        with self._lock:
            if self._pid != os.getpid():  # a forked child: the parent's thread did not come along
                self._runs, self._thread, self._pid = weakref.WeakKeyDictionary(), None, os.getpid()
            self._runs.setdefault(engine, set()).add(run_id)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._loop, name="opskeeper-heartbeat", daemon=True)
                self._thread.start()

    def _loop(self) -> None:
        while True:
            time.sleep(interval_s())
            with self._lock:
                work = [(engine, set(ids)) for engine, ids in self._runs.items() if ids]
            if not work:
                with self._lock:
                    if not any(self._runs.values()):
                        self._thread = None
                        return
                continue
            for engine, ids in work:
                self._beat(engine, ids)

    def _beat(self, engine: Engine, ids: set[int]) -> None:
        try:
            with engine.begin() as conn:
                running = set(conn.scalars(
                    select(Run.id).where(Run.id.in_(ids), Run.status == RunStatus.RUNNING)
                ).all())  # fmt: skip
                if running:
                    conn.execute(update(Run)  # never a beat after the run finished
                                 .where(Run.id.in_(running), Run.status == RunStatus.RUNNING)
                                 .values(heartbeat_at=SYSTEM.now()))
        except Exception as e:  # the ledger is away for now: the next beat tries again
            log.warning("heartbeat for runs %s failed: %s", sorted(ids), type(e).__name__)
            return
        with self._lock:  # registered only once committed: a run not running now is finished or reaped
            self._runs.get(engine, set()).difference_update(ids - running)


_BEATER = _Beater()


_PENDING = "opskeeper_runs_to_beat"


@event.listens_for(Run, "after_insert")
def _beat_for_new_run(mapper: Any, connection: Any, target: Run) -> None:
    """Remember the new running run on its connection; beats begin once its insert is committed."""
    if target.status == RunStatus.RUNNING and target.id is not None:
        connection.info.setdefault(_PENDING, []).append(target.id)


@event.listens_for(Engine, "commit")
def _committed(connection: Any) -> None:
    for run_id in connection.info.pop(_PENDING, ()):
        _BEATER.add(connection.engine, run_id)


@event.listens_for(Engine, "rollback")
def _rolled_back(connection: Any) -> None:
    # Never beat for an id that was not kept: SQLite may hand it to another process's run.
    if connection.invalidated:  # the server went away (a restart): its .info is gone with it, nothing pending
        return
    connection.info.pop(_PENDING, None)
