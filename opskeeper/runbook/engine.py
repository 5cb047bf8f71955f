"""Run a runbook's steps on one host: render, gate, execute with retries, judge, roll back, record.

Every step leaves a ``StepRecord`` handed to ``on_record`` as soon as it ends (the
caller writes it to the ledger), so a crash mid-runbook loses nothing done before it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from opskeeper.calendar import blackout_at, window_open_at
from opskeeper.checks.health import Sample
from opskeeper.clock import AnchoredClock, Clock
from opskeeper.config.estate import Customer, Estate, Host, System
from opskeeper.config.secrets import redact, redact_data
from opskeeper.config.step import OnFailure, Step
from opskeeper.errors import OpskeeperError
from opskeeper.ledger import Ledger
from opskeeper.ledger.core import StepStatus
from opskeeper.ledger.runs import DONE_IN_RUN, done_in_run
from opskeeper.remote.interface import CommandResult, Executor, ExecutorError
from opskeeper.runbook import actions
from opskeeper.runbook.expect import Observed, judge
from opskeeper.runbook.resume import ROLLBACK_SUFFIX, StepKey
from opskeeper.runbook.templating import TemplateError, evaluate, render_command

OUTPUT_KEEP = 16 * 1024  # characters of output kept per step in the ledger


@dataclass(frozen=True)
class StepRecord:
    runbook: str
    step: str
    host: str
    started_at: datetime
    ended_at: datetime
    status: StepStatus
    attempts: int = 1
    exit_code: int | None = None
    output: str = ""
    error: str | None = None
    detail: dict[str, Any] | None = None
    samples: tuple[Sample, ...] = ()
    verdict: str | None = None  # what the expectations said, passed or not ("200 = 200")

    @property
    def duration_s(self) -> float:
        return (self.ended_at - self.started_at).total_seconds()

    @property
    def done_in_run(self) -> int | None:
        """The earlier run that did this step, when this run did not repeat it."""
        return done_in_run(self.detail)

    @property
    def held(self) -> bool:
        """Not run because the gate held it back: the window, a blackout, or no approval (not a dry run)."""
        return self.status is StepStatus.SKIPPED and (self.detail or {}).get(HELD) is True


HELD = "held"  # the detail key of a step the gate held back


def done_earlier(book: str, step: str, host: str, at: datetime, run_id: int) -> StepRecord:
    """The record of a step a re-run did not repeat: done by ``run_id`` earlier in the period."""
    return StepRecord(book, step, host, at, at, StepStatus.SKIPPED, 0, output=f"done earlier by run {run_id}",
                      detail={DONE_IN_RUN: run_id})  # fmt: skip


@dataclass(frozen=True)
class Attempt:
    """One try of a step, before retries are counted and the record is written."""

    status: StepStatus
    exit_code: int | None = None
    output: str = ""
    error: str | None = None
    detail: dict[str, Any] | None = None
    samples: tuple[Sample, ...] = ()
    verdict: str | None = None


@dataclass(frozen=True)
class Gate:
    """What this run may do: gated steps need an open window, some need a named approver."""

    window_open: bool
    window_reason: str = ""
    approved_by: str | None = None
    dry_run: bool = False
    # Look at the customer's calendar again before each gated step: a run that started in its window
    # must not go on with destructive work after the window closed or a blackout began.
    recheck: bool = False


@dataclass
class HostTarget:
    estate: Estate
    customer: Customer
    system: System
    host: Host
    executor: Executor
    now: datetime  # the run's time when this host starts
    ledger: Ledger | None = None
    run_id: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    # Steps are stamped by this clock; by default one that starts at ``now`` and runs on in real time.
    clock: Clock | None = None


def selects(selector: str, host: Host) -> bool:
    if selector == "all":
        return True
    if selector == "primary":
        return host.role == "primary"
    kind, _, value = selector.partition(":")
    return {"role": host.role == value, "host": host.name == value, "label": value in host.labels}.get(
        kind, False
    )


def template_context(t: HostTarget) -> dict[str, Any]:
    return {
        "customer": t.customer,
        "system": t.system,
        "host": t.host,
        "optimisation": t.system.optimisation,
        "services": t.system.services,
        "now": t.now,
        **t.extra,
    }


def _clip(text: str) -> str:
    text = redact(text)
    return (
        text
        if len(text) <= OUTPUT_KEEP
        else text[:OUTPUT_KEEP] + f"\n... [{len(text) - OUTPUT_KEEP} more chars]"
    )


class HostRun:
    """Executes steps on one host and reports each as it ends."""

    def __init__(self, target: HostTarget, gate: Gate, on_record: Callable[[StepRecord], None]) -> None:
        self.t, self.gate, self.on_record = target, gate, on_record
        self.records: list[StepRecord] = []
        self._done: list[tuple[str, Step]] = []  # completed steps, for rollback
        self.clock: Clock = target.clock or AnchoredClock(target.now)

    def run(self, steps: Sequence[tuple[str, Step]], done: Mapping[StepKey, int] | None = None) -> list[StepRecord]:
        """Run ``steps``; those in ``done`` (done by an earlier run of the period, see runbook.resume) are
        recorded as done earlier and not repeated."""
        ctx = template_context(self.t)
        for book, step in steps:
            if not selects(step.on, self.t.host):
                continue
            if (earlier := (done or {}).get((book, step.name))) is not None:
                self._emit(done_earlier(book, step.name, self.t.host.name, self.clock.now(), earlier))
                self._done.append((book, step))  # still in effect: a later failure's rollback undoes it too
                continue
            record = self._one(book, step, ctx)
            if record.status is StepStatus.OK:
                self._done.append((book, step))
                continue
            if record.status not in (StepStatus.FAILED, StepStatus.ERROR):
                continue
            if step.on_failure is OnFailure.CONTINUE:
                continue
            if step.on_failure is OnFailure.ROLLBACK:
                self._rollback(book, step, ctx)
            break
        return self.records

    def step(self, book: str, step: Step) -> list[StepRecord]:
        """Run one more step on this host, after those run before (a drill phase goes step by step across
        hosts); its records. A rollback undoes this host's earlier steps too."""
        before = len(self.records)
        self.run([(book, step)])
        return self.records[before:]

    def _emit(self, record: StepRecord) -> StepRecord:
        self.records.append(record)
        # Written as it ends, so a crash later loses nothing; the writer raises only LedgerError.
        self.on_record(record)
        return record

    def _skip(self, book: str, step: Step, why: str, held: bool = False) -> StepRecord:
        now = self.clock.now()
        return self._emit(StepRecord(book, step.name, self.t.host.name, now, now, StepStatus.SKIPPED, 0,
                                     output=why, detail={HELD: True} if held else None))  # fmt: skip

    def _one(self, book: str, step: Step, ctx: dict[str, Any]) -> StepRecord:
        where = f"runbook {book}, step {step.name!r}"
        try:
            if step.when and not evaluate(step.when, ctx, where):
                return self._skip(book, step, f"condition false: {step.when}")
            command = render_command(step.run, ctx, where) if step.run else None
        except TemplateError as e:
            now = self.clock.now()
            return self._emit(
                StepRecord(book, step.name, self.t.host.name, now, now, StepStatus.ERROR, 0, error=str(e))
            )
        held = not self.gate.dry_run  # a dry run holds nothing back: it runs nothing anyway
        if step.gated and not self.gate.window_open:
            return self._skip(book, step, f"needs a maintenance window: {self.gate.window_reason}", held)
        at = self.clock.now()
        if step.gated and self.gate.recheck and (closed := closed_now(self.t.customer, at)):
            return self._skip(book, step, closed, held)
        if step.requires_approval and not self.gate.approved_by:
            return self._skip(book, step, "needs an approval (none given)", held)
        if self.gate.dry_run:
            return self._skip(book, step, f"dry run: would run {command or 'action ' + str(step.action)}")
        return self._execute(book, step, command)

    def _execute(self, book: str, step: Step, command: str | None) -> StepRecord:
        started = self.clock.now()
        attempt, last = 0, None
        while attempt <= step.retries:
            attempt += 1
            last = self._attempt(step, command)
            if last.status is StepStatus.OK:
                break
            if attempt <= step.retries:
                time.sleep(step.retry_delay.total_seconds())
        assert last is not None
        return self._emit(
            StepRecord(
                book, step.name, self.t.host.name, started, self.clock.now(), last.status, attempt,
                last.exit_code, _clip(last.output), redact(last.error) if last.error else None,
                redact_data(last.detail), last.samples, redact(last.verdict) if last.verdict else None,
            )
        )  # fmt: skip

    def _attempt(self, step: Step, command: str | None) -> Attempt:
        timeout = step.timeout.total_seconds()
        try:
            if command is not None:
                return self._command(step, command, timeout)
            return self._action(step, timeout)
        except ExecutorError as e:
            return Attempt(StepStatus.ERROR, error=str(e))
        except OpskeeperError as e:
            return Attempt(StepStatus.ERROR, error=f"{type(e).__name__}: {e}")
        except Exception as e:  # noqa: BLE001 - a bug in an action is this step's error, on record
            return Attempt(StepStatus.ERROR, error=f"unexpected {type(e).__name__}: {e}")

    def _command(self, step: Step, command: str, timeout: float) -> Attempt:
        """A command's exit code and output are data: the step's expectations judge them."""
        result: CommandResult = self.t.executor.run(command, timeout=timeout, sudo=self._sudo(step))
        verdict = judge(step.expect, Observed(result.stdout, result.exit_code, is_output=True))
        output = result.stdout + (f"\n[stderr]\n{result.stderr}" if result.stderr.strip() else "")
        detail = {"value": verdict.value} if verdict.value is not None else None
        status = StepStatus.OK if verdict.ok else StepStatus.FAILED
        return Attempt(status, result.exit_code, output, None if verdict.ok else verdict.reason or None,
                       detail, verdict=verdict.reason or None)  # fmt: skip

    def _action(self, step: Step, timeout: float) -> Attempt:
        """A built-in action; with expectations they judge its value (``ok`` when it reports none)."""
        action = actions.get(str(step.action))
        outcome = action(
            actions.ActionContext(
                executor=self.t.executor, estate=self.t.estate, customer=self.t.customer,
                system=self.t.system, host=self.t.host, params=step.params, timeout=timeout,
                sudo=self._sudo(step), now=self.clock.now(), ledger=self.t.ledger, run_id=self.t.run_id,
            )
        )  # fmt: skip
        if not step.expect:
            status = StepStatus.OK if outcome.ok else StepStatus.FAILED
            error = None if outcome.ok else (outcome.output.splitlines() or ["failed"])[-1]
            return Attempt(status, outcome.exit_code, outcome.output, error, outcome.detail, outcome.samples)
        value = (outcome.detail or {}).get("value", outcome.ok)
        verdict = judge(step.expect, Observed(value, outcome.exit_code))
        status = StepStatus.OK if verdict.ok else StepStatus.FAILED
        return Attempt(status, outcome.exit_code, outcome.output, None if verdict.ok else verdict.reason,
                       {**(outcome.detail or {}), "value": value}, outcome.samples, verdict.reason)  # fmt: skip

    def _sudo(self, step: Step) -> bool:
        return step.sudo and (self.t.host.sudo or self.t.host.local)  # only where the estate allows it

    def _rollback(self, book: str, failed: Step, ctx: dict[str, Any]) -> None:
        for b, step in [(book, failed), *reversed(self._done)]:
            if not step.rollback:
                continue
            started = self.clock.now()
            name = f"{step.name}{ROLLBACK_SUFFIX}"
            try:
                cmd = render_command(step.rollback, ctx, f"runbook {b}, rollback of {step.name!r}")
                res = self.t.executor.run(cmd, timeout=step.timeout.total_seconds(), sudo=self._sudo(step))
                status = StepStatus.ROLLED_BACK if res.ok else StepStatus.ERROR
                self._emit(StepRecord(b, name, self.t.host.name, started, self.clock.now(), status, 1, res.exit_code,
                                      _clip(res.stdout + res.stderr)))  # fmt: skip
            except (ExecutorError, TemplateError) as e:
                self._emit(StepRecord(b, name, self.t.host.name, started, self.clock.now(), StepStatus.ERROR, 1,
                                      error=redact(str(e))))  # fmt: skip


def closed_now(customer: Customer, at: datetime) -> str | None:
    """Why gated work may not start at ``at`` (a blackout began, the window closed), or None."""
    blackout = blackout_at(customer.blackouts, customer.timezone, at)
    if blackout is not None:
        return f"a blackout began during the run: {blackout.reason}"
    if window_open_at(customer, at) is None:
        return "the maintenance window closed during the run"
    return None


def host_status(records: Sequence[StepRecord]) -> StepStatus:
    """OK unless any step failed or errored."""
    if any(r.status in (StepStatus.FAILED, StepStatus.ERROR) for r in records):
        return StepStatus.FAILED
    return StepStatus.OK
