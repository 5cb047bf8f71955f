"""Run a flow from the CLI with a live progress display fed by the ledger."""

from __future__ import annotations

import getpass
import os
import threading
from datetime import datetime
from typing import Any

import httpx
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)

from cli import common
from deployments import local_server
from opskeeper.clock import SYSTEM
from opskeeper.config.estate import Estate
from opskeeper.config.runbook import RunbookSet
from opskeeper.config.types import Cadence
from opskeeper.ledger import Ledger
from opskeeper.ledger import runs as ledger_runs
from opskeeper.ledger.runs import maintenance_progress
from opskeeper.paths import home_dir
from opskeeper.runbook.engine import selects


def who(by: str | None) -> str:
    return by or os.environ.get("OPSKEEPER_USER") or getpass.getuser()


def _expected_steps(estate: Estate, runbooks: RunbookSet, cadence: Cadence, customer: str | None) -> int:
    steps = runbooks.expanded_steps(cadence.value)
    hosts = [h for c in estate.customers if customer in (None, c.id) for s in c.systems for h in s.hosts]
    return sum(1 for h in hosts for _, st in steps if selects(st.on, h))


def run_maintenance_with_progress(
    estate: Estate,
    runbooks: RunbookSet,
    cadence: Cadence,
    customer: str | None,
    *,
    dry_run: bool,
    force_window: bool,
    by: str | None,
    quiet: bool,
    approved_by: str | None = None,
    again: bool = False,
) -> list[dict[str, Any]]:
    """Start the maintenance flow (ephemeral Prefect unless PREFECT_API_URL is set) and show its steps."""
    # Prefect's own tracebacks go to $OPSKEEPER_HOME/prefect/server.log, not to the person at the console: its
    # temporary server's on SQLite ("database is locked" from the event recorder under load), and its client's
    # for every event it could not send when a server stops answering.
    local_server.server_logs_to_file(home_dir(), server=not os.environ.get("PREFECT_API_URL"))
    from flows.maintenance import maintenance  # the flow layer loads Prefect: only when a run starts

    kwargs: dict[str, Any] = dict(cadence=cadence, customer=customer, dry_run=dry_run, force_window=force_window,
                                  triggered_by=who(by), trigger="manual", config=str(common.estate_path()),
                                  approved_by=approved_by, again=again)  # fmt: skip
    started = SYSTEM.now()
    ledger = common.open_ledger()
    if quiet:
        try:
            return maintenance(**kwargs)
        except Exception as e:  # noqa: BLE001 - re-raised unless the Prefect server went away
            return _on_record(e, ledger, started, cadence, customer)
    outcome: dict[str, Any] = {}

    def work() -> None:
        try:
            outcome["result"] = maintenance(**kwargs)
        except BaseException as e:  # handed to the main thread
            outcome["error"] = e

    total = _expected_steps(estate, runbooks, cadence, customer)
    worker = threading.Thread(target=work, name="maintenance-flow", daemon=True)
    columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn())  # fmt: skip
    with Progress(*columns, console=common.console, transient=False) as progress:
        task = progress.add_task(f"{cadence.value} maintenance: starting Prefect", total=total or None)
        worker.start()
        while worker.is_alive():
            worker.join(0.3)
            done, last = _progress(ledger, started)
            label = (
                f"{cadence.value} maintenance: {last}" if last else f"{cadence.value} maintenance: starting"
            )
            progress.update(task, completed=done, description=label[:70])
        done, _ = _progress(ledger, started)
        failed = "error" in outcome
        label = f"{cadence.value} maintenance: {'stopped' if failed else 'done'}"
        progress.update(task, completed=done if failed else max(done, total), description=label)
    if "error" in outcome:
        return _on_record(outcome["error"], ledger, started, cadence, customer)
    return outcome["result"]


def _on_record(
    error: BaseException, ledger: Ledger, started: datetime, cadence: Cadence, customer: str | None
) -> list[dict[str, Any]]:
    """When the Prefect server stopped answering mid-flow, the runs as the ledger has them (the work goes on
    without Prefect: the flow's return value is what is lost); any other error as it was."""
    lost = _prefect_unreachable(error)
    if lost is None:
        raise error
    runs = [r for r in ledger_runs.list_runs(ledger, kind="maintenance", customer_id=customer, limit=200)
            if r.cadence == cadence.value and r.started_at is not None and r.started_at >= started]  # fmt: skip
    api = os.environ.get("PREFECT_API_URL", "Prefect's temporary server")
    common.err_console.print(
        f"[yellow]warning:[/yellow] the Prefect server ({api}) stopped answering during the run "
        f"({type(lost).__name__}); {len(runs)} run(s) as recorded in the ledger follow",
        markup=True, soft_wrap=True, highlight=False,
    )  # fmt: skip
    if not runs:
        raise error
    return [{"run_id": r.id, "customer": r.customer_id, **(r.summary or {}), "status": str(r.status)}
            for r in sorted(runs, key=lambda r: r.id)]  # fmt: skip


def _prefect_unreachable(error: BaseException) -> BaseException | None:
    """The transport error of the Prefect client in ``error``'s chain (causes and contexts), if any."""
    seen: set[int] = set()
    e: BaseException | None = error
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        if isinstance(e, httpx.TransportError):
            return e
        e = e.__cause__ or e.__context__
    return None


def _progress(ledger: Ledger, since: datetime) -> tuple[int, str]:
    p = maintenance_progress(ledger, since)
    return p.done, (f"{p.last_host} {p.last_step} {p.last_status}" if p.last_host is not None else "")
