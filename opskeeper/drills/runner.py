"""Run a drill phase by phase: preflight, steady state, fault, detection, recovery, verification, cleanup.

Steps and probes run through the runbook engine (``HostRun``) on the hosts of
their role; every step is written to the ledger as it ends and appears on the
timeline. ``run_drill`` strings the phases together for the CLI and the demo;
the Prefect flow calls the same phases as tasks. Cleanup always runs once the
fault has started, whatever happened after (failure, cancellation).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from opskeeper.calendar import blackout_at
from opskeeper.config.drills import role_of
from opskeeper.config.estate import Estate, Host
from opskeeper.config.secrets import redact
from opskeeper.config.step import Mark, OnFailure, Probe, Step
from opskeeper.config.types import FindingSeverity
from opskeeper.drills import record
from opskeeper.drills.backups import SystemBackups
from opskeeper.drills.context import DrillRequest, ExecutorFactory, render_params, resolve
from opskeeper.drills.errors import ActionFailed, ApprovalRefused, DrillRefused
from opskeeper.drills.evaluate import CheckOutcome, Evaluation, Finding, Phase, Verdict, evaluate
from opskeeper.drills.items import reconcile
from opskeeper.drills.state import STATE_PARAM, DrillState
from opskeeper.drills.timeline import Event, Timeline, TimelineEvent
from opskeeper.ledger import Ledger
from opskeeper.ledger.core import StepStatus
from opskeeper.ledger.drills import DrillStatus
from opskeeper.remote import connect
from opskeeper.remote.interface import Executor
from opskeeper.runbook.engine import Gate, HostRun, HostTarget, StepRecord

ApproveFn = Callable[[list[str]], str | None]  # roles needing approval -> approver, or None (refused)


@dataclass
class Hooks:
    """The edges: approval (Prefect pause or CLI flag), notices and incidents (notify), progress."""

    approve: ApproveFn | None = None
    notice: Callable[[DrillRun, str], None] | None = None  # event: drill_started / drill_completed
    incident: Callable[[DrillRun, str], None] | None = None
    progress: Callable[[str], None] | None = None


@dataclass
class DrillResult:
    drill_id: int
    scenario: str
    customer: str
    status: DrillStatus
    evaluation: Evaluation | None
    timeline: Timeline
    reason: str | None = None
    items_opened: int = 0
    items_closed: int = 0
    report_paths: dict[str, str] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return self.status is DrillStatus.PASS


class DrillRun:
    def __init__(
        self, estate: Estate, request: DrillRequest, *, ledger: Ledger, hooks: Hooks | None = None,
        executor_factory: ExecutorFactory | None = None, flow_run_id: str | None = None,
    ) -> None:  # fmt: skip
        self.estate, self.request, self.ledger = estate, request, ledger
        self.hooks = hooks or Hooks()
        self.target = resolve(estate, request)
        self.scenario = self.target.scenario
        # By default: the estate resolves jump hosts, the ledger audits a refused host key.
        self.executor_factory = executor_factory or (lambda host: connect(host, ledger=ledger, estate=estate))
        self.state = DrillState(SystemBackups(estate, self.target.system))
        self.checks: list[CheckOutcome] = []
        self.executors: dict[str, Executor] = {}
        self.host_runs: dict[tuple[str, str], HostRun] = {}  # (phase, host)
        self.approved_by: str | None = None
        self.aborted: str | None = None
        self.cleanup_ok: bool | None = None
        self.error: Finding | None = None  # the unexpected exception that stopped the drill, as a finding
        self.evaluation: Evaluation | None = None
        self.drill_id, self.run_id = record.start(
            ledger, scenario=self.scenario.name, customer=self.target.customer.id,
            system=self.target.system.id, triggered_by=request.triggered_by,
            force_window=request.force_window, flow_run_id=flow_run_id,
        )  # fmt: skip
        self.timeline = Timeline(clock=ledger.now, observers=[lambda e: record.event(ledger, self.drill_id, e), self._show])
        self.timeline.record(Event.DECLARED, f"{self.scenario.name} on {self.target.customer.id}")

    # -- plumbing ---------------------------------------------------------------------------------------

    def _show(self, e: TimelineEvent) -> None:
        """Milestones and failed steps as progress lines (the CLI's live view, the flow's log)."""
        if e.kind is not Event.STEP or not (e.ok or e.detail.startswith("detection/")):
            self._say(f"{e.at:%H:%M:%S} {e.kind.value.replace('_', ' ')}" + (f": {e.detail}" if e.detail else ""))

    def _say(self, text: str) -> None:
        if self.hooks.progress:
            self.hooks.progress(text)

    def executor(self, host: Host) -> Executor:
        if host.name not in self.executors:
            self.executors[host.name] = self.executor_factory(host)
        return self.executors[host.name]

    def _on_record(self, r: StepRecord) -> None:
        record.step(self.ledger, self.run_id, r)
        ok = r.status in (StepStatus.OK, StepStatus.SKIPPED)
        text = f"{r.runbook}/{r.step} @ {r.host}: {r.status.value}" + (f" ({r.error})" if r.error else "")
        self.timeline.record(Event.STEP, text, ok=ok, at=r.ended_at, duration_s=r.duration_s)

    def _bound(self, book: str, step: Step) -> Step:
        """The step as the engine runs it: its parameters rendered with the drill's vars, plus the drill state."""
        where = f"drill {self.scenario.name}, {book} step {step.name!r}"
        params = {**render_params(step.params, self.target.vars, where), STATE_PARAM: self.state}
        return step.model_copy(update={"params": params})

    def _run_step(self, book: str, step: Step) -> list[StepRecord]:
        bound = self._bound(book, step)
        return [r for host in self.target.hosts(role_of(step)) for r in self._host_run(book, host).step(book, bound)]

    def _host_run(self, book: str, host: Host) -> HostRun:
        """One engine run per phase and host, as a runbook has: a rollback undoes the phase's earlier steps."""
        if (book, host.name) not in self.host_runs:
            target = HostTarget(self.estate, self.target.customer, self.target.system, host,
                                self.executor(host), self.ledger.now(), self.ledger, self.run_id,
                                extra=dict(self.target.vars))  # fmt: skip
            gate = Gate(window_open=True, approved_by=self.approved_by)  # preflight already judged the window
            self.host_runs[(book, host.name)] = HostRun(target, gate, self._on_record)
        return self.host_runs[(book, host.name)]

    def _run_steps(self, book: str, steps: list[Step], *, stop_on_failure: bool = True) -> bool:
        """Run a runbook's steps in order; marks go on the timeline; False when a step failed."""
        all_ok = True
        for step in steps:
            records = self._run_step(book, step)
            ok = bool(records) and all(r.status is StepStatus.OK for r in records)
            if ok and step.marks is Mark.SERVICE_RESTORED:
                self.timeline.record(Event.SERVICE_RESTORED, step.name)
            if ok and step.marks is Mark.FAULT_INJECTED:
                self.timeline.record(Event.FAULT_INJECTED, step.name)
            if not ok:
                all_ok = False
                # abort or rollback (the engine ran the rollbacks on the host): the phase stops
                if stop_on_failure and step.on_failure is not OnFailure.CONTINUE:
                    return False
        return all_ok

    def probe(self, phase: Phase, probe: Probe) -> list[CheckOutcome]:
        """Run a probe on its hosts and judge each value; retried while failing, up to ``probe.wait``."""
        deadline = time.monotonic() + probe.wait.total_seconds()
        while True:
            outcomes = []
            for r in self._run_step(phase.value, probe):  # the engine judged each value by probe.expect
                value = (r.detail or {}).get("value", r.status is StepStatus.OK)
                if r.status is StepStatus.ERROR:
                    value = f"error: {r.error}"
                many = len(self.target.hosts(role_of(probe))) > 1
                name = f"{probe.name} @ {r.host}" if many else probe.name
                outcomes.append(CheckOutcome(phase, name, r.status is StepStatus.OK, _short(value),
                                             probe.describe_expect(), r.verdict or r.error or "",
                                             r.ended_at))  # fmt: skip
            if all(o.ok for o in outcomes) or time.monotonic() >= deadline:
                return outcomes
            time.sleep(0.5)

    # -- phases -----------------------------------------------------------------------------------------

    def preflight(self) -> None:
        """Refuse (exit 2, nothing faulted) in a blackout unless forced, or without a usable backup."""
        c = self.target.customer
        blackout = blackout_at(c.blackouts, c.timezone, self.ledger.now())
        if blackout is not None:
            if not self.request.force_window:
                self._refuse(f"customer {c.id} is in a blackout ({blackout.reason}); "
                             "use --force-window to run the drill anyway")  # fmt: skip
            self.ledger.audit(self.request.triggered_by, "drill.force_window", f"drill:{self.drill_id}",
                              {"blackout": blackout.reason, "scenario": self.scenario.name})  # fmt: skip
        for name in self._datasets_used():
            try:
                found = self.state.backups.newest(self.state.backups.dataset(name))
            except ActionFailed as e:
                self._refuse(f"no usable backup of data set {name}: {e}")
            self.timeline.record(Event.PREFLIGHT_OK, f"backup of {name}: snapshot {found.manifest.id[:12]} "
                                 f"at {found.manifest.time} on {found.target}")  # fmt: skip

    def _datasets_used(self) -> list[str]:
        names: list[str] = []
        for _, item in self.scenario.all_steps():
            raw = item.params.get("dataset")
            if isinstance(raw, str):
                name = render_params({"d": raw}, self.target.vars, "dataset")["d"]
                if name and name not in names:
                    names.append(name)
        return names

    def _refuse(self, reason: str, error: type[DrillRefused | ApprovalRefused] = DrillRefused) -> None:
        """Record the drill as aborted before any fault and raise ``error`` (exit 2)."""
        self.aborted = reason
        self.timeline.record(Event.ABORTED, reason, ok=False)
        record.finish(self.ledger, self.drill_id, status=DrillStatus.ABORTED, reason=reason,
                      evaluation=None, changes=None)  # fmt: skip
        raise error(reason)

    def steady_state(self, phase: Phase) -> bool:
        probes = [p for p in self.scenario.hypothesis if phase.value in p.at]
        outcomes = [o for p in probes for o in self.probe(phase, p)]
        self.checks += outcomes
        ok = all(o.ok for o in outcomes)
        kind = Event.STEADY_STATE_BEFORE if phase is Phase.BEFORE else Event.STEADY_STATE_AFTER
        failed = [o.name for o in outcomes if not o.ok]
        self.timeline.record(kind, "held" if ok else f"not met: {', '.join(failed)}", ok=ok)
        if phase is Phase.BEFORE and not ok:
            self.aborted = f"steady state not met before the fault: {', '.join(failed)}"
        return ok

    def approve(self) -> None:
        """Roles outside the scenario's safety list need a named approver (recorded in the audit trail)."""
        roles = self.scenario.roles_needing_approval()
        if not roles:
            return
        approver = self.request.approve or (self.hooks.approve(roles) if self.hooks.approve else None)
        subject = f"drill:{self.drill_id}"
        details = {"scenario": self.scenario.name, "customer": self.target.customer.id, "roles": roles}
        if not approver:
            self.ledger.audit(self.request.triggered_by, "drill.approval_refused", subject, details)
            self._refuse(f"faulting role(s) {', '.join(roles)} needs an approver (--approve NAME)", ApprovalRefused)
        assert approver is not None
        self.approved_by = approver
        record.set_approver(self.ledger, self.drill_id, approver)
        self.ledger.audit(approver, "drill.approved", subject, details)
        self.timeline.record(Event.APPROVED, f"approved by {approver} for role(s) {', '.join(roles)}")

    def inject(self) -> bool:
        self.ledger.audit(self.approved_by or self.request.triggered_by, "drill.fault", f"drill:{self.drill_id}",
                          {"scenario": self.scenario.name, "roles": self.scenario.fault_roles()})  # fmt: skip
        self.timeline.record(Event.FAULT_STARTED, ", ".join(s.name for s in self.scenario.fault))
        ok = self._run_steps("fault", self.scenario.fault)
        if ok and not self.timeline.has(Event.FAULT_INJECTED):
            self.timeline.record(Event.FAULT_INJECTED, "fault runbook done")
        if not ok:
            self.aborted = "fault injection failed"
        return ok

    def detect(self) -> None:
        d = self.scenario.detection
        within = d.within if d else timedelta(minutes=5)
        interval = d.interval.total_seconds() if d else 1.0
        deadline = time.monotonic() + within.total_seconds()
        while True:
            for p in self.scenario.detection_probes():
                deviated = [o for o in self.probe(Phase.DETECTION, p) if not o.ok]
                if deviated:
                    self.timeline.record(Event.DETECTED, f"{p.name}: {deviated[0].reason}")
                    self.checks.append(CheckOutcome(Phase.DETECTION, p.name, True, deviated[0].value,
                                                    "deviation", deviated[0].reason))  # fmt: skip
                    return
            if time.monotonic() >= deadline:
                self.checks.append(CheckOutcome(Phase.DETECTION, "fault detected", False, "no deviation",
                                                "deviation", f"not detected within {within}"))  # fmt: skip
                return
            time.sleep(interval)

    def recover(self) -> bool:
        self.timeline.record(Event.RECOVERY_STARTED, ", ".join(s.name for s in self.scenario.recovery))
        ok = self._run_steps("recovery", self.scenario.recovery)
        if ok and not self.timeline.has(Event.SERVICE_RESTORED):
            self.timeline.record(Event.SERVICE_RESTORED, "recovery runbook done")
        return ok

    def verify(self) -> bool:
        outcomes = [o for p in self.scenario.verification for o in self.probe(Phase.VERIFICATION, p)]
        self.checks += outcomes
        ok = all(o.ok for o in outcomes)
        if ok:
            self.timeline.record(Event.DATA_VERIFIED, f"{len(outcomes)} verification checks passed")
        return ok

    def cleanup(self) -> bool:
        """Every cleanup step runs even if one fails; a failed cleanup fails the drill and raises an incident."""
        if self.cleanup_ok is not None:
            return self.cleanup_ok
        self.timeline.record(Event.CLEANUP_STARTED)
        try:
            ok = self._run_steps("cleanup", self.scenario.cleanup, stop_on_failure=False)
        except Exception as e:  # noqa: BLE001 - the drill must still be recorded
            ok = False
            self.timeline.record(Event.STEP, f"cleanup crashed: {type(e).__name__}: {e}", ok=False)
        self.cleanup_ok = ok
        if ok:
            self.timeline.record(Event.CLEANUP_DONE)
        else:
            self.timeline.record(Event.CLEANUP_FAILED, "a cleanup step failed: the system may still be faulted",
                                 ok=False)  # fmt: skip
            if self.hooks.incident:
                quietly(lambda: self.hooks.incident(self, "drill cleanup failed"))  # type: ignore[misc]
        return ok

    def crashed(self, error: BaseException, phase: str) -> None:
        """An unexpected exception stopped ``phase``: on the timeline now, a finding (an action item) at finish."""
        text = describe_error(error)
        self.error = Finding(f"drill-error:{type(error).__name__}", FindingSeverity.HIGH,
                             f"Drill stopped by an unexpected error in {phase}: {text}",
                             "The drill machinery failed, not the system under test: fix the cause and run "
                             "the drill again.")  # fmt: skip
        self.timeline.record(Event.ERROR, f"{phase}: {text}", ok=False)

    def finish(self, *, cancelled: bool = False) -> DrillResult:
        evaluation = evaluate(
            self.scenario, self.target.tier, self.timeline, newest_restored=self.state.newest_restored(),
            checks=self.checks, step_findings=self.state.findings, cleanup_ok=self.cleanup_ok is not False,
            aborted=self.aborted or ("cancelled" if cancelled else None), error=self.error,
        )  # fmt: skip
        self.evaluation = evaluation
        status = DrillStatus.CANCELLED if cancelled else DrillStatus(evaluation.verdict.value)
        reason = self.aborted or (self.error.title if self.error else None)
        changes = None
        if evaluation.verdict is not Verdict.ABORTED and not cancelled:
            changes = reconcile(evaluation, record.open_items_of(self.ledger, self.target.customer.id,
                                                                 self.scenario.name),
                                owner=self.scenario.owner, tier=self.target.tier, now=self.ledger.now())  # fmt: skip
        self.timeline.record(Event.EVALUATED, f"{status.value}, score {evaluation.score}")
        record.finish(self.ledger, self.drill_id, status=status, reason=reason, evaluation=evaluation,
                      changes=changes)  # fmt: skip
        self.close()
        return DrillResult(
            self.drill_id, self.scenario.name, self.target.customer.id, status, evaluation, self.timeline,
            reason, len(changes.opened) if changes else 0, len(changes.closed) if changes else 0,
        )  # fmt: skip

    def close(self) -> None:
        for ex in self.executors.values():
            quietly(ex.close)
        self.executors.clear()
        self.state.backups.close()


def quietly(fn: Callable[[], object]) -> None:
    try:
        fn()
    except Exception:  # noqa: BLE001 - side effects that may be lost must not break the drill
        pass


def describe_error(error: BaseException) -> str:
    """``Type: message`` of an unexpected exception, secrets redacted: it goes to the ledger and the reports."""
    return _short(redact(f"{type(error).__name__}: {error}"))


def _short(value: object) -> str:
    text = str(value)
    return text if len(text) <= 200 else text[:197] + "..."
