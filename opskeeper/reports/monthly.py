"""The monthly service report of one customer: what was done, how the hosts are, what is open.

Shown in the customer's language and zone as Markdown, HTML or JSON. The ledger queries are
in :mod:`opskeeper.reports.monthly_data`; the view types (the period, the scrubbing of secrets
and private strings, the rows and the report) in :mod:`opskeeper.reports.monthly_view`. Their
public names are re-exported here for callers.
"""

from __future__ import annotations

import dataclasses
import json
import re
from datetime import datetime, timedelta
from functools import cache
from typing import Any

import jinja2
import yaml

from opskeeper.config.secrets import redact
from opskeeper.config.types import Language
from opskeeper.notify import locale
from opskeeper.paths import TEMPLATES_DIR
from opskeeper.reports.monthly_data import HEALTH_METRICS, build, find_customer
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
    month_of,
    month_period,
)

__all__ = [
    "FORMATS",
    "HEALTH_METRICS",
    "BackupRow",
    "BreachRow",
    "DrillRow",
    "FindingRow",
    "HealthRow",
    "ItemRow",
    "MonthlyReport",
    "NoticeRow",
    "Period",
    "Problem",
    "ReportInputError",
    "RestoreRow",
    "RunRow",
    "ScoreRow",
    "Scrubber",
    "SecuritySummary",
    "build",
    "find_customer",
    "labels",
    "month_of",
    "month_period",
    "render",
    "to_json",
]

REPORTS_DIR = TEMPLATES_DIR / "reports"
FORMATS = ("md", "html", "json")


@cache
def labels() -> dict[str, dict[str, str]]:
    return yaml.safe_load((REPORTS_DIR / "monthly.i18n.yaml").read_text(encoding="utf-8"))


# Reasons the maintenance gate writes (opskeeper.maintenance.gate_for), in the report's language.
_WHY = [
    (re.compile(r"forced outside the maintenance window"), "why_forced_outside"),
    (re.compile(r"forced inside blackout '(.*)'"), "why_forced_blackout"),
    (re.compile(r"blackout: (.*)"), "why_blackout"),
    (re.compile(r"outside the maintenance window; next opens (.*)"), "why_outside"),
]


def _why(reason: str, table: dict[str, str]) -> str:
    """A run's reason in the report's language when it is one the gate writes; other text as it is."""
    for pattern, key in _WHY:
        m = pattern.fullmatch(reason or "")
        if m and key in table:
            return table[key].format(*m.groups())
    return reason


def _env(lang: Language, tz: str) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(REPORTS_DIR)),
        autoescape=jinja2.select_autoescape(["html", "html.j2"]),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    table = {**labels()["en"], **labels().get(lang.value, {})}
    env.globals["t"] = lambda key: table.get(key, key)
    env.filters["st"] = lambda v: table.get(f"st_{v}", v)
    env.filters["sev"] = lambda v: table.get(f"sev_{v}", v)
    env.filters["ev"] = lambda v: table.get(f"ev_{v}", v)
    env.filters["trig"] = lambda v: table.get(f"trig_{v}", v)
    env.filters["why"] = lambda v: _why(v, table)
    env.filters["cadence"] = lambda v: locale.cadence_label(v, lang)
    env.filters["when"] = lambda at: locale.format_datetime(at, lang, tz)
    env.filters["dur"] = lambda td: locale.format_duration(td, lang)
    env.filters["num"] = lambda v, unit="": "—" if v is None else f"{v:.1f}{' %' if unit == '%' else ''}"
    env.filters["size"] = _size
    env.filters["cell"] = lambda v: str(v).replace("|", "\\|").replace("\n", " ")  # markdown table cell
    env.filters["spark"] = _sparkline
    return env


def _size(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return str(n)


def _sparkline(points: list[float]) -> str:
    """A tiny inline SVG of hardening scores; markup built from numbers only (nothing to escape)."""
    if len(points) < 2:
        return ""
    w, h, pad = 120, 24, 3
    low, high = min(points) - 5, max(points) + 5  # the month's range, so a 10-point rise is visible
    step = w / (len(points) - 1)
    coords = " ".join(
        f"{i * step:.1f},{pad + (h - 2 * pad) * (high - v) / (high - low):.1f}" for i, v in enumerate(points)
    )
    return (f'<svg xmlns="http://www.w3.org/2000/svg" class="spark" width="{w}" height="{h}" '
            f'viewBox="0 0 {w} {h}"><polyline fill="none" stroke="#1565c0" stroke-width="2" '
            f'points="{coords}"/></svg>')  # fmt: skip


def to_json(value: Any) -> Any:
    """The report as plain data: ISO 8601 UTC instants, durations in seconds."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_json(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, list):
        return [to_json(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    return value.value if isinstance(value, Language) else value


def render(report: MonthlyReport, fmt: str) -> str:
    if fmt not in FORMATS:
        raise ReportInputError(f"unknown report format {fmt!r}; use one of {', '.join(FORMATS)}")
    if fmt == "json":
        return redact(json.dumps(to_json(report), ensure_ascii=False, indent=2)) + "\n"
    env = _env(report.lang, report.period.tz)
    text = env.get_template(f"monthly.{fmt}.j2").render(r=report, p=report.period)
    return redact(text)  # a last pass: nothing registered as secret leaves, whatever the template did
