"""Measure RTO/RPO from the timeline, hold them against the contract, and give the verdict.

RTO = fault injected -> service restored *and* data verified (the later of the two).
RPO = fault injected -> time of the newest data restored (the snapshot's time).
An objective is the scenario's override if it has one, else the customer's tier.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from opskeeper.config.drills import Scenario
from opskeeper.config.estate import Tier
from opskeeper.config.types import FindingSeverity, format_duration
from opskeeper.drills.timeline import Event, Timeline

OBJECTIVE_POINTS = 25  # per objective (RTO, RPO); checks share the other 50


class Verdict(StrEnum):
    PASS = "pass"
    FAIL = "fail"
    ABORTED = "aborted"  # stopped before or during the fault; nothing measured
    ERROR = "error"  # stopped by an unexpected exception: what was measured is kept; never a pass


class Phase(StrEnum):
    BEFORE = "before"
    DETECTION = "detection"
    VERIFICATION = "verification"
    AFTER = "after"


@dataclass(frozen=True)
class CheckOutcome:
    phase: Phase
    name: str
    ok: bool
    value: str
    expected: str
    reason: str
    at: datetime | None = None


@dataclass(frozen=True)
class Finding:
    fingerprint: str  # stable per scenario: the same gap in the next drill is the same finding
    severity: FindingSeverity
    title: str
    detail: str = ""


@dataclass(frozen=True)
class ObjectiveResult:
    name: str  # rto | rpo
    target: timedelta
    source: str  # tier | scenario
    measured: timedelta | None

    @property
    def met(self) -> bool:
        return self.measured is not None and self.measured <= self.target

    @property
    def margin(self) -> timedelta | None:
        """Headroom (positive) or overrun (negative)."""
        return None if self.measured is None else self.target - self.measured

    @property
    def points(self) -> float:
        if self.measured is None:
            return 0.0
        if self.met:
            return float(OBJECTIVE_POINTS)
        return OBJECTIVE_POINTS * self.target / self.measured

    def describe(self) -> str:
        if self.measured is None:
            return f"{self.name.upper()} not measured (target {format_duration(self.target)})"
        margin = self.margin or timedelta(0)
        word = "within by" if margin >= timedelta(0) else "exceeded by"
        return (
            f"{self.name.upper()} {fmt(self.measured)} vs target {format_duration(self.target)}: "
            f"{word} {fmt(abs(margin))}"
        )


@dataclass(frozen=True)
class Evaluation:
    verdict: Verdict
    score: int
    rto: ObjectiveResult
    rpo: ObjectiveResult
    checks: tuple[CheckOutcome, ...] = ()
    findings: tuple[Finding, ...] = ()
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def passed(self) -> bool:
        return self.verdict is Verdict.PASS


def fmt(td: timedelta) -> str:
    """Durations in a report: sub-minute values keep a decimal of seconds."""
    seconds = td.total_seconds()
    if seconds < 60:
        return f"{seconds:.1f}s"
    return format_duration(timedelta(seconds=round(seconds)))


def objectives(scenario: Scenario, tier: Tier) -> tuple[tuple[timedelta, str], tuple[timedelta, str]]:
    o = scenario.objectives
    rto = (o.rto, "scenario") if o.rto is not None else (tier.rto, "tier")
    rpo = (o.rpo, "scenario") if o.rpo is not None else (tier.rpo, "tier")
    return rto, rpo


def measure_rto(timeline: Timeline) -> timedelta | None:
    fault = timeline.at(Event.FAULT_INJECTED)
    restored = timeline.at(Event.SERVICE_RESTORED)
    verified = timeline.at(Event.DATA_VERIFIED)
    if fault is None or restored is None or verified is None:
        return None
    return max(restored, verified) - fault


def measure_rpo(timeline: Timeline, newest_restored: datetime | None) -> timedelta | None:
    fault = timeline.at(Event.FAULT_INJECTED)
    if fault is None or newest_restored is None:
        return None
    return max(fault - newest_restored, timedelta(0))


def evaluate(
    scenario: Scenario,
    tier: Tier,
    timeline: Timeline,
    *,
    newest_restored: datetime | None,
    checks: Sequence[CheckOutcome] = (),
    step_findings: Sequence[Finding] = (),
    cleanup_ok: bool = True,
    aborted: str | None = None,
    error: Finding | None = None,
) -> Evaluation:
    """The verdict. ``error``: the finding of an unexpected exception that stopped the drill (verdict error)."""
    (rto_target, rto_src), (rpo_target, rpo_src) = objectives(scenario, tier)
    rto = ObjectiveResult("rto", rto_target, rto_src, measure_rto(timeline))
    rpo = ObjectiveResult("rpo", rpo_target, rpo_src, measure_rpo(timeline, newest_restored))
    # What a crash left unmeasured is the crash's finding, not a missed objective.
    stopped = aborted or (error.title if error else None)
    findings = [*_objective_findings(rto, rpo, stopped), *_check_findings(checks), *step_findings]
    if not cleanup_ok:
        findings.append(
            Finding("cleanup-failed", FindingSeverity.CRITICAL, "Cleanup failed: the system may still be faulted")
        )
    if error:
        findings.append(error)
    if aborted:
        findings.append(Finding("aborted", FindingSeverity.HIGH, f"Drill aborted: {aborted}"))
    findings = _dedupe(findings)
    judged = [c for c in checks if c.phase is not Phase.BEFORE]
    check_points = 50.0 * (sum(c.ok for c in judged) / len(judged)) if judged else 50.0
    score = round(rto.points + rpo.points + check_points)
    if error:  # a drill that did not finish has no score: its measurements stay in rto/rpo
        verdict = Verdict.ERROR
        score = 0
    elif aborted and not timeline.has(Event.FAULT_INJECTED):
        verdict = Verdict.ABORTED
        score = 0
    elif any(f.severity.fails_drill for f in findings):
        verdict = Verdict.FAIL
    else:
        verdict = Verdict.PASS
    return Evaluation(verdict, min(score, 100), rto, rpo, tuple(checks), tuple(findings))


def _objective_findings(rto: ObjectiveResult, rpo: ObjectiveResult, aborted: str | None) -> list[Finding]:
    out: list[Finding] = []
    if rto.measured is None:
        if not aborted:
            out.append(Finding("rto-unmeasured", FindingSeverity.CRITICAL, "Service was not restored and verified"))
    elif not rto.met:
        out.append(
            Finding("rto-exceeded", FindingSeverity.HIGH, f"RTO exceeded by {fmt(-rto.margin)}",  # type: ignore[operator]
                    rto.describe())
        )
    if rpo.measured is None:
        if not aborted:
            out.append(
                Finding("rpo-unmeasured", FindingSeverity.HIGH, "No restored data with a known time: RPO not measured")
            )
    elif not rpo.met:
        out.append(
            Finding("rpo-exceeded", FindingSeverity.HIGH, f"RPO exceeded by {fmt(-rpo.margin)}",  # type: ignore[operator]
                    rpo.describe())
        )
    return out


def _check_findings(checks: Sequence[CheckOutcome]) -> list[Finding]:
    out = []
    for c in checks:
        if c.ok:
            continue
        if c.phase is Phase.DETECTION:
            out.append(Finding(f"not-detected:{c.name}", FindingSeverity.MEDIUM, f"Fault not detected by {c.name}",
                               c.reason))
        elif c.phase is Phase.VERIFICATION:
            out.append(Finding(f"verification:{c.name}", FindingSeverity.HIGH, f"Verification failed: {c.name}",
                               c.reason))
        elif c.phase is Phase.AFTER:
            out.append(Finding(f"steady-state:{c.name}", FindingSeverity.HIGH,
                               f"Steady state not regained: {c.name}", c.reason))
    return out


def _dedupe(findings: list[Finding]) -> list[Finding]:
    seen: set[str] = set()
    out = []
    for f in findings:
        if f.fingerprint not in seen:
            seen.add(f.fingerprint)
            out.append(f)
    return out
