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
import weakref
from typing import Any

from sqlalchemy import Engine, event, select, update

from opskeeper.ledger.base import utcnow
from opskeeper.ledger.core import Run, RunStatus

log = logging.getLogger(__name__)

DEFAULT_INTERVAL_S = 60.0
_MISSES = 3


def interval_s() -> float:
    try:
        return max(0.05, float(os.environ.get("OPSKEEPER_HEARTBEAT_S", DEFAULT_INTERVAL_S)))
    except ValueError:
        return DEFAULT_INTERVAL_S


class _Beater:
    """The process's heartbeat thread and the runs it beats for, per ledger engine."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        # run id -> beats that did not find it yet (its insert may not be committed)
        self._runs: weakref.WeakKeyDictionary[Engine, dict[int, int]] = weakref.WeakKeyDictionary()
        self._thread: threading.Thread | None = None
        self._pid = os.getpid()

    def add(self, engine: Engine, run_id: int) -> None:
        with self._lock:
            if self._pid != os.getpid():  # a forked child: the parent's thread did not come along
                self._runs, self._thread, self._pid = weakref.WeakKeyDictionary(), None, os.getpid()
            self._runs.setdefault(engine, {})[run_id] = 0
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._loop, name="opskeeper-heartbeat", daemon=True)
                self._thread.start()

    def _loop(self) -> None:
        while True:
            threading.Event().wait(interval_s())
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
                status = dict(conn.execute(select(Run.id, Run.status).where(Run.id.in_(ids))).tuples().all())
                running = [i for i, st in status.items() if st == RunStatus.RUNNING]
                if running:
                    conn.execute(update(Run)  # never a beat after the run finished
                                 .where(Run.id.in_(running), Run.status == RunStatus.RUNNING)
                                 .values(heartbeat_at=utcnow()))
        except Exception as e:  # the ledger is away for now: the next beat tries again
            log.warning("heartbeat for runs %s failed: %s", sorted(ids), type(e).__name__)
            return
        with self._lock:
            current = self._runs.get(engine, {})
            for run_id in ids & current.keys():
                if run_id not in status:  # not committed yet, or rolled back: give up after a few beats
                    current[run_id] += 1
                if status.get(run_id, RunStatus.RUNNING) != RunStatus.RUNNING or current[run_id] > _MISSES:
                    del current[run_id]  # finished, abandoned or never committed: no more beats


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
    connection.info.pop(_PENDING, None)
