"""Scheduled maintenance of a customer's hosts: gate by window and blackout, run the cadence's
runbook on every host, record every step, end ok / partial / failed.

A re-run in the same period resumes (``again=False``, the default, also for the tick's catch-up): the
steps the period's earlier runs did on a host are recorded as done earlier, with the run that did them,
and not repeated (the rule: :mod:`opskeeper.runbook.resume`); a host with nothing left is not connected
to. ``again=True`` (``--again``) repeats everything, on the audit trail.

Pure core: :func:`run_customer` is the one orchestration; a ``HostRunner`` runs the hosts.
The work on one host is :func:`host_work`; the Prefect flow (flows/maintenance.py) runs it
with the Prefect runner (each host a task), the tests and tools with :func:`threaded_runner`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

import opskeeper.drills  # noqa: F401  registers the drill actions a runbook may use
from opskeeper import calendar
from opskeeper.clock import AnchoredClock
from opskeeper.config.estate import Customer, Estate, Host, System
from opskeeper.config.runbook import RunbookSet
from opskeeper.config.step import Step
from opskeeper.config.types import Cadence
from opskeeper.errors import InputError
from opskeeper.ledger import Ledger
from opskeeper.ledger import runs as ledger_runs
from opskeeper.ledger.core import RunStatus, StepStatus
from opskeeper.ledger.locks import lock_url
from opskeeper.remote import connect
from opskeeper.remote.fanout import Runner, Work, threaded
from opskeeper.remote.interface import ExecutorError
from opskeeper.remote.locks import HostBusy, holding
from opskeeper.runbook import resume
from opskeeper.runbook.engine import Gate, HostRun, HostTarget, StepRecord, done_earlier, host_status, selects
from opskeeper.timefmt import fmt_local
from opskeeper.trigger import Trigger

KIND = "maintenance"

__all__ = ["GateDecision", "HostJob", "HostResult", "HostRunner", "MaintenanceResult", "Trigger", "crashed",
           "gate_for", "host_result", "host_runner", "host_work", "overall", "run_customer", "run_host",
           "threaded_runner"]


@dataclass(frozen=True)
class GateDecision:
    allowed: bool
    status: RunStatus | None = None
    reason: str = ""
    window: calendar.Interval | None = None


def gate_for(customer: Customer, now: datetime, force_window: bool) -> GateDecision:
    """May maintenance start now? Blackouts and closed windows block it unless forced."""
    blackout = calendar.blackout_at(customer.blackouts, customer.timezone, now)
    window = calendar.window_open_at(customer, now)
    if force_window:
        if blackout:
            why = f"forced inside blackout '{blackout.reason}'"
        elif window is None:
            why = "forced outside the maintenance window"
        else:
            why = ""
        return GateDecision(True, reason=why, window=window)
    if blackout:
        return GateDecision(False, RunStatus.SKIPPED_BLACKOUT, f"blackout: {blackout.reason}")
    if window is None:
        nxt = calendar.next_open_window(customer, now)
        when = fmt_local(nxt.start, customer.timezone) if nxt else "none within a year"
        return GateDecision(
            False, RunStatus.SKIPPED_WINDOW, f"outside the maintenance window; next opens {when}"
        )
    return GateDecision(True, window=window)


@dataclass(frozen=True)
class HostJob:
    """Everything a worker needs to run one host (picklable names, not live objects)."""

    run_id: int
    customer_id: str
    system_id: str
    host_name: str
    runbook: str
    gate: Gate
    now: datetime | None = None  # the run's clock (tests pin it); None: the real time on the worker
    period: str = ""  # the run's period: what earlier runs of it did on this host is not repeated
    again: bool = False  # repeat everything (--again)


@dataclass(frozen=True)
class HostResult:
    """How one host's maintenance ended: its status, how many steps ran, which failed."""

    host: str
    system: str
    status: StepStatus
    steps: int
    failed: tuple[str, ...] = ()
    error: str | None = None
    done_earlier: int = 0  # of ``steps``: done by earlier runs of the period, not repeated
    earlier_runs: tuple[int, ...] = ()  # the runs that did them
    held: tuple[str, ...] = ()  # steps the gate held back: the window, a blackout, no approval

    @property
    def nothing_left(self) -> bool:
        """Every step of this host was done by earlier runs of the period."""
        return self.steps > 0 and self.done_earlier == self.steps


HostRunner = Callable[[Sequence[HostJob]], list[HostResult]]


@dataclass
class MaintenanceResult:
    customer_id: str
    cadence: str
    run_id: int
    status: RunStatus
    reason: str = ""
    hosts: list[HostResult] = field(default_factory=list)
    again: bool = False  # --again: a full repeat, nothing taken as done earlier

    @property
    def resumed_from(self) -> list[int]:
        """The earlier runs whose steps this run did not repeat."""
        return sorted({r for h in self.hosts for r in h.earlier_runs})

    @property
    def nothing_left(self) -> bool:
        """Earlier runs of the period did every step: this run did (and told) nothing."""
        return bool(self.hosts) and all(h.nothing_left for h in self.hosts)

    def summary(self) -> dict[str, object]:
        return {
            "customer": self.customer_id,
            "cadence": self.cadence,
            "status": str(self.status),
            "reason": self.reason,
            "again": self.again,
            "resumed_from": self.resumed_from,
            "hosts": [
                {"host": h.host, "system": h.system, "status": str(h.status), "steps": h.steps,
                 "failed": list(h.failed), "error": h.error, "done_earlier": h.done_earlier,
                 "earlier_runs": list(h.earlier_runs), "held": list(h.held)}
                for h in self.hosts
            ],
        }  # fmt: skip


def find_host(
    estate: Estate, customer_id: str, system_id: str, host_name: str
) -> tuple[Customer, System, Host]:
    customer = estate.customer(customer_id)
    system = customer.system(system_id)
    return customer, system, system.host(host_name)


def run_host(estate: Estate, runbooks: RunbookSet, ledger: Ledger, job: HostJob) -> HostResult:
    """Connect to one host and run the runbook's steps on it; each step is written as it ends."""
    customer, system, host = find_host(estate, job.customer_id, job.system_id, job.host_name)
    steps: list[tuple[str, Step]] = runbooks.expanded_steps(job.runbook)
    if job.now is not None:  # the run's pinned time travels to the worker: this host's records carry it
        ledger = ledger.with_clock(AnchoredClock(job.now))
    started = ledger.now()
    try:
        executor = connect(host, ledger=ledger, estate=estate)
        executor.connect()  # a refused host key is audited by the SSH layer, with both fingerprints
    except ExecutorError as e:
        return _host_error(ledger, job, system.id, "connect", started, str(e))
    target = HostTarget(
        estate, customer, system, host, executor, now=started, ledger=ledger, run_id=job.run_id
    )
    try:
        # The one host lock (drills take it too): one piece of work per host at a time. It is the
        # ledger's lock, not a Prefect concurrency slot, because it holds wherever the ledger is
        # shared: a CLI run with no Prefect server, several workers on several machines on
        # PostgreSQL (advisory lock); and it dies with its holder (flock, session), so a killed run
        # never leaves a host locked. So we wait for as long as a living holder keeps it.
        with holding(lock_url(ledger), [host.name], owner=f"maintenance run {job.run_id}", timeout=None):
            run = HostRun(target, job.gate, lambda r: ledger_runs.add_step(ledger, job.run_id, r))
            # Read under the lock: a run of the period that held this host until now did steps we must not repeat.
            records = run.run(steps, {} if job.again else done_on_host(ledger, job))
    except HostBusy as e:
        return _host_error(ledger, job, system.id, "lock", started, str(e))
    finally:
        executor.close()  # also when the lock backend could not be reached
    return host_result(host.name, system.id, records)


def done_on_host(ledger: Ledger, job: HostJob) -> resume.Done:
    """The steps the period's other runs left done on the job's host (``runbook.resume``)."""
    marks = ledger_runs.period_steps(ledger, KIND, job.customer_id, job.runbook, job.period, other_than=job.run_id,
                                     host=job.host_name)  # fmt: skip
    return resume.done_steps(marks).get(job.host_name, {})


def host_result(host: str, system: str, records: Sequence[StepRecord]) -> HostResult:
    """How a host ended, from its step records."""
    failed = tuple(r.step for r in records if r.status in (StepStatus.FAILED, StepStatus.ERROR))
    earlier = [r.done_in_run for r in records if r.done_in_run is not None]
    return HostResult(host, system, host_status(records), len(records), failed, done_earlier=len(earlier),
                      earlier_runs=tuple(sorted(set(earlier))), held=tuple(r.step for r in records if r.held))  # fmt: skip


def _host_error(
    ledger: Ledger, job: HostJob, system_id: str, step: str, started: datetime, error: str
) -> HostResult:
    rec = StepRecord(job.runbook, step, job.host_name, started, ledger.now(), StepStatus.ERROR, error=error)
    ledger_runs.add_step(ledger, job.run_id, rec)
    return HostResult(job.host_name, system_id, StepStatus.ERROR, 1, (step,), error)


def host_work(estate: Estate, runbooks: RunbookSet, ledger: Ledger) -> Work[HostJob, HostResult]:
    """One host's maintenance as work for a runner: no retries (a runbook is not repeated blindly)."""
    return Work(
        "maintain-host",
        lambda job: run_host(estate, runbooks, ledger, job),
        label=lambda job: f"{job.runbook}-{job.host_name}",
        crashed=crashed,  # a host that blows up never takes the others down: its failure is its result
    )


def host_runner(runner: Runner, estate: Estate, runbooks: RunbookSet, ledger: Ledger) -> HostRunner:
    """The hosts of a run, each by :func:`host_work`, on ``runner`` (threaded, or Prefect tasks)."""
    work = host_work(estate, runbooks, ledger)
    return lambda jobs: runner(work, jobs)


def threaded_runner(estate: Estate, runbooks: RunbookSet, ledger: Ledger, workers: int = 32) -> HostRunner:
    return host_runner(threaded(workers), estate, runbooks, ledger)


def crashed(job: HostJob, e: BaseException) -> HostResult:
    """The result of a host whose worker blew up: that host's failure, not the run's."""
    return HostResult(job.host_name, job.system_id, StepStatus.ERROR, 0, (), f"{type(e).__name__}: {e}")


def overall(hosts: Sequence[HostResult]) -> RunStatus:
    if not hosts:
        return RunStatus.OK
    good = sum(h.status is StepStatus.OK for h in hosts)
    if good == len(hosts):
        return RunStatus.OK
    return RunStatus.FAILED if good == 0 else RunStatus.PARTIAL


def _nothing_left(
    ledger: Ledger, run_id: int, system_id: str, host: str, done: Sequence[tuple[str, str, int]]
) -> HostResult:
    """A host whose every step was done earlier in the period: on record as such, never connected to."""
    at = ledger.now()
    records = [done_earlier(book, step, host, at, by) for book, step, by in done]
    for rec in records:
        ledger_runs.add_step(ledger, run_id, rec)
    return host_result(host, system_id, records)


def _split_hosts(
    ledger: Ledger, customer: Customer, steps: Sequence[tuple[str, Step]], done: dict[str, resume.Done],
    template: HostJob,
) -> tuple[dict[tuple[str, str], HostResult], list[HostJob]]:  # fmt: skip
    """The hosts with nothing left (each recorded as done earlier, never connected to) and the jobs of
    the others."""
    finished: dict[tuple[str, str], HostResult] = {}
    jobs = []
    for s in customer.systems:
        for h in s.hosts:
            mine = done.get(h.name, {})
            keys = [(book, st.name) for book, st in steps if selects(st.on, h)]
            if keys and all(k in mine for k in keys):
                finished[(s.id, h.name)] = _nothing_left(ledger, template.run_id, s.id, h.name,
                                                         [(*k, mine[k]) for k in keys])  # fmt: skip
                continue
            jobs.append(replace(template, system_id=s.id, host_name=h.name))
    return finished, jobs


def _reason(result: MaintenanceResult, gate: GateDecision, dry_run: bool) -> str:
    parts = ["dry run: nothing was changed" + (f" ({gate.reason})" if gate.reason else "")] if dry_run else (
        [gate.reason] if gate.reason else [])  # fmt: skip
    if result.resumed_from:
        n = sum(h.done_earlier for h in result.hosts)
        runs = ", ".join(str(r) for r in result.resumed_from)
        parts.append(f"resumed: {n} step(s) done earlier by run(s) {runs} not repeated")
    return "; ".join(parts)


def run_customer(
    estate: Estate,
    runbooks: RunbookSet,
    ledger: Ledger,
    customer: Customer,
    cadence: Cadence,
    *,
    runner: HostRunner,
    now: datetime | None = None,
    dry_run: bool = False,
    force_window: bool = False,
    trigger: Trigger = Trigger(),
    approved_by: str | None = None,
    again: bool = False,
) -> MaintenanceResult:
    """One maintenance run for one customer: gate, fan out over hosts, record, conclude.

    Resumes the period's earlier runs (their done steps are not repeated) unless ``again``.
    """
    pinned_now = now  # only a caller-given time travels to the hosts
    if now is not None:  # a run made "at" a given time: its start, steps, samples and end carry that time
        ledger = ledger.with_clock(AnchoredClock(now))
    now = ledger.now()
    if cadence.value not in runbooks:
        raise InputError(f"no runbook named {cadence.value!r} in {estate.runbooks_dir}")
    if cadence not in estate.tier_of(customer).cadences:
        raise InputError(
            f"customer {customer.id}: tier {customer.tier!r} does not include {cadence.value} maintenance"
        )
    period = calendar.period_of(cadence, now, customer.timezone).key
    new = ledger_runs.NewRun(KIND, customer.id, cadence.value, period=period, trigger=trigger.trigger,
                             triggered_by=trigger.by, flow_run_id=trigger.flow_run_id, dry_run=dry_run,
                             force_window=force_window)  # fmt: skip
    gate = gate_for(customer, now, force_window)
    if not gate.allowed and not dry_run:
        assert gate.status is not None
        run_id = ledger_runs.record_skipped(ledger, new, gate.status, gate.reason)
        return MaintenanceResult(customer.id, cadence.value, run_id, gate.status, gate.reason)
    run_id = ledger_runs.start_run(ledger, new)
    if approved_by and not dry_run:
        ledger.audit(approved_by, "maintenance.approved", f"run/{run_id}",
                     {"customer": customer.id, "cadence": cadence.value, "triggered_by": trigger.by or ""})  # fmt: skip
    if again and not dry_run:
        ledger.audit(trigger.by or "unknown", "maintenance.again", f"run/{run_id}",
                     {"customer": customer.id, "cadence": cadence.value, "period": period})  # fmt: skip
    # Read once for all hosts: a host with nothing left is recorded as such and never connected to; the
    # others read their own again under their host lock (run_host).
    done = {} if again else resume.done_steps(
        ledger_runs.period_steps(ledger, KIND, customer.id, cadence.value, period, other_than=run_id)
    )
    step_gate = Gate(
        window_open=gate.allowed,
        window_reason=gate.reason,
        approved_by=approved_by,
        dry_run=dry_run,
        recheck=not force_window,
    )
    result = MaintenanceResult(customer.id, cadence.value, run_id, RunStatus.RUNNING, again=again)
    try:
        finished, jobs = _split_hosts(ledger, customer, runbooks.expanded_steps(cadence.value), done,
                                      HostJob(run_id, customer.id, "", "", cadence.value, step_gate, pinned_now, period, again))  # fmt: skip
        ran = {(j.system_id, j.host_name): r for j, r in zip(jobs, runner(jobs), strict=True)}
        order = [(s.id, h.name) for s in customer.systems for h in s.hosts]
        result.hosts = [finished.get(k) or ran[k] for k in order]
        result.status = overall(result.hosts)
        result.reason = _reason(result, gate, dry_run)
    except Exception as e:
        result.status, result.reason = RunStatus.FAILED, f"run aborted: {type(e).__name__}: {e}"
        raise
    except BaseException as e:  # KeyboardInterrupt, SystemExit, Prefect's cancellation signals
        result.status, result.reason = RunStatus.CANCELLED, f"cancelled ({type(e).__name__})"
        raise
    finally:
        # Written in finally: a crash or cancellation still leaves the run concluded on record.
        ledger_runs.finish_run(ledger, run_id, result.status, result.reason or None, result.summary())
    return result
