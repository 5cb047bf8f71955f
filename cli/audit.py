"""``opskeeper audit verify | list | anchor``: the hash-chained audit trail and its anchors outside the ledger."""

from __future__ import annotations

from typing import Any

import typer
from rich.markup import escape

from cli import common
from cli.common import JsonOption, console, print_json, run_guarded, table
from opskeeper.anchors.check import AnchorReport, check_anchors
from opskeeper.anchors.places import LOCAL_WARNING
from opskeeper.anchors.write import AnchorOutcome, PlaceStatus, anchor_now
from opskeeper.ledger.audit import recent_entries
from opskeeper.timefmt import fmt_local

app = typer.Typer(help="The hash-chained audit trail and its anchors.", no_args_is_help=True)


@app.command("verify")
def audit_verify(
    no_anchors: bool = typer.Option(
        False, "--no-anchors", help="Walk the chain only; do not check it against the anchors (no estate needed)."
    ),
    json_out: bool = JsonOption,
) -> None:
    """Walk the audit chain and check it against every anchor; exit 1 on any problem.

    An edited or deleted entry breaks the chain; a consistent rewrite or a truncation shows against
    the anchors. An anchor target that cannot be read also exits 1: the check did not happen.
    """

    def body() -> int:
        estate = None if no_anchors else common.load()  # bad config: exit 2 before reading anything
        ledger = common.open_ledger()
        count, problems = ledger.verify_audit()
        report = check_anchors(estate, ledger) if estate is not None else None
        ok = not problems and (report is None or report.ok)
        if json_out:
            print_json({"entries": count, "ok": ok, "problems": problems,
                        "anchors": _report_dict(report) if report else {"checked": False}})  # fmt: skip
            return 0 if ok else 1
        for p in problems:
            console.print(f"[red]entry {p.seq}:[/red] {p.problem}")
        if problems:
            console.print(f"[red]audit chain BROKEN[/red]: {len(problems)} problem(s) in {count} entries")
        else:
            console.print(f"[green]audit chain intact[/green]: {count} entries")
        if report is not None:
            _print_report(report)
        return 0 if ok else 1

    raise typer.Exit(run_guarded(body))


def _report_dict(report: AnchorReport) -> dict[str, Any]:
    return {"checked": True, "ok": report.ok, "ledger_id": report.ledger_id,
            "places": report.places, "results": report.results, "problems": report.problems,
            "warnings": report.warnings}  # fmt: skip


def _print_report(report: AnchorReport) -> None:
    for msg in report.problems:
        console.print(f"[red]anchor:[/red] {escape(msg)}", soft_wrap=True)
    for msg in report.warnings:
        console.print(f"[yellow]warning:[/yellow] {escape(msg)}", soft_wrap=True)
    checked = len(report.results)
    where = escape(", ".join(p.where for p in report.places if p.reachable) or "nowhere")
    if report.ok:
        console.print(f"[green]anchors match[/green]: {checked} anchor(s) of ledger {report.ledger_id} at {where}",
                      soft_wrap=True)
    else:
        console.print(f"[red]anchors do NOT match[/red]: {len(report.problems)} problem(s), {checked} anchor(s) "
                      f"read at {where}", soft_wrap=True)  # fmt: skip


@app.command("anchor")
def audit_anchor(json_out: bool = JsonOption) -> None:
    """Write the audit head now to the estate's audit.anchor_targets (else $OPSKEEPER_HOME/anchors).

    Nothing is written where the newest anchor already holds this head. Exit 1 if a target failed.
    """

    def body() -> int:
        estate = common.load()
        outcome = anchor_now(estate, common.open_ledger())
        if json_out:
            print_json({"anchor": outcome.anchor, "places": outcome.places, "local_only": outcome.local_only,
                        "ok": not outcome.failed})  # fmt: skip
        else:
            _print_outcome(outcome)
        return 1 if outcome.failed else 0

    raise typer.Exit(run_guarded(body))


def _print_outcome(outcome: AnchorOutcome) -> None:
    a = outcome.anchor
    console.print(f"audit head #{a.seq} {a.hash} of ledger {a.ledger_id}", soft_wrap=True)
    for p in outcome.places:
        if p.status is PlaceStatus.FAILED:
            console.print(f"[red]failed[/red] {p.target}: {escape(p.error)}", soft_wrap=True)
        elif p.status is PlaceStatus.UNCHANGED:
            console.print(f"unchanged {escape(p.where)}: the newest anchor there already holds this head", soft_wrap=True)
        else:
            kept = f", retained until {p.retained_until.isoformat()}" if p.retained_until else ""
            console.print(f"[green]anchored[/green] {escape(p.where)}{p.name and p.name.removeprefix('anchors/')}{kept}",
                          soft_wrap=True)  # fmt: skip
    if outcome.local_only:
        console.print(f"[yellow]warning:[/yellow] {LOCAL_WARNING}", soft_wrap=True)


@app.command("list")
def audit_list(limit: int = typer.Option(30, "--limit"), json_out: bool = JsonOption) -> None:
    """Recent audit entries."""

    def body() -> None:
        rows = recent_entries(common.open_ledger(), limit)
        data = [{"seq": e.seq, "at": e.at.isoformat(), "actor": e.actor, "action": e.action, "subject": e.subject,
                 "details": e.details, "hash": e.hash} for e in rows]  # fmt: skip
        if json_out:
            print_json(data)
            return
        table("Audit trail", ["seq", "at", "actor", "action", "subject"],
              [[d["seq"], fmt_local(e.at, "UTC"), d["actor"], d["action"], d["subject"]] for d, e in zip(data, rows, strict=True)])  # fmt: skip

    run_guarded(body)
