"""``opskeeper drill``: run a DR drill, list drills, show an evaluation, list action items, freshness."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import typer

from cli.common import (
    JsonOption,
    console,
    err_console,
    load,
    open_ledger,
    print_json,
    run_guarded,
    table,
)
from opskeeper.clock import SYSTEM
from opskeeper.drills import notices
from opskeeper.drills.context import DrillRequest, resolve
from opskeeper.drills.drive import run_drill
from opskeeper.drills.errors import ApprovalRefused, DrillFailed, DrillRefused
from opskeeper.drills.evaluate import fmt
from opskeeper.drills.freshness import freshness
from opskeeper.drills.runner import DrillResult, Hooks
from opskeeper.errors import InputError, Refused
from opskeeper.ledger.drills import drill_summaries, item_summaries, last_passes_of
from opskeeper.reports import drill as report

app = typer.Typer(help="Disaster-recovery drills: run, review evaluations, follow action items.", no_args_is_help=True)


def _secs(value: float | None) -> str:
    return "-" if value is None else fmt(timedelta(seconds=value))


@app.command("run")
def run_cmd(
    scenario: str = typer.Argument(..., help="Scenario name (runbooks/drills/<name>.yaml)."),
    customer: str = typer.Option(..., "--customer", help="Customer id."),
    approve: str | None = typer.Option(None, "--approve", help="Who approves faulting roles that need it."),
    force_window: bool = typer.Option(False, "--force-window", help="Run even inside a blackout (audited)."),
    as_json: bool = JsonOption,
) -> None:
    """Run a drill now: fault, recover, measure RTO/RPO against the contract, write the report.

    Exit code 0 passed, 1 failed, 2 bad input, 3 refused before any fault (a blackout, no usable backup,
    no approver): see docs/exit-codes.md.
    """

    def body() -> None:
        estate = load()
        request = DrillRequest(scenario, customer, approve, force_window, "cli")
        resolve(estate, request)  # an unknown customer or a bad scenario is refused before the ledger opens
        ledger = open_ledger()
        hooks = Hooks(notice=notices.send, incident=notices.incident,
                      progress=None if as_json else (lambda text: err_console.print(f"[dim]{text}[/dim]")))
        try:
            result = run_drill(estate, request, ledger=ledger, hooks=hooks)
        except (DrillRefused, ApprovalRefused) as e:
            # The request was valid (resolve passed above): the drill itself refused to start (a blackout, no
            # usable backup, no approver), recorded as aborted. A refusal, not bad input.
            raise Refused(str(e)) from e
        built = report.build(ledger, result.drill_id)
        paths = report.write(ledger, result.drill_id, report=built)
        if as_json:
            print_json(report.to_json(built) | {"report": {k: str(v) for k, v in paths.items()}})
        else:
            _print_result(result, paths)
        if not result.passed:
            raise DrillFailed(f"drill {result.drill_id} {result.status.value}: {result.reason or 'objectives missed'}")

    run_guarded(body)


def _print_result(result: DrillResult, paths: dict[str, Path]) -> None:
    ev = result.evaluation
    colour = "green" if result.passed else "red"
    console.print(f"drill #{result.drill_id} {result.scenario} on {result.customer}: "
                  f"[{colour}]{result.status.value.upper()}[/{colour}]" + (f", score {ev.score}/100" if ev else ""))  # fmt: skip
    if ev:
        table("objectives", ["objective", "measured", "target", "source", "met"],
              [[o.name.upper(), fmt(o.measured) if o.measured is not None else "-", fmt(o.target), o.source,
                "yes" if o.met else "NO"] for o in (ev.rto, ev.rpo)])  # fmt: skip
        for f in ev.findings:
            console.print(f"  finding ({f.severity.value}): {f.title}")
    console.print(f"items opened {result.items_opened}, closed {result.items_closed}")
    console.print(f"report: {paths['html']}")


@app.command("list")
def list_cmd(
    customer: str | None = typer.Option(None, "--customer", help="Only this customer."),
    as_json: bool = JsonOption,
) -> None:
    """Past drills, newest first."""

    def body() -> None:
        rows = drill_summaries(open_ledger(), customer=customer)
        if as_json:
            print_json(rows)
            return
        table("drills", ["id", "scenario", "customer", "verdict", "score", "started", "RTO / target", "RPO / target"],
              [[r.id, r.scenario, r.customer, r.status, r.score, f"{r.started_at:%Y-%m-%d %H:%M}",
                f"{_secs(r.rto_s)} / {_secs(r.rto_target_s)}", f"{_secs(r.rpo_s)} / {_secs(r.rpo_target_s)}"]
               for r in rows])  # fmt: skip

    run_guarded(body)


@app.command("show")
def show_cmd(
    drill_id: int = typer.Argument(..., help="Drill id (see `drill list`)."),
    format: str = typer.Option("md", "--format", help="md | html | json"),
    out: Path | None = typer.Option(None, "--out", help="Write to this file instead of stdout."),
) -> None:
    """The evaluation report of a drill."""

    def body() -> None:
        text = report.render(report.build(open_ledger(), drill_id), format)
        if out:
            try:
                out.write_text(text, encoding="utf-8")
            except OSError as e:
                raise InputError(f"cannot write {out}: {e.strerror}") from e
            console.print(f"written {out}")
        else:
            typer.echo(text)

    run_guarded(body)


@app.command("actions")
def actions_cmd(
    only_open: bool = typer.Option(False, "--open", help="Only open items."),
    customer: str | None = typer.Option(None, "--customer", help="Only this customer."),
    as_json: bool = JsonOption,
) -> None:
    """Action items from drill findings; closed only by a later passing drill of the same scenario."""

    def body() -> None:
        rows = item_summaries(open_ledger(), customer=customer, only_open=only_open)
        if as_json:
            print_json(rows)
            return
        table("drill action items", ["id", "customer", "scenario", "severity", "item", "owner", "due", "status"],
              [[r.id, r.customer, r.scenario, r.severity, r.title, r.owner, f"{r.due:%Y-%m-%d}",
                r.status + (f" (drill #{r.closed_by_drill})" if r.closed_by_drill else "")]
               for r in rows])  # fmt: skip

    run_guarded(body)


@app.command("freshness")
def freshness_cmd(
    customer: str | None = typer.Option(None, "--customer", help="Only this customer."),
    as_json: bool = JsonOption,
) -> None:
    """Scenarios that have not passed within the customer's tier drill period are flagged OVERDUE."""

    def body() -> None:
        estate = load()
        now = SYSTEM.now()
        ledger = open_ledger()
        rows = []
        for c in estate.customers:
            if customer and c.id != customer:
                continue
            rows += freshness(estate, c, last_passes_of(ledger, c.id), now)
        if as_json:
            print_json(rows)
            return
        table("drill freshness", ["customer", "scenario", "last pass", "due by", "state"],
              [[f.customer, f.scenario, f"{f.last_pass:%Y-%m-%d}" if f.last_pass else "never",
                f"{f.due_by:%Y-%m-%d}" if f.due_by else "now", "OVERDUE" if f.overdue else "ok"] for f in rows])  # fmt: skip

    run_guarded(body)
