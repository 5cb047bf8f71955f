"""``opskeeper schedule show``: what will run when, the notices, and the blackouts that move work."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import typer

from cli import common
from opskeeper.calendar import (
    CustomerSchedule,
    Interval,
    PlannedRun,
    WindowOccurrence,
    WindowStatus,
)
from opskeeper.calendar.intervals import zone
from opskeeper.clock import SYSTEM, Clock
from opskeeper.config.estate import Customer, Estate
from opskeeper.errors import InputError
from opskeeper.ledger import Ledger, LedgerError, default_url
from opskeeper.ledger.planning import History
from opskeeper.planner import Planner
from opskeeper.scheduling import load_snapshot

app = typer.Typer(help="What will run when: windows, blackouts, notices.", no_args_is_help=True)


def read_history(now: datetime) -> History:
    """The same ledger snapshot the tick plans from (runs, announced windows, attempts, first tick).

    Read-only: a ledger that does not exist yet is not created, it just means nothing happened yet.
    """
    url = default_url()
    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).exists():
        return History()
    ledger = Ledger.open(url, migrate=False)
    try:
        return load_snapshot(ledger, now)
    except LedgerError as e:
        raise LedgerError(f"cannot read the schedule's state from the ledger at {ledger.url}: {e}") from e
    finally:
        ledger.close()


def pick_customers(estate: Estate, customer_id: str | None) -> list[Customer]:
    if customer_id is None:
        return list(estate.customers)
    try:
        return [estate.customer(customer_id)]
    except KeyError:
        known = ", ".join(c.id for c in estate.customers)
        raise InputError(f"unknown customer {customer_id!r}; known: {known}") from None


def parse_at(value: str | None, clock: Clock = SYSTEM) -> datetime:
    if value is None:
        return clock.now()
    try:
        at = datetime.fromisoformat(value)
    except ValueError as e:
        raise InputError(f"--at: expected an ISO 8601 time like 2026-11-23T09:00+01:00, got {value!r}") from e
    if at.tzinfo is None:
        raise InputError(f"--at: give a UTC offset or 'Z' (e.g. {value}Z); got naive time {value!r}")
    return at.astimezone(UTC)


def local(at: datetime | None, tz: str) -> str:
    """Wall clock in the customer's zone with the zone abbreviation: 'Sat 2026-11-28 22:00 CST'."""
    return "" if at is None else at.astimezone(zone(tz)).strftime("%a %Y-%m-%d %H:%M %Z")


def local_span(iv: Interval | None, tz: str) -> str:
    """'Sat 2026-11-28 22:00 -> 00:00 CST' (end shown with its date when it is another day)."""
    if iv is None:
        return ""
    start, end = iv.start.astimezone(zone(tz)), iv.end.astimezone(zone(tz))
    tail = end.strftime("%H:%M %Z") if end.date() == start.date() else local(iv.end, tz)
    return f"{start.strftime('%a %Y-%m-%d %H:%M')} -> {tail}"


def local_iso(at: datetime | None, tz: str) -> str | None:
    return None if at is None else at.astimezone(zone(tz)).isoformat()


def _interval_json(iv: Interval, tz: str) -> dict[str, str | None]:
    return {
        "start": iv.start.isoformat(),
        "end": iv.end.isoformat(),
        "start_local": local_iso(iv.start, tz),
        "end_local": local_iso(iv.end, tz),
        "zone": iv.start.astimezone(zone(tz)).tzname(),
    }


def _window_json(w: WindowOccurrence, tz: str) -> dict[str, object]:
    return {
        **_interval_json(w.window, tz),
        "status": w.status.value,
        "open": [_interval_json(p, tz) for p in w.open],
        "blocked_by": w.blocked_reasons,
    }


def _run_json(r: PlannedRun, tz: str) -> dict[str, object]:
    return {
        "cadence": r.cadence.value,
        "period": r.period.key,
        "period_start_local": local_iso(r.period.start, tz),
        "period_end_local": local_iso(r.period.end, tz),
        "status": r.status.value,
        "window": _interval_json(r.window, tz) if r.window else None,
        "notice_at": r.notice_at.isoformat() if r.notice_at else None,
        "notice_at_local": local_iso(r.notice_at, tz),
        "moved_by": [
            {"window": _interval_json(m.window, tz), "status": m.status.value, "blackouts": list(m.blackouts)}
            for m in r.moved_by
        ],
        "late_notice": [_interval_json(iv, tz) for iv in r.late_notice],
        "announced_at": r.announced_at.isoformat() if r.announced_at else None,
        "lead_hours": round(r.lead.total_seconds() / 3600, 2) if r.lead is not None else None,
        "catch_up": r.catch_up,
        "covered_by": r.covered_by or None,
        "note": r.note,
    }


def schedule_json(cs: CustomerSchedule) -> dict[str, object]:
    tz = cs.timezone
    return {
        "customer": cs.customer_id,
        "name": cs.name,
        "timezone": tz,
        "from": cs.start.isoformat(),
        "until": cs.end.isoformat(),
        "windows": [_window_json(w, tz) for w in cs.windows],
        "blackouts": [{**_interval_json(b, tz), "reason": b.reason} for b in cs.blackouts],
        "runs": [_run_json(r, tz) for r in cs.runs],
    }


def print_schedule(cs: CustomerSchedule) -> None:
    tz = cs.timezone
    common.console.print(f"\n[bold]{cs.customer_id}[/bold] {cs.name} ({tz})", markup=True)
    common.table(
        "Maintenance windows",
        ["Start", "End", "Status", "Blackout"],
        [
            (local(w.window.start, tz), local(w.window.end, tz), w.status, ", ".join(w.blocked_reasons))
            for w in cs.windows
        ],
    )
    common.table(
        "Blackouts",
        ["Start", "End", "Reason"],
        [(local(b.start, tz), local(b.end, tz), b.reason) for b in cs.blackouts],
    )
    common.table(
        "Planned runs",
        ["Cadence", "Period", "Status", "Window", "Notice at", "Note"],
        [
            (
                r.cadence,
                r.period.key,
                r.status,
                local_span(r.window, tz),
                local(r.notice_at, tz),
                r.note,
            )
            for r in cs.runs
        ],
    )
    moved = [(r, m) for r in cs.runs for m in r.moved_by]
    if moved:
        common.table(
            "Runs moved or cut by blackouts",
            ["Cadence", "Period", "Window", "Effect", "Blackout", "Runs in"],
            [
                (
                    r.cadence,
                    r.period.key,
                    local_span(m.window, tz),
                    "moved" if m.status is WindowStatus.REMOVED else "cut short",
                    ", ".join(m.blackouts),
                    local_span(r.window, tz) if r.window else "no window left: at risk",
                )
                for r, m in moved
            ],
        )


@app.command("show")
def show(
    customer: str | None = typer.Option(None, "--customer", help="Only this customer id."),
    days: int = typer.Option(60, "--days", min=1, max=800, help="How many days ahead."),
    at: str | None = typer.Option(None, "--at", help="Plan as of this ISO time (default: now)."),
    as_json: bool = common.JsonOption,
) -> None:
    """Windows, blackouts, planned runs with their notice times, and the runs blackouts move."""

    def body() -> None:
        estate = common.load()
        now = parse_at(at)
        customers = pick_customers(estate, customer)
        planner = Planner(estate, read_history(now))  # the tick's planner, on the tick's ledger state
        schedules = [planner.show(c, now, days) for c in customers]
        if as_json:
            common.print_json(
                {
                    "generated_at": now.isoformat(),
                    "days": days,
                    "customers": [schedule_json(s) for s in schedules],
                }
            )
            return
        for cs in schedules:
            print_schedule(cs)

    common.run_guarded(body)
