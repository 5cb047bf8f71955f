"""The ``opskeeper`` command: one typer app, a sub-app per area."""

from __future__ import annotations

from pathlib import Path

import typer

from cli import audit, backup, common, core, drill, report, scan, schedule, simulate
from cli import notify as notify_cli

app = typer.Typer(
    name="opskeeper",
    help="Ops runbooks, maintenance, backups, security scans and DR drills under service contracts.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)


@app.callback()
def _root(
    config: Path | None = typer.Option(
        None, "--config", "-c", help="Estate file (else $OPSKEEPER_CONFIG, ./opskeeper.yaml, the example)."
    ),
) -> None:
    common.STATE.config = config


app.command("validate")(core.validate)
app.command("schema")(core.schema)
app.command("actions")(core.actions_list)
app.command("serve")(core.serve)
app.add_typer(core.maintenance_app, name="maintenance")
app.add_typer(core.runs_app, name="runs")
app.add_typer(audit.app, name="audit")
app.add_typer(schedule.app, name="schedule")
app.command("simulate")(simulate.simulate)
app.add_typer(scan.app, name="scan")
app.add_typer(notify_cli.app, name="notify")
app.add_typer(drill.app, name="drill")
app.add_typer(backup.app, name="backup")
app.add_typer(report.app, name="report")
