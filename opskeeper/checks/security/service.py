"""Security scans over the estate: targets, one host's scan end to end, and the run record.

:func:`run_scan` is the one orchestration of a scan; the CLI calls it with the threaded
runner, the Prefect flow (flows/security_scan.py) with the Prefect one (each host a task,
recording retried) and adds the artifact and notifications.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from opskeeper.checks.security.collect import collect
from opskeeper.checks.security.lifecycle import ScanDiff, record_host_scan
from opskeeper.checks.security.model import ScanError, ScanTarget
from opskeeper.checks.security.scan import HostScan, scan_host
from opskeeper.config.estate import Estate, Host
from opskeeper.errors import InputError
from opskeeper.ledger import Ledger
from opskeeper.ledger import security as scans
from opskeeper.ledger.core import RunStatus
from opskeeper.ledger.findings import ScanStatus
from opskeeper.remote import connect as remote_connect
from opskeeper.remote.fanout import Runner, Work, reraise, threaded
from opskeeper.remote.interface import Executor
from opskeeper.trigger import Trigger

ExecutorFactory = Callable[[Host], Executor]


def connect(host: Host, ledger: Ledger | None = None, estate: Estate | None = None) -> Executor:
    """Local for ``local: true`` hosts, else SSH with the pinned host key.

    With ``ledger`` a refused host key lands in the audit trail; with ``estate`` jump hosts resolve.
    """
    return remote_connect(host, ledger=ledger, estate=estate)


@dataclass(frozen=True)
class ScanJob:
    """A host to scan with what is needed to judge and record it."""

    target: ScanTarget
    host: Host
    remediation: dict[str, timedelta]


@dataclass
class ScanReport:
    run_id: int | None
    diffs: list[ScanDiff] = field(default_factory=list)
    error: str | None = None

    @property
    def status(self) -> RunStatus:
        if self.error:
            return RunStatus.FAILED
        if any(d.status is ScanStatus.FAILED for d in self.diffs):
            return (
                RunStatus.PARTIAL
                if any(d.status is not ScanStatus.FAILED for d in self.diffs)
                else RunStatus.FAILED
            )
        return RunStatus.OK


def host_jobs(estate: Estate, customer: str | None = None) -> list[ScanJob]:
    """Every host of the estate (or of one customer) with its system's policy and the tier's deadlines."""
    if customer is not None and customer not in {c.id for c in estate.customers}:
        known = ", ".join(c.id for c in estate.customers)
        raise InputError(f"unknown customer {customer!r}; known: {known}")
    jobs = []
    for c, system, h in estate.all_hosts():
        if customer is not None and c.id != customer:
            continue
        ports = tuple(
            sorted({s.port for s in system.services if s.port and (not s.hosts or h.name in s.hosts)})
        )
        target = ScanTarget(c.id, system.id, h.name, system.security, ports)
        jobs.append(ScanJob(target, h, dict(estate.tier_of(c).remediation)))
    return jobs


def scan_job(ledger: Ledger, job: ScanJob, connector: ExecutorFactory | None = None) -> HostScan:
    """Collect and judge one host (no ledger writes: safe to run in parallel)."""
    known = scans.host_baseline(ledger, job.host.name)
    now = ledger.now()
    try:
        executor = connector(job.host) if connector else connect(job.host, ledger)
    except Exception as e:  # noqa: BLE001 - a host we cannot even connect to is a failed scan, not a crash
        return HostScan.failed(job.target, now, f"{type(e).__name__}: {e}")
    with executor:
        return scan_host(executor, job.target, sudo=job.host.sudo, now=now, baseline=known)


def record(ledger: Ledger, job: ScanJob, scan: HostScan, run_id: int | None) -> ScanDiff:
    diff = scans.write_scan(ledger, lambda w: record_host_scan(w, scan, job.remediation, run_id))
    ledger.audit("opskeeper", "security.scan", job.host.name, {"scan_id": diff.scan_id, **diff.counts()})
    return diff


def start_run(
    ledger: Ledger, customer: str | None, trigger: str = "manual", flow_run_id: str | None = None
) -> int:
    return scans.start_scan_run(ledger, customer, trigger, flow_run_id)


def finish_run(ledger: Ledger, report: ScanReport) -> None:
    if report.run_id is None:
        return
    totals: dict[str, int] = {}
    for d in report.diffs:
        for k, v in d.counts().items():
            totals[k] = totals.get(k, 0) + v
    summary = {"hosts": len(report.diffs), **totals}
    scans.finish_scan_run(ledger, report.run_id, report.status, summary, report.error)


def scan_work(ledger: Ledger, connector: ExecutorFactory) -> Work[ScanJob, HostScan]:
    """Gather and judge one host; read-only, and a host that cannot be scanned is a failed scan."""
    return Work(
        "scan-host",
        lambda job: scan_job(ledger, job, connector),
        label=lambda job: f"scan-{job.host.name}",
        crashed=lambda job, e: HostScan.failed(job.target, ledger.now(), f"{type(e).__name__}: {e}"),
    )


def record_work(ledger: Ledger, report: ScanReport) -> Work[tuple[ScanJob, HostScan], ScanDiff]:
    """Record one host's scan into the report's run: one host after the other (SQLite has one writer,
    and the order keeps the audit chain tidy); retried where a runner can wait (SQLite may be busy)."""

    def one(done: tuple[ScanJob, HostScan]) -> ScanDiff:
        diff = record(ledger, done[0], done[1], report.run_id)
        report.diffs.append(diff)  # as it is recorded: a crash later still concludes with it
        return diff

    return Work("record-scan", one, label=lambda done: f"record-{done[0].host.name}", crashed=reraise,
                retries=2, retry_delay_s=(2,), serial=True)  # fmt: skip


def run_scan(
    estate: Estate,
    ledger: Ledger,
    customer: str | None = None,
    *,
    runner: Runner = threaded(8),
    trigger: Trigger = Trigger(),
    connector: ExecutorFactory | None = None,
) -> ScanReport:
    """Scan every host (fanned out by ``runner``), record findings host by host, conclude the run."""
    jobs = host_jobs(estate, customer)
    connector = connector or (lambda h: connect(h, ledger, estate))
    report = ScanReport(start_run(ledger, customer, trigger.trigger, trigger.flow_run_id))
    try:
        scans = runner(scan_work(ledger, connector), jobs)
        runner(record_work(ledger, report), list(zip(jobs, scans, strict=True)))
    except BaseException as e:
        report.error = f"{type(e).__name__}: {e}"
        raise
    finally:
        finish_run(ledger, report)  # in finally: a crash or cancellation still concludes the run
    return report


def rebaseline(
    estate: Estate, ledger: Ledger, host_name: str, by: str, connector: ExecutorFactory | None = None
) -> int:
    """Record the host's current integrity hashes as its new baseline (after an explained change)."""
    jobs = [j for j in host_jobs(estate) if j.host.name == host_name]
    if not jobs:
        raise InputError(f"unknown host {host_name!r}")
    job = jobs[0]
    if not job.target.policy.integrity_paths:
        raise InputError(f"host {host_name!r}: its system has no security.integrity_paths")
    with (connector(job.host) if connector else connect(job.host, ledger, estate)) as executor:
        facts = collect(executor, job.target, ["integrity"], sudo=job.host.sudo)
    sect = facts.sections["integrity"]
    if not sect.ok:
        raise ScanError(f"{host_name}: cannot hash the integrity paths: {sect.error}")
    hashes = dict(sect.data["hashes"])
    n = scans.replace_baseline(ledger, host_name, hashes, ledger.now())
    ledger.audit(by, "security.rebaseline", host_name, {"files": n})
    return n


SCAN_EVERY = timedelta(days=7)


def customers_due(estate: Estate, ledger: Ledger, now: datetime, every: timedelta = SCAN_EVERY) -> list[str]:
    """Customers whose last completed scan (of them, or of the whole estate) is older than ``every``.

    For the tick: a weekly scan that the scheduler missed is simply due at the next tick.
    """
    last = scans.last_scans(ledger)
    due = []
    for c in estate.customers:
        seen = [t for t in (last.get(c.id), last.get(None)) if t is not None]
        if not seen or now - max(seen) >= every:
            due.append(c.id)
    return due
