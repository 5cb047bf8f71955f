"""``opskeeper simulate``: what the next years will look like under the real tick, before going live."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import typer

from cli import common
from cli.schedule import pick_customers
from opskeeper.simulate import Outage, Simulation, parse_time, run
from opskeeper.simulate_report import CustomerReport, as_json, report

# One row per measure, one column per cadence: readable in an 80-column terminal.
_MEASURES = (
    ("periods", "periods"), ("runs", "runs"), ("failed runs", "failed"),
    ("covered by a larger run", "covered"), ("missed periods", "missed"),
    ("  of which a window was open", "missed_with_open_window"), ("duplicate runs", "duplicates"),
    ("runs in a blackout", "in_blackout"), ("runs outside a window", "outside_window"),
    ("shortest notice (h)", "shortest_lead_h"), ("median notice (h)", "median_lead_h"),
    ("catch-up notices", "catch_up_notices"),
)  # fmt: skip


def _print_customer(c: CustomerReport) -> None:
    common.table(
        f"{c.customer}: simulated maintenance",
        ["", *(r.cadence for r in c.cadences)],
        [[label, *("-" if getattr(r, attr) is None else getattr(r, attr) for r in c.cadences)]
         for label, attr in _MEASURES],
    )  # fmt: skip


def _print(reports: list[CustomerReport], seconds: float) -> None:
    for c in reports:
        _print_customer(c)
    breaches = [(c.customer, r.cadence, b["period"], b["reason"]) for c in reports for r in c.cadences
                for b in r.breaches]  # fmt: skip
    if breaches:
        common.table("SLA breaches", ["customer", "cadence", "period", "reason"], breaches)
    common.table(
        "Drills",
        ["customer", "scenario", "drills", "notices", "shortest notice (h)"],
        [[c.customer, d.scenario, d.drills, d.notices, d.shortest_lead_h] for c in reports for d in c.drills],
    )
    common.console.print(f"simulated in {seconds:.1f} s")


def simulate(
    start: str = typer.Option(..., "--from", help="First day (2027-01-01) or ISO time with a zone."),
    end: str = typer.Option(..., "--to", help="Day (or time) the simulation stops, exclusive."),
    customer: str | None = typer.Option(None, "--customer", help="Only this customer id."),
    outage: list[str] = typer.Option(
        [], "--outage", help="Scheduler down: START/DURATION, e.g. 2027-03-01T00:00Z/14d."
    ),
    fail_rate: float = typer.Option(0.0, "--fail-rate", help="Probability that a simulated run fails."),
    seed: int = typer.Option(0, "--seed", help="Random seed for --fail-rate (same seed, same result)."),
    as_json: bool = common.JsonOption,
) -> None:
    """Drive the real tick decisions in simulated time on a throwaway ledger; no host is contacted."""

    def body() -> None:
        estate = common.load()
        customers = pick_customers(estate, customer)
        sim = Simulation(parse_time(start, "--from"), parse_time(end, "--to"),
                         tuple(Outage.parse(o) for o in outage), fail_rate, seed)  # fmt: skip
        only = estate.model_copy(update={"customers": customers})
        t0 = time.monotonic()
        with tempfile.TemporaryDirectory(prefix="opskeeper-simulate-") as tmp:
            ledger = run(only, sim, Path(tmp))
            try:
                reports = report(only, ledger, sim.start, sim.end, customers)
            finally:
                ledger.close()
        seconds = time.monotonic() - t0
        if as_json:
            common.print_json({"from": sim.start.isoformat(), "to": sim.end.isoformat(), "seconds": round(seconds, 1),
                               "outages": [o.start.isoformat() + "/" + str(o.duration) for o in sim.outages],
                               "fail_rate": fail_rate, "seed": seed, "customers": _json(reports)})  # fmt: skip
            return
        _print(reports, seconds)

    common.run_guarded(body)


def _json(reports: list[CustomerReport]) -> list[dict[str, object]]:
    return as_json(reports)
