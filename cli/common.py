"""Helpers shared by the CLI command groups: config, ledger, output, errors."""

from __future__ import annotations

import dataclasses
import json
import sys
from collections.abc import Callable, Iterable, Sequence
from datetime import date, datetime, timedelta
from enum import Enum
from pathlib import Path
from typing import Any, TypeVar

import typer
from pydantic import BaseModel
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from opskeeper.config.estate import Estate
from opskeeper.config.loader import load_estate
from opskeeper.config.secrets import redact
from opskeeper.errors import OpskeeperError
from opskeeper.ledger import Ledger
from opskeeper.paths import config_path
from opskeeper.timefmt import fmt_local

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)

T = TypeVar("T")


class State:
    """Options given before the command (``opskeeper -c FILE ...``)."""

    config: Path | None = None


STATE = State()

JsonOption = typer.Option(False, "--json", help="Print JSON instead of a table.")


def estate_path() -> Path:
    return config_path(STATE.config)


def load() -> Estate:
    """The estate named by --config / $OPSKEEPER_CONFIG / ./opskeeper.yaml / the bundled example."""
    return load_estate(estate_path())


def open_ledger() -> Ledger:
    return Ledger.open()


def to_jsonable(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [to_jsonable(v) for v in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Path):
        return str(value)
    return value


def print_json(value: Any) -> None:
    """Machine-readable output on stdout: valid JSON, secrets redacted."""
    sys.stdout.write(redact(json.dumps(to_jsonable(value), ensure_ascii=False, indent=2)) + "\n")


def table(title: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    t = Table(title=title, title_justify="left")
    for c in columns:
        t.add_column(c)
    for row in rows:
        t.add_row(*(escape(redact("" if v is None else str(v))) for v in row))  # data, not markup
    console.print(t)


def run_guarded(fn: Callable[[], T]) -> T:
    """Run a command body; map opskeeper errors to their exit codes with a message on stderr."""
    try:
        return fn()
    except OpskeeperError as e:
        # Escaped: messages quote patterns and paths ("[a-z0-9]", "hosts[0]") that rich would read as markup.
        err_console.print(f"[red]error:[/red] {escape(redact(str(e)))}", markup=True, soft_wrap=True)
        hint = getattr(e, "hint", None)
        if hint:
            err_console.print(f"hint: {escape(hint)}")
        raise typer.Exit(e.exit_code) from e


def fmt_time(value: datetime | None, tz: str | None = None) -> str:
    """An instant for a table cell, in ``tz`` (default UTC); empty for None."""
    return "" if value is None else fmt_local(value, tz or "UTC")
