"""The data of the monthly service report: ledger queries assembled into a :class:`MonthlyReport`.

Built from the ledger only, for one calendar month in the customer's time zone. Every free
text that enters the report (errors, titles, reasons) goes through :class:`Scrubber`: secret
values and the systems' ``private`` strings (and host addresses) never appear. The view types
(period, scrubber, rows, report) are in :mod:`opskeeper.reports.monthly_view`; rendering is in
:mod:`opskeeper.reports.monthly`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from opskeeper.checks.security.registry import get as get_check
from opskeeper.config.estate import Customer, Estate
from opskeeper.config.loader import ConfigError
from opskeeper.config.types import Language
from opskeeper.drills.phrases import finding_title
from opskeeper.drills.scenarios import find_scenario
from opskeeper.ledger import Ledger
from opskeeper.ledger.audit import AuditEntry
from opskeeper.ledger.backup import BackupSnapshot
from opskeeper.ledger.core import HealthSample, Run, SlaBreach
from opskeeper.ledger.drills import ActionItem, Drill, ItemStatus
from opskeeper.ledger.findings import Finding, SecurityScan
from opskeeper.ledger.notify import Notification
from opskeeper.ledger.reports import MonthRange, monthly_rows
from opskeeper.reports.monthly_view import (
    BackupRow,
    BreachRow,
    DrillRow,
    FindingRow,
    HealthRow,
    ItemRow,
    MonthlyReport,
    NoticeRow,
    Period,
    Problem,
    ReportInputError,
    RestoreRow,
    RunRow,
    ScoreRow,
    Scrubber,
    SecuritySummary,
    month_period,
)

HEALTH_METRICS = ("disk.used_pct", "mem.used_pct", "load.5")  # disk per mount point


def find_customer(estate: Estate, customer_id: str) -> Customer:
    try:
        return estate.customer(customer_id)
    except KeyError:
        known = ", ".join(c.id for c in estate.customers)
        raise ReportInputError(f"no customer {customer_id!r} in the estate; known: {known}") from None


def build(
    estate: Estate, ledger: Ledger, customer_id: str, month: str, *, lang: str | None = None,
    now: datetime | None = None,
) -> MonthlyReport:  # fmt: skip
    customer = find_customer(estate, customer_id)
    try:
        language = Language(lang) if lang else customer.language
    except ValueError:
        raise ReportInputError(f"language {lang!r} unknown; use one of {', '.join(Language)}") from None
    period = month_period(month, customer.timezone)
    now = now or ledger.now()
    clean = Scrubber(customer)
    hosts = [h.name for s in customer.systems for h in s.hosts]
    systems = [s.id for s in customer.systems]
    titles = ScenarioTitles(estate.runbooks_dir, language, clean)
    rows = monthly_rows(ledger, customer.id, systems, HEALTH_METRICS,
                        MonthRange(period.month, period.start, period.end))
    return MonthlyReport(
        customer.id, clean(customer.name), estate.tier_of(customer).title or customer.tier, language,
        period, now,
        runs=_runs(rows.runs, clean),
        health=_health(rows.health, hosts, clean),
        backups=_backups(rows.snapshots, period, clean),
        restores=_restores(rows.restores, rows.snapshots),
        security=_security(rows.findings, rows.scans, period, now, clean, language),
        drills=_drills(rows.drills, clean, titles),
        notices=_notices(rows.notices, clean),
        breaches=_breaches(rows.breaches, rows.breached_notices, period, clean),
        items=_items(rows.items, period, now, clean, titles),
    )  # fmt: skip


class ScenarioTitles:
    """Scenario name -> its title in the report's language (the name itself when the file is gone)."""

    def __init__(self, runbooks_dir: str, language: Language, clean: Scrubber) -> None:
        self.runbooks_dir, self.language, self.clean = runbooks_dir, language, clean
        self.known: dict[str, str] = {}

    def __call__(self, name: str) -> str:
        if name not in self.known:
            try:
                title = find_scenario(name, self.runbooks_dir).title_in(self.language)
            except ConfigError:  # renamed or removed since the drill ran: its name is what is left
                title = name
            self.known[name] = self.clean(title)
        return self.known[name]


def _check_title(check_id: str, stored: str, language: Language) -> str:
    """A security check's title in the report's language; the stored (English) one for unknown checks."""
    try:
        return get_check(check_id).meta.localized_title.in_(language)
    except KeyError:
        return stored


def _runs(runs: Sequence[Run], clean: Scrubber) -> list[RunRow]:
    out = []
    for run in runs:
        problems = [
            Problem(clean(st.host), clean(st.step), st.status, _last_line(clean(st.error or st.output or "")))
            for st in run.steps
            if st.status in ("failed", "error")
        ]
        duration = run.ended_at - run.started_at if run.ended_at else None
        out.append(RunRow(run.id, run.cadence or "", run.status, run.started_at, duration, run.trigger,
                          clean(run.reason), problems))  # fmt: skip
    return out


def _last_line(text: str, limit: int = 240) -> str:
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    line = lines[-1] if lines else ""
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _health(samples: Sequence[HealthSample], hosts: Sequence[str], clean: Scrubber) -> list[HealthRow]:
    series: dict[tuple[str, str, str], list[HealthSample]] = defaultdict(list)
    for sample in samples:
        series[(sample.host, sample.metric, sample.subject)].append(sample)
    names = {"disk.used_pct": "disk", "mem.used_pct": "memory", "load.5": "load"}
    rows = []
    for (host, metric, subject), found in series.items():
        values = [x.value for x in found]
        rows.append(HealthRow(clean(host), names[metric], clean(subject), values[-1], min(values), max(values),
                              len(values), found[-1].unit))  # fmt: skip
    seen = {h for h, _, _ in series}
    rows += [HealthRow(clean(h), "", "", None, None, None, 0, "") for h in hosts if h not in seen]
    order = {"memory": 0, "load": 1, "disk": 2, "": 3}
    return sorted(rows, key=lambda r: (r.host, order[r.metric], r.subject))


def _backups(snapshots: Sequence[BackupSnapshot], p: Period, clean: Scrubber) -> list[BackupRow]:
    groups: dict[tuple[str, str], list[BackupSnapshot]] = defaultdict(list)
    for snap in snapshots:
        groups[(snap.system_id or "", snap.dataset or snap.source_kind)].append(snap)
    rows = []
    for (system, dataset), snaps in sorted(groups.items()):
        month = [x for x in snaps if p.holds(x.taken_at)]
        verified = [x for x in snaps if x.last_verified_at is not None and x.last_verified_at < p.end]
        last_verify = max((x.last_verified_at for x in verified), default=None)  # type: ignore[type-var]
        at_last = [x for x in verified if x.last_verified_at == last_verify]
        status = (
            "damaged" if any(x.verify_status == "damaged" for x in at_last) else ("ok" if at_last else "")
        )
        rows.append(BackupRow(
            clean(system), clean(dataset), len(month), ", ".join(sorted({x.target for x in month})),
            max((x.taken_at for x in month), default=None), sum(x.bytes for x in month), status, last_verify,
        ))  # fmt: skip
    return rows


def _restores(entries: Sequence[AuditEntry], snapshots: Sequence[BackupSnapshot]) -> list[RestoreRow]:
    """``backup.restore`` audit entries of this customer's snapshots (the restore really ran)."""
    ours = {x.snapshot_id for x in snapshots}
    out = []
    for e in entries:
        snap = e.subject.removeprefix("snapshot:")
        if snap in ours:
            details: dict[str, Any] = e.details or {}
            out.append(RestoreRow(e.at, snap[:12], str(details.get("target", "")), details.get("files")))
    return out


def _security(
    findings: Sequence[Finding], scans: Sequence[SecurityScan], p: Period, now: datetime, clean: Scrubber,
    language: Language,
) -> SecuritySummary:
    at = min(p.end, now)  # the state at the month's end (or now, for the running month)

    def open_at_end(f: Finding) -> bool:
        return f.resolved_at is None or f.resolved_at >= p.end

    def overdue(f: Finding) -> bool:
        accepted = f.accepted_until is not None and at < f.accepted_until
        return open_at_end(f) and not accepted and f.due_by < at

    still_open = [f for f in findings if open_at_end(f)]
    groups: dict[tuple[str, str], list[Finding]] = defaultdict(list)
    for f in still_open:
        groups[(f.severity, _check_title(f.check_id, f.title, language))].append(f)
    rows = [
        FindingRow(
            sev,
            clean(title),
            len(fs),
            ", ".join(sorted({clean(f.host) for f in fs})),
            min(f.due_by for f in fs),
            sum(1 for f in fs if overdue(f)),
        )  # fmt: skip
        for (sev, title), fs in groups.items()
    ]
    order = {"critical": 0, "high": 1, "medium": 2, "low": 3}
    rows.sort(key=lambda r: (order.get(r.severity, 9), r.due, r.title))
    return SecuritySummary(
        new=sum(1 for f in findings if p.holds(f.first_seen)),
        resolved=sum(1 for f in findings if p.holds(f.resolved_at)),
        open=len(still_open),
        overdue=sum(r.overdue for r in rows),
        open_rows=rows,
        scores=_scores(scans, p, clean),
    )


def _scores(scans: Sequence[SecurityScan], p: Period, clean: Scrubber) -> list[ScoreRow]:
    by_host: dict[str, list[SecurityScan]] = defaultdict(list)
    for scan in scans:
        by_host[scan.host].append(scan)
    rows = []
    for host, of_host in sorted(by_host.items()):
        before = [x.score for x in of_host if x.started_at < p.start]
        month = [float(x.score) for x in of_host if p.holds(x.started_at) and x.score is not None]
        if not month and not before:
            continue
        rows.append(ScoreRow(clean(host), before[-1] if before else None, month[0] if month else None,
                             month[-1] if month else None, len(month), month))  # fmt: skip
    return rows


def _drills(drills: Sequence[Drill], clean: Scrubber, titles: ScenarioTitles) -> list[DrillRow]:
    def td(v: float | None) -> timedelta | None:
        return None if v is None else timedelta(seconds=v)

    return [
        DrillRow(
            d.id,
            clean(d.scenario),
            d.status,
            d.started_at,
            d.score,
            td(d.rto_s),
            td(d.rto_target_s),
            td(d.rpo_s),
            td(d.rpo_target_s),
            titles(d.scenario),
        )  # fmt: skip
        for d in drills
    ]


def _notices(notices: Sequence[Notification], clean: Scrubber) -> list[NoticeRow]:
    out = []
    for n in notices:
        since = n.sent_at or n.created_at
        after = n.acked_at - since if n.acked_at else None
        out.append(NoticeRow(n.id, n.event, n.severity, n.drill, clean(n.contact_name), n.channel, n.status,
                             n.sent_at, n.acked_at, after, n.ack_required, n.deadline_at,
                             n.breached_at is not None))  # fmt: skip
    return out


def _breaches(breaches: Sequence[SlaBreach], breached: Sequence[Notification], p: Period,
              clean: Scrubber) -> list[BreachRow]:
    rows = [
        BreachRow(b.kind, clean(b.subject), b.period, b.detected_at, clean(b.reason))
        for b in breaches
        if p.holds(b.detected_at) or b.period == p.month
    ]
    firsts: dict[str, Notification] = {}
    for n in breached:
        firsts.setdefault(n.group_key, n)
    rows += [
        BreachRow("response", n.event, p.month, n.breached_at, "", n.deadline_at)
        for n in firsts.values()
        if n.breached_at is not None and p.holds(n.breached_at)
    ]
    return sorted(rows, key=lambda r: r.at)


def _items(
    items: Sequence[ActionItem], p: Period, now: datetime, clean: Scrubber, titles: ScenarioTitles
) -> list[ItemRow]:
    at = min(p.end, now)
    lang = titles.language
    return [
        ItemRow(i.id, clean(i.scenario), i.severity, clean(finding_title(i.fingerprint, i.title).in_(lang)),
                clean(i.owner), i.due, i.due < at, titles(i.scenario))  # fmt: skip
        for i in items
        if i.status == ItemStatus.OPEN or (i.closed_at is not None and i.closed_at >= p.end)
    ]
