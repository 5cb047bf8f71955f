"""Core commands: validate, schema, actions, maintenance, runs (audit: see audit.py)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from typing import Any

import typer
from rich.markdown import Markdown

from cli import common
from cli.common import JsonOption, console, print_json, run_guarded, table
from cli.progress import run_maintenance_with_progress
from deployments import local_server
from opskeeper.config.estate import Estate
from opskeeper.config.types import Cadence
from opskeeper.errors import InputError, Refused
from opskeeper.ledger import runs as ledger_runs
from opskeeper.paths import home_dir
from opskeeper.reports.runs import done_in_run, run_markdown
from opskeeper.runbook import actions
from opskeeper.runbook.params import describe
from opskeeper.validate import validate_all

maintenance_app = typer.Typer(help="Monthly, quarterly and annual maintenance.", no_args_is_help=True)
runs_app = typer.Typer(help="Runs on record in the ledger.", no_args_is_help=True)


def validate(
    json_out: bool = JsonOption,
    offline: bool = typer.Option(
        False, "--offline", help="Skip the checks that need the network or a Prefect server (secret blocks)."
    ),
) -> None:
    """Check the estate, runbooks and templates; print every problem with file and line."""

    def body() -> None:
        path = common.estate_path()
        estate, runbooks, _ = validate_all(path, offline=offline)
        hosts = sum(len(s.hosts) for c in estate.customers for s in c.systems)
        if json_out:
            print_json({"ok": True, "config": str(path), "customers": len(estate.customers), "hosts": hosts,
                        "runbooks": sorted(runbooks.runbooks)})  # fmt: skip
            return
        console.print(f"[green]ok[/green] {path}: {len(estate.customers)} customers, {hosts} hosts, "
                      f"runbooks: {', '.join(sorted(runbooks.runbooks))}")  # fmt: skip

    run_guarded(body)


def schema() -> None:
    """Print the JSON schema of the estate file (for editors)."""
    sys.stdout.write(json.dumps(Estate.model_json_schema(), indent=2) + "\n")


def actions_list(
    name: str | None = typer.Argument(None, help="Only this action, e.g. files.verify."), json_out: bool = JsonOption
) -> None:
    """Built-in step actions and the parameters each takes in a step's 'with:'."""

    def body() -> None:
        chosen = [(s, describe(s.params)) for s in ([actions.get(name)] if name else actions.specs())]
        if json_out:
            print_json([{"action": s.name, "summary": s.summary, "params": ps} for s, ps in chosen])
            return
        width = max(60, shutil.get_terminal_size((100, 24)).columns)
        for s, ps in chosen:  # a reference page, not a table: names must never be cut short
            console.print(f"[bold]{s.name}[/bold]  {s.summary.replace('``', '')}", highlight=False, soft_wrap=True)
            if not ps:
                console.print("    (no parameters)", highlight=False)
            name_w = max(len(p.name) for p in ps) if ps else 0
            for p in ps:
                need = "required" if p.required else f"default {json.dumps(p.default)}"
                head = f"    {p.name:<{name_w}}  {p.type}, {need}"
                console.print(head, highlight=False, soft_wrap=True)
                for line in textwrap.wrap(p.description, width - 8 - name_w):
                    console.print(" " * (6 + name_w) + line, highlight=False, soft_wrap=True)
            console.print()

    run_guarded(body)


@maintenance_app.command("run")
def maintenance_run(
    cadence: Cadence = typer.Argument(..., help="monthly, quarterly or annual"),
    customer: str | None = typer.Option(None, "--customer", help="Only this customer."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Show what would run; change nothing."),
    force_window: bool = typer.Option(False, "--force-window", help="Run outside the window (audited)."),
    by: str | None = typer.Option(None, "--by", help="Who triggers it (default: $USER)."),
    approve: str | None = typer.Option(
        None,
        "--approve",
        help="Who approves the steps marked requires_approval (recorded in the audit trail).",
    ),
    again: bool = typer.Option(
        False, "--again", help="Repeat every step, also those done by earlier runs of this period (audited)."
    ),
    json_out: bool = JsonOption,
) -> None:
    """Run a maintenance cadence now, for every customer or one.

    A re-run in the same period resumes: steps done earlier are not repeated (--again repeats them).
    Exit code 0 done, 1 a step failed, 2 bad input, 3 refused (window, blackout, approval): see docs/exit-codes.md.
    """

    def body() -> int:
        estate, runbooks, _ = validate_all(common.estate_path())
        if customer:
            try:
                chosen = estate.customer(customer)
            except KeyError:
                known = ", ".join(c.id for c in estate.customers)
                raise InputError(f"no customer {customer!r} in the estate; known: {known}") from None
            if cadence not in estate.tier_of(chosen).cadences:  # else the flow skips it and we would exit 0
                raise InputError(
                    f"customer {chosen.id}: tier {chosen.tier!r} does not include {cadence.value} maintenance"
                )
        common.open_ledger()  # input is valid: fail here, with one clear line, if the ledger cannot be opened
        results = run_maintenance_with_progress(
            estate,
            runbooks,
            cadence,
            customer,
            dry_run=dry_run,
            force_window=force_window,
            by=by,
            quiet=json_out,
            approved_by=approve,
            again=again,
        )
        if json_out:
            print_json(results)
        else:
            _summary(estate, results)
        bad = [r for r in results if r["status"] in ("failed", "partial")]
        if bad:
            return 1
        if refused := [] if dry_run else _refusals(results):
            raise Refused("; ".join(refused))
        return 0

    raise typer.Exit(run_guarded(body))


def _refusals(results: list[dict[str, Any]]) -> list[str]:
    """What the window, a blackout or a missing approval held back, per run (exit code 3 when any)."""
    out = []
    for r in results:
        what = f"run {r['run_id']} ({r['customer']} {r['cadence']})"
        if r["status"] in ("skipped-window", "skipped-blackout"):
            out.append(f"{what} refused, nothing was run: {r['reason']}")
        held = [f"{h['host']}: {', '.join(h['held'])}" for h in r.get("hosts") or [] if h.get("held")]
        if held:
            out.append(f"{what} held back step(s) ({'; '.join(held)}); see opskeeper runs show {r['run_id']}")
    return out


def _summary(estate: Estate, results: list[dict[str, Any]]) -> None:
    rows = []
    for r in results:
        hosts = r.get("hosts") or []
        if not hosts:
            rows.append([r["run_id"], r["customer"], "", r["status"], "", r.get("reason", "")])
        for h in hosts:
            rows.append([r["run_id"], r["customer"], h["host"], h["status"], h["steps"], _host_note(r, h)])
    table("Maintenance summary", ["run", "customer", "host", "status", "steps", "failed / note"], rows)
    console.print(f"ledger: {common.open_ledger().url}   details: opskeeper runs show RUN_ID")


def _host_note(run: dict[str, Any], host: dict[str, Any]) -> str:
    if host["failed"] or host.get("error"):
        return ", ".join(host["failed"]) or host.get("error") or ""
    notes = []
    if host.get("done_earlier"):
        runs = ", ".join(str(r) for r in host.get("earlier_runs") or [])
        notes.append(f"{host['done_earlier']} done earlier (run {runs})")
    if host.get("held"):
        notes.append(f"held back: {', '.join(host['held'])}")
    return "; ".join(notes) or run.get("reason", "")


@runs_app.command("list")
def runs_list(
    customer: str | None = typer.Option(None, "--customer"),
    kind: str | None = typer.Option(None, "--kind", help="maintenance, backup, scan, drill, ..."),
    limit: int = typer.Option(30, "--limit"),
    json_out: bool = JsonOption,
) -> None:
    """Recent runs, newest first."""

    def body() -> None:
        found = ledger_runs.list_runs(common.open_ledger(), kind=kind, customer_id=customer, limit=limit)
        data = [_run_dict(r, steps=False) for r in found]
        if json_out:
            print_json(data)
            return
        table("Runs", ["id", "kind", "cadence", "customer", "period", "status", "started (UTC)", "trigger", "reason"],
              [[d["id"], d["kind"], d["cadence"], d["customer"], d["period"], d["status"],
                d["started_at"][:16].replace("T", " "), d["trigger"], (d["reason"] or "")[:60]] for d in data])  # fmt: skip

    run_guarded(body)


@runs_app.command("show")
def runs_show(run_id: int = typer.Argument(...), json_out: bool = JsonOption) -> None:
    """One run with every step."""

    def body() -> None:
        run = ledger_runs.get_run(common.open_ledger(), run_id)
        if run is None:
            raise InputError(f"no run {run_id} in the ledger")
        if json_out:
            print_json(_run_dict(run, steps=True))
            return
        tz = _customer_tz(run.customer_id)
        console.print(Markdown(run_markdown(run, tz)))

    run_guarded(body)


def _customer_tz(customer_id: str | None) -> str:
    try:
        return common.load().customer(customer_id or "").timezone
    except (KeyError, Exception):  # noqa: BLE001 - showing a run must not need a valid config
        return "UTC"


def _run_dict(run: Any, steps: bool) -> dict[str, Any]:
    d = {
        "id": run.id, "kind": run.kind, "cadence": run.cadence, "customer": run.customer_id,
        "system": run.system_id, "period": run.period, "status": run.status, "reason": run.reason,
        "trigger": run.trigger, "triggered_by": run.triggered_by, "flow_run_id": run.flow_run_id,
        "dry_run": run.dry_run, "force_window": run.force_window,
        "started_at": run.started_at.isoformat(), "ended_at": run.ended_at.isoformat() if run.ended_at else None,
        "summary": run.summary,
    }  # fmt: skip
    if steps:
        d["steps"] = [
            {"runbook": s.runbook, "step": s.step, "host": s.host, "status": s.status, "attempts": s.attempts,
             "started_at": s.started_at.isoformat(), "duration_s": s.duration_s, "exit_code": s.exit_code,
             "output": s.output, "error": s.error, "detail": s.detail, "done_in_run": done_in_run(s)}
            for s in run.steps
        ]  # fmt: skip
    return d


def serve(
    limit: int | None = typer.Option(None, "--limit", help="At most this many flow runs at once."),
    port: int = typer.Option(
        4200, "--port", help="Port of the local Prefect server (without PREFECT_API_URL)."
    ),
) -> None:
    """Serve every deployment (tick every 5 minutes, maintenance, drills, ...) and the ack endpoint.

    Without PREFECT_API_URL a local Prefect server is started first (UI on --port), because
    schedules only fire on a real server.
    """
    config = str(common.STATE.config or common.estate_path())
    serve_cmd = [sys.executable, "-m", "deployments.serve", config] + ([str(limit)] if limit else [])

    def body() -> int:
        if os.environ.get("PREFECT_API_URL"):
            return subprocess.call(serve_cmd)
        server, api_url = local_server.start(home_dir(), port=port)
        console.print(
            f"Prefect server: {api_url.removesuffix('/api')} (log: {home_dir() / 'prefect' / 'server.log'})"
        )
        try:
            return subprocess.call(serve_cmd, env={**os.environ, "PREFECT_API_URL": api_url})
        except KeyboardInterrupt:
            return 0
        finally:
            server.terminate()
            server.wait(timeout=30)

    raise typer.Exit(run_guarded(body))
