"""The core's threaded runner: order kept, bounded, a crash stays with its job, serial work in order."""

from __future__ import annotations

import threading
import time

import pytest

from opskeeper.remote.fanout import Work, reraise, threaded


def test_results_keep_the_jobs_order_and_a_crash_is_its_jobs_result() -> None:
    def run(n: int) -> str:
        time.sleep(0.05 * (5 - n))  # later jobs finish first
        if n == 2:
            raise ValueError("boom")
        return f"ok {n}"

    work = Work("t", run, label=str, crashed=lambda n, e: f"crashed {n}: {e}")
    assert threaded(8)(work, [0, 1, 2, 3, 4]) == ["ok 0", "ok 1", "crashed 2: boom", "ok 3", "ok 4"]


def test_concurrency_is_bounded() -> None:
    running, peak, lock = [0], [0], threading.Lock()

    def run(_: int) -> None:
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        time.sleep(0.05)
        with lock:
            running[0] -= 1

    threaded(3)(Work("t", run, label=str, crashed=lambda n, e: None), list(range(12)))
    assert peak[0] == 3


def test_serial_work_runs_in_order_and_reraise_stops_it() -> None:
    seen: list[int] = []

    def run(n: int) -> int:
        seen.append(n)
        if n == 2:
            raise OSError("disk full")
        return n

    with pytest.raises(OSError, match="disk full"):
        threaded(8)(Work("t", run, label=str, crashed=reraise, serial=True), [0, 1, 2, 3])
    assert seen == [0, 1, 2]
