"""``opskeeper scan``: run security scans, review and accept findings, hardening score with its trend."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import typer

from cli import common
from opskeeper.checks.security.alerts import send_alerts
from opskeeper.checks.security.lifecycle import FindingRef
from opskeeper.checks.security.service import ScanReport, rebaseline, run_scan
from opskeeper.clock import SYSTEM
from opskeeper.config.types import FindingSeverity
from opskeeper.errors import InputError, WorkFailed
from opskeeper.ledger.findings import (
    AcceptStatus,
    FindingFilter,
    ScorePoint,
    accept_finding,
    finding_rows,
    score_points,
)

app = typer.Typer(help="Security scans: hardening checks, findings with deadlines, accepted risks, scores.")


def _report_rows(report: ScanReport) -> list[list[object]]:
    return [
        [d.host, d.status, "" if d.score is None else f"{d.score:.1f}", len(d.new), len(d.persisting),
         len(d.resolved), len(d.incomparable), len(d.overdue), ", ".join(d.skipped_checks)]
        for d in report.diffs
    ]  # fmt: skip


def _print_new_by_check(report: ScanReport) -> None:
    """New findings grouped by check (a host with 60 pending updates is one line, not 60)."""
    groups: dict[str, list[FindingRef]] = {}
    for d in report.diffs:
        for f in d.new:
            groups.setdefault(f.check_id, []).append(f)
    if not groups:
        return
    order = sorted(groups.items(), key=lambda kv: (FindingSeverity(kv[1][0].severity).rank, kv[0]))
    common.table(
        "new findings by check (details: opskeeper scan findings --status new)",
        ["severity", "check", "count", "hosts", "e.g."],
        [[fs[0].severity, cid, len(fs), len({f.host for f in fs}), fs[0].object] for cid, fs in order],
    )


@app.command("run")
def run_cmd(
    customer: str | None = typer.Option(None, "--customer", help="Only this customer's hosts."),
    notify: bool = typer.Option(
        True, "--notify/--no-notify", help="Tell customers about new critical/high findings."
    ),
    fail_on: FindingSeverity | None = typer.Option(
        None, "--fail-on", help="Exit 1 if a new finding of this severity or worse was found."
    ),
    as_json: bool = common.JsonOption,
) -> None:
    """Scan the estate's hosts (no agent: facts are gathered over SSH) and record the findings."""

    def body() -> None:
        estate = common.load()
        ledger = common.open_ledger()
        report = run_scan(estate, ledger, customer)
        alerts = send_alerts(estate, ledger, report.diffs) if notify else []
        if as_json:
            common.print_json(
                {"run_id": report.run_id, "status": report.status, "hosts": report.diffs, "alerts": alerts}
            )
        else:
            common.table(
                f"security scan (run {report.run_id}): {report.status}",
                ["host", "scan", "score", "new", "persist", "resolved", "incomp.", "overdue", "could not run"],
                _report_rows(report),
            )  # fmt: skip
            _print_new_by_check(report)
            for a in alerts:
                common.console.print(
                    f"notified {a.customer_id}: {a.severity} {a.check_id} ({len(a.findings)} findings)"
                )
        failed = [d.host for d in report.diffs if d.status == "failed"]
        if failed:
            raise WorkFailed(f"could not scan: {', '.join(failed)} (their findings are marked incomparable)")
        if fail_on is not None:
            worst = [f for d in report.diffs for f in d.new if FindingSeverity(f.severity).rank <= fail_on.rank]
            if worst:
                raise WorkFailed(f"{len(worst)} new finding(s) of severity {fail_on} or worse")

    common.run_guarded(body)


@app.command("findings")
def findings_cmd(
    status: FindingFilter = typer.Option(
        FindingFilter.OPEN,
        "--status",
        help="new | open (every unresolved) | resolved | overdue | accepted | all",
    ),
    customer: str | None = typer.Option(None, "--customer"),
    by_check: bool = typer.Option(
        False, "--by-check", help="One line per host and check: how many objects, the earliest deadline."
    ),
    as_json: bool = common.JsonOption,
) -> None:
    """List findings with their deadlines (open = unresolved, new or persisting)."""

    def body() -> None:
        rows = finding_rows(common.open_ledger(), SYSTEM.now(), status, customer)
        if by_check:
            groups = _by_check(rows)
            if as_json:
                common.print_json(groups)
                return
            common.table(
                f"findings: {status}, by host and check ({len(rows)} in {len(groups)} groups)",
                ["severity", "host", "check", "objects", "first due", "overdue"],
                [[g["severity"], g["host"], g["check"], g["count"], f"{g['due_by']:%Y-%m-%d}",
                  g["overdue"] or ""] for g in groups],  # type: ignore[str-format]
            )  # fmt: skip
            return
        if as_json:
            common.print_json(rows)
            return
        common.table(
            f"findings: {status} ({len(rows)})",
            ["id", "severity", "status", "host", "check", "object", "due", "flags"],
            [[r["id"], r["severity"], f"{r['status']}/{r['last_scan']}", r["host"], r["check"], r["object"],
              f"{r['due_by']:%Y-%m-%d}", _flags(r)] for r in rows],  # type: ignore[str-format]
        )  # fmt: skip

    common.run_guarded(body)


def _by_check(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Findings folded per host and check, worst severity and earliest deadline first."""
    groups: dict[tuple[str, str], dict[str, Any]] = {}
    for r in rows:
        g = groups.setdefault((r["host"], r["check"]), {
            "customer": r["customer"], "host": r["host"], "check": r["check"], "title": r["title"],
            "severity": r["severity"], "count": 0, "due_by": r["due_by"], "overdue": 0, "objects": [],
        })  # fmt: skip
        g["count"] += 1
        g["objects"].append(r["object"])
        g["due_by"] = min(g["due_by"], r["due_by"])
        g["overdue"] += bool(r["overdue"])
        if FindingSeverity(r["severity"]).rank < FindingSeverity(g["severity"]).rank:  # rank 0 is critical
            g["severity"] = r["severity"]
    return sorted(groups.values(), key=lambda g: (FindingSeverity(g["severity"]).rank, g["due_by"], g["host"], g["check"]))


def _flags(r: dict[str, object]) -> str:
    flags = []
    if r["overdue"]:
        flags.append("OVERDUE")
    if r["accepted"]:
        last_day = r["accepted_until"] - timedelta(seconds=1)  # type: ignore[operator]
        flags.append(f"accepted to {last_day:%Y-%m-%d}")
    return " ".join(flags)


def _parse_until(text: str) -> datetime:
    try:
        day = date.fromisoformat(text)
    except ValueError as e:
        raise InputError(f"--until: expected a date YYYY-MM-DD, got {text!r}") from e
    # accepted through the whole named day (UTC)
    return datetime.combine(day + timedelta(days=1), time(0), tzinfo=UTC)


@app.command("accept")
def accept_cmd(
    finding: str = typer.Argument(..., help="Finding id or fingerprint prefix (8+ hex digits)."),
    until: str = typer.Option(..., "--until", help="Last day of the acceptance, YYYY-MM-DD."),
    reason: str = typer.Option(..., "--reason", help="Why the risk is accepted (kept in the audit trail)."),
    by: str = typer.Option("cli", "--by", help="Who accepts it."),
) -> None:
    """Accept a finding's risk until a date: it is not overdue meanwhile; afterwards it is open again."""

    def body() -> None:
        expires = _parse_until(until)
        if expires <= SYSTEM.now():
            raise InputError(f"--until {until} is in the past")
        if not reason.strip():
            raise InputError("--reason must say why the risk is accepted")
        ledger = common.open_ledger()
        outcome = accept_finding(ledger, finding, until=expires, reason=reason.strip(), by=by)
        if outcome.status is AcceptStatus.NOT_FOUND:
            raise InputError(f"no finding {finding!r} (use the id or a unique fingerprint prefix)")
        if outcome.status is AcceptStatus.RESOLVED:
            raise InputError(f"finding {outcome.finding_id} is resolved; nothing to accept")
        fid, subject = outcome.finding_id, outcome.subject
        ledger.audit(
            by, "security.accept", subject, {"finding": fid, "until": until, "reason": reason.strip()}
        )
        common.console.print(f"finding {fid} accepted until {until} ({subject})")

    common.run_guarded(body)


@app.command("score")
def score_cmd(
    customer: str | None = typer.Option(None, "--customer"),
    host: str | None = typer.Option(None, "--host"),
    last: int = typer.Option(10, "--last", min=1, help="Scans per host in the trend."),
    as_json: bool = common.JsonOption,
) -> None:
    """Hardening score per host (passed weight / total weight; critical 10, high 5, medium 2, low 1)."""

    def body() -> None:
        hist = score_points(common.open_ledger(), customer, host, last)
        out = [
            {"host": h, "score": v[-1].score, "trend": _trend(v), "history": v} for h, v in hist.items() if v
        ]
        if as_json:
            common.print_json(out)
            return
        common.table(
            "hardening score",
            ["host", "score", "trend", "history (oldest first)"],
            [
                [h, f"{v[-1].score:.1f}", _trend(v), " ".join(f"{p.score:.0f}" for p in v)]
                for h, v in hist.items()
                if v
            ],
        )

    common.run_guarded(body)


def _trend(history: list[ScorePoint]) -> str:
    if len(history) < 2:
        return "first"
    delta = history[-1].score - history[-2].score
    return "up" if delta > 0.05 else "down" if delta < -0.05 else "flat"


@app.command("rebaseline")
def rebaseline_cmd(
    host: str = typer.Argument(..., help="Host name from the estate."),
    by: str = typer.Option("cli", "--by", help="Who vouches for the current content."),
) -> None:
    """Record the host's current file hashes as its integrity baseline (changes so far become accepted)."""

    def body() -> None:
        n = rebaseline(common.load(), common.open_ledger(), host, by)
        common.console.print(f"{host}: baseline recorded for {n} files; the next scan resolves the changes")

    common.run_guarded(body)
