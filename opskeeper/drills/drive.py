"""Drive a drill through its phases: directly (CLI, demo, tests) or as Prefect tasks (the flow).

Refusals raise before any fault. Once the fault has started, cleanup always runs: after a
failure, after Ctrl-C, after SIGTERM (CLI, demo) or Prefect's own termination signal.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from opskeeper.config.estate import Estate
from opskeeper.drills.context import DrillRequest, ExecutorFactory, default_executor
from opskeeper.drills.errors import ApprovalRefused, DrillRefused
from opskeeper.drills.evaluate import Phase
from opskeeper.drills.runner import DrillResult, DrillRun, Hooks, quietly
from opskeeper.drills.timeline import Event
from opskeeper.ledger import Ledger

PhaseCall = Callable[[str, Callable[[], object]], object]
"""How a phase is run: directly (CLI, demo) or as a Prefect task (the flow): ``call(name, fn)``."""


def _direct(name: str, fn: Callable[[], object]) -> object:
    return fn()


def drive(run: DrillRun, call: PhaseCall = _direct) -> DrillResult:
    """The phases in order. Refusals raise before any fault; once the fault has started, cleanup always runs."""
    try:
        call("preflight", run.preflight)
        _notice(run, "drill_started")
        if call("steady-state-before", lambda: run.steady_state(Phase.BEFORE)):
            call("approval", run.approve)
            if call("inject-fault", run.inject):
                call("detect", run.detect)
                if call("recover", run.recover):
                    call("verify", run.verify)
                call("steady-state-after", lambda: run.steady_state(Phase.AFTER))
    except (DrillRefused, ApprovalRefused):
        run.close()
        raise
    except BaseException:  # failure or cancellation (KeyboardInterrupt, Prefect's TerminationSignal)
        if run.timeline.has(Event.FAULT_STARTED):
            run.cleanup()
        run.finish(cancelled=True)
        raise
    if run.timeline.has(Event.FAULT_STARTED):
        call("cleanup", run.cleanup)
    result = run.finish()
    _notice(run, "drill_completed")
    return result


class Terminated(KeyboardInterrupt):
    """SIGTERM during a drill (a cancelled job, a stopped service): handled like Ctrl-C, so cleanup runs."""


@contextmanager
def sigterm_interrupts() -> Iterator[None]:
    """In the main thread, turn SIGTERM into ``Terminated`` for the duration (CLI, demo; Prefect has its own)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def _raise(signum: int, frame: object) -> None:
        raise Terminated(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, _raise)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def run_drill(
    estate: Estate, request: DrillRequest, *, ledger: Ledger | None = None, hooks: Hooks | None = None,
    executor_factory: ExecutorFactory = default_executor,
) -> DrillResult:  # fmt: skip
    """Run one drill to its verdict without Prefect (CLI, demo, tests)."""
    ledger = ledger or Ledger.open()
    run = DrillRun(estate, request, ledger=ledger, hooks=hooks, executor_factory=executor_factory)
    with sigterm_interrupts():
        return drive(run)


def _notice(run: DrillRun, event: str) -> None:
    if run.hooks.notice:
        quietly(lambda: run.hooks.notice(run, event))  # type: ignore[misc]
