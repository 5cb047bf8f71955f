"""``opskeeper report monthly | evidence | verify-pack``: what customers and auditors read."""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path

import typer

from cli.common import console, load, open_ledger, print_json, run_guarded
from opskeeper.clock import SYSTEM
from opskeeper.errors import InputError, WorkFailed
from opskeeper.reports import evidence, monthly

app = typer.Typer(help="Monthly customer reports and evidence packs for auditors.", no_args_is_help=True)


class PackProblems(WorkFailed):
    """The evidence pack does not check out (a hash differs, the chain was rewritten)."""


def _since(text: str | None) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InputError(f"--since {text!r} is not a date like 2026-01-01") from None


@app.command("monthly")
def monthly_cmd(
    customer: str = typer.Option(..., "--customer", help="Customer id."),
    month: str | None = typer.Option(
        None, "--month", help="YYYY-MM in the customer's zone (default: this month)."
    ),
    fmt: str = typer.Option("md", "--format", help="md, html or json."),
    out: Path | None = typer.Option(None, "--out", help="Write to this file instead of stdout."),
    lang: str | None = typer.Option(
        None, "--lang", help="zh-CN, en or ru (default: the customer's language)."
    ),
) -> None:
    """The month's report for one customer: runs, health, backups, findings, drills, messages, SLA."""

    def body() -> None:
        estate = load()
        tz = monthly.find_customer(estate, customer).timezone
        report = monthly.build(
            estate, open_ledger(), customer, month or monthly.month_of(SYSTEM.now(), tz), lang=lang
        )
        text = monthly.render(report, fmt)
        if out is None:
            sys.stdout.write(text)
            return
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(text, encoding="utf-8")
        except OSError as e:
            raise InputError(f"cannot write {out}: {e.strerror}") from e
        console.print(f"wrote {out} ({report.lang.value}, {report.period.month}, {report.period.tz})", soft_wrap=True)

    run_guarded(body)


@app.command("evidence")
def evidence_cmd(
    customer: str = typer.Option(..., "--customer", help="Customer id."),
    out: Path = typer.Option(..., "--out", help="The ZIP to write (atomically)."),
    since: str | None = typer.Option(None, "--since", help="First day (YYYY-MM-DD) in the customer's zone."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """An evidence pack for auditors: reports, drills, audit trail with its head hash, records, MANIFEST.json."""

    def body() -> None:
        result = evidence.build_pack(load(), open_ledger(), customer, out, since=_since(since))
        if as_json:
            print_json(result)
        else:
            chain = "verified" if result.chain_ok else "[red]BROKEN[/red] (see audit/verification.json)"
            console.print(f"wrote {result.path}: {result.files} files, months {', '.join(result.months)}; "
                          f"audit chain {chain}, head #{result.head_seq} {result.head_hash}",
                          soft_wrap=True)  # one line, however long: a script greps it  # fmt: skip
        if not result.chain_ok:
            raise PackProblems("the audit chain does not verify; the pack records where it breaks")

    run_guarded(body)


@app.command("verify-pack")
def verify_pack_cmd(
    pack: Path = typer.Argument(..., help="An evidence pack ZIP."),
    previous: Path | None = typer.Option(
        None, "--previous", help="An older pack: its head must still be there."
    ),
) -> None:
    """Check a pack's file hashes and audit chain; exit 1 on any problem."""

    def body() -> None:
        problems = evidence.verify_pack(pack, previous)
        for p in problems:
            console.print(f"[red]problem:[/red] {p}", soft_wrap=True)
        if problems:
            raise PackProblems(f"{len(problems)} problem(s) in {pack}")
        console.print(f"{pack}: every file matches MANIFEST.json; the audit chain links"
                      + (f" and still holds the head of {previous}" if previous else ""), soft_wrap=True)  # fmt: skip

    run_guarded(body)
