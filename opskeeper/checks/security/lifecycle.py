"""The finding lifecycle: compare one host scan with the ledger and move findings along.

new -> open (persisting) -> resolved. Only a check that *ran* can resolve: when a
check (or a single object, e.g. an unreachable TLS endpoint) could not be judged,
its findings stay unresolved and are classified incomparable.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from opskeeper.checks.security.model import CheckResult, ObjectResult
from opskeeper.checks.security.scan import HostScan
from opskeeper.ledger.findings import (
    Classification,
    Finding,
    FindingStatus,
    ScanStatus,
    SecurityScan,
    fingerprint,
)
from opskeeper.ledger.security import ScanWriter

DEFAULT_REMEDIATION = {
    "critical": timedelta(days=7),
    "high": timedelta(days=30),
    "medium": timedelta(days=90),
    "low": timedelta(days=180),
}


@dataclass(frozen=True)
class FindingRef:
    """A finding as reported after a scan (detached from the session)."""

    id: int
    fingerprint: str
    host: str
    check_id: str
    object: str
    severity: str
    title: str
    detail: str
    due_by: datetime
    accepted: bool

    @classmethod
    def of(cls, f: Finding, now: datetime) -> FindingRef:
        return cls(f.id, f.fingerprint, f.host, f.check_id, f.object, f.severity, f.title, f.detail,
                   f.due_by, f.accepted(now))  # fmt: skip


@dataclass
class ScanDiff:
    """What one host scan changed in the ledger."""

    scan_id: int
    host: str
    customer_id: str
    status: ScanStatus
    score: float | None
    new: list[FindingRef] = field(default_factory=list)
    persisting: list[FindingRef] = field(default_factory=list)
    resolved: list[FindingRef] = field(default_factory=list)
    incomparable: list[FindingRef] = field(default_factory=list)
    acceptance_expired: list[FindingRef] = field(default_factory=list)
    overdue: list[FindingRef] = field(default_factory=list)
    skipped_checks: dict[str, str] = field(default_factory=dict)  # check id -> why it could not run

    def counts(self) -> dict[str, int]:
        return {k: len(getattr(self, k)) for k in
                ("new", "persisting", "resolved", "incomparable", "acceptance_expired", "overdue")}  # fmt: skip


def _status(scan: HostScan) -> ScanStatus:
    if scan.error:
        return ScanStatus.FAILED
    return ScanStatus.PARTIAL if any(not r.ran for r in scan.results) else ScanStatus.OK


def record_host_scan(
    s: ScanWriter,
    scan: HostScan,
    remediation: Mapping[str, timedelta] | None = None,
    run_id: int | None = None,
) -> ScanDiff:
    """Write the scan row, create/update/resolve the host's findings, return the diff."""
    remediation = {**DEFAULT_REMEDIATION, **(remediation or {})}
    t, now = scan.target, scan.started_at
    row = SecurityScan(
        run_id=run_id, customer_id=t.customer_id, system_id=t.system_id, host=t.host,
        started_at=scan.started_at, ended_at=scan.ended_at, status=_status(scan), error=scan.error,
        score=scan.score, checks_run=sum(r.ran for r in scan.results), checks_total=len(scan.results),
    )  # fmt: skip
    s.add(row)
    s.flush()
    diff = ScanDiff(row.id, t.host, t.customer_id, ScanStatus(row.status), row.score)
    existing = s.host_findings(t.host)
    failing: list[Finding] = []
    for result in scan.results:
        if not result.ran:
            diff.skipped_checks[result.check.id] = result.error or ""
            continue
        for obj in result.failures:
            fp = fingerprint(t.host, result.check.id, obj.object)
            existing[fp] = _upsert_failing(s, existing.get(fp), fp, scan, result, obj, remediation, row.id)
            failing.append(existing[fp])
    s.flush()  # ids for the new rows
    for f in failing:
        (diff.new if f.classification == Classification.NEW else diff.persisting).append(
            FindingRef.of(f, now)
        )
    failing_fps = {f.fingerprint for f in failing}
    ran_checks = {r.check.id for r in scan.results if r.ran}
    unknown = _unknown(scan, t.host)
    for fp, f in existing.items():
        if not f.unresolved or fp in failing_fps:
            continue
        f.last_scan_id = row.id
        if f.check_id in ran_checks and fp not in unknown:  # judged: the object passed or is gone
            f.status, f.classification, f.resolved_at = FindingStatus.RESOLVED, Classification.RESOLVED, now
            diff.resolved.append(FindingRef.of(f, now))
        else:
            f.classification = Classification.INCOMPARABLE
            diff.incomparable.append(FindingRef.of(f, now))
    _acceptance_and_deadlines(existing.values(), now, diff)
    if not scan.error:
        s.record_baseline(t.host, dict(scan.integrity_hashes), now, replace=False)
    row.summary = {"counts": diff.counts(), "skipped_checks": diff.skipped_checks}
    return diff


def _unknown(scan: HostScan, host: str) -> set[str]:
    """Fingerprints of objects that a check that ran could not judge this time."""
    return {
        fingerprint(host, r.check.id, o.object)
        for r in scan.results
        if r.ran
        for o in r.results
        if o.passed is None
    }


def _upsert_failing(
    s: ScanWriter,
    f: Finding | None,
    fp: str,
    scan: HostScan,
    result: CheckResult,
    obj: ObjectResult,
    remediation: Mapping[str, timedelta],
    scan_id: int,
) -> Finding:
    now, meta, t = scan.started_at, result.check, scan.target
    due = now + remediation.get(meta.severity.value, DEFAULT_REMEDIATION[meta.severity.value])
    if f is None:
        f = Finding(
            fingerprint=fp, customer_id=t.customer_id, system_id=t.system_id, host=t.host, check_id=meta.id,
            object=obj.object, status=FindingStatus.NEW, classification=Classification.NEW, first_seen=now,
            due_by=due, occurrences=1,
        )  # fmt: skip
        s.add(f)
    elif f.status == FindingStatus.RESOLVED:  # it came back: a new occurrence with a fresh deadline
        f.status, f.classification, f.first_seen, f.due_by = FindingStatus.NEW, Classification.NEW, now, due
        f.resolved_at, f.notified_at = None, None
        f.occurrences += 1
    else:
        f.status, f.classification = FindingStatus.OPEN, Classification.PERSISTING
    f.severity, f.title, f.detail = meta.severity.value, meta.title, obj.detail
    f.last_seen, f.last_scan_id = now, scan_id
    return f


def _acceptance_and_deadlines(findings: Iterable[Finding], now: datetime, diff: ScanDiff) -> None:
    for f in findings:
        if not f.unresolved:
            continue
        if f.acceptance_expired(now) and f.accepted_until is not None:
            # the acceptance ran out: the finding is open again; the lapse stays readable in the reason
            diff.acceptance_expired.append(FindingRef.of(f, now))
            f.accepted_reason = f"expired {f.accepted_until:%Y-%m-%d}: {f.accepted_reason or ''}"
            f.accepted_until = None
        if f.overdue(now):
            diff.overdue.append(FindingRef.of(f, now))
