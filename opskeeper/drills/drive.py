"""Drive a drill through its phases: directly (CLI, demo, tests) or as Prefect tasks (the flow).

Refusals raise before any fault. Once the fault has started, cleanup always runs: after a
failure, after Ctrl-C, after SIGTERM (CLI, demo) or Prefect's own termination signal, and
after a crash. A cancellation is recorded as cancelled; a crash (an unexpected exception: a
bug, a lost ledger) as error, with an action item, so it is never mistaken for a pass or a
deliberate stop.
"""

from __future__ import annotations

import concurrent.futures
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from opskeeper.config.estate import Estate
from opskeeper.drills.context import DrillRequest, ExecutorFactory
from opskeeper.drills.errors import ApprovalRefused, DrillCrashed, DrillRefused
from opskeeper.drills.evaluate import Phase
from opskeeper.drills.runner import DrillResult, DrillRun, Hooks, describe_error, quietly
from opskeeper.drills.timeline import Event
from opskeeper.ledger import Ledger
from opskeeper.ledger.locks import lock_url
from opskeeper.remote.locks import holding

PhaseCall = Callable[[str, Callable[[], object]], object]
"""How a phase is run: directly (CLI, demo) or as a Prefect task (the flow): ``call(name, fn)``."""


def _direct(name: str, fn: Callable[[], object]) -> object:
    return fn()


def drive(run: DrillRun, call: PhaseCall = _direct, *,
          cancellations: tuple[type[BaseException], ...] = ()) -> DrillResult:  # fmt: skip
    """The phases in order. Refusals raise before any fault; once the fault has started, cleanup always runs.

    A cancellation (see :func:`is_cancellation`; ``cancellations`` adds the caller's own, e.g. Prefect's
    ``CancelledRun``) is recorded as cancelled and re-raised. Any other exception is a crash: recorded as
    error with an action item, and raised as :class:`DrillCrashed` naming the drill.

    The drill owns its system's hosts while it runs, so no maintenance lands on a host being faulted:
    the one host lock (``opskeeper.remote.locks`` says why it is the ledger's), taken here so the CLI,
    the demo and the Prefect flow all take it; it waits for as long as a living holder keeps a host.
    """
    hosts = [h.name for h in run.target.system.hosts]
    with holding(lock_url(run.ledger), hosts, owner=f"drill {run.drill_id}", timeout=None):
        return _phases(run, call, cancellations)


def _phases(run: DrillRun, call: PhaseCall, cancellations: tuple[type[BaseException], ...]) -> DrillResult:
    phase = "start"

    def step(name: str, fn: Callable[[], object]) -> object:
        nonlocal phase
        phase = name
        return call(name, fn)

    try:
        step("preflight", run.preflight)
        _notice(run, "drill_started")
        if step("steady-state-before", lambda: run.steady_state(Phase.BEFORE)):
            step("approval", run.approve)
            if step("inject-fault", run.inject):
                step("detect", run.detect)
                if step("recover", run.recover):
                    step("verify", run.verify)
                step("steady-state-after", lambda: run.steady_state(Phase.AFTER))
        if run.timeline.has(Event.FAULT_STARTED):
            # Inside the handler: a cleanup interrupted (Ctrl-C, a failed task) is run again below and the
            # drill recorded, instead of staying 'running' until the reaper, half cleaned.
            step("cleanup", run.cleanup)
    except (DrillRefused, ApprovalRefused):
        run.close()
        raise
    except BaseException as e:
        cancelled = is_cancellation(e, cancellations)
        if not cancelled:
            run.crashed(e, phase)
        if run.timeline.has(Event.FAULT_STARTED):
            run.cleanup()
        result = _finish_after(run, e, cancelled=cancelled)
        if cancelled or result is None:
            raise
        _notice(run, "drill_completed")  # the customer heard it start: they hear it ended (failed)
        raise DrillCrashed(f"drill {result.drill_id} stopped by an unexpected error in {phase}: "
                           f"{describe_error(e)}; recorded as error (opskeeper drill show {result.drill_id})") from e
    result = run.finish()
    _notice(run, "drill_completed")
    return result


def _finish_after(run: DrillRun, error: BaseException, *, cancelled: bool) -> DrillResult | None:
    """Record the stopped drill; None when even that fails (the ledger is gone): ``error`` is what to raise."""
    try:
        return run.finish(cancelled=cancelled)
    except Exception as e:  # noqa: BLE001 - the first error is the one to report; this one becomes its note
        run.close()
        error.add_note(f"drill {run.drill_id} could not be recorded: {describe_error(e)}")
        return None


def is_cancellation(error: BaseException, extra: tuple[type[BaseException], ...] = ()) -> bool:
    """Stopped on purpose, not crashed: Ctrl-C and ``Terminated`` (SIGTERM), and every BaseException that
    is not an Exception (Prefect's TerminationSignal and Abort, asyncio's CancelledError, SystemExit)."""
    return not isinstance(error, Exception) or isinstance(error, (concurrent.futures.CancelledError, *extra))


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
    executor_factory: ExecutorFactory | None = None,
) -> DrillResult:  # fmt: skip
    """Run one drill to its verdict without Prefect (CLI, demo, tests)."""
    ledger = ledger or Ledger.open()
    run = DrillRun(estate, request, ledger=ledger, hooks=hooks, executor_factory=executor_factory)
    with sigterm_interrupts():
        return drive(run)


def _notice(run: DrillRun, event: str) -> None:
    if run.hooks.notice:
        quietly(lambda: run.hooks.notice(run, event))  # type: ignore[misc]
