"""Tick benchmark: ms per customer per tick of the real tick decision, for 10, 100 and 1,000 customers.

    python -m bench.tick [--customers 10,100,1000] [--years 2027,2050] [--ticks 5]

Each case runs in its own process (no case inherits another's caches or garbage): a generated estate
(``bench/tick/estate.py``) and a fresh SQLite ledger in a temp dir; one warm-up tick, then ``--ticks`` ticks five minutes apart, each timed around
``opskeeper.scheduling.plan_tick(estate, ledger, now)``. The goal: at most 5 ms per customer per tick,
the same in 2027 and 2050. The last line is machine-readable.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.tick.estate import load
from opskeeper.scheduling import plan_tick

GOAL_MS = 5.0
TICK = timedelta(minutes=5)


def tick_at(year: int) -> datetime:
    """A Saturday in mid-March, 20:00 UTC: clear of month ends and quarter starts, windows busy."""
    day = datetime(year, 3, 10, 20, 0, tzinfo=UTC)
    return day + timedelta(days=(5 - day.weekday()) % 7)


def measure(customers: int, year: int, ticks: int) -> dict[str, float | int]:
    at = tick_at(year)
    with tempfile.TemporaryDirectory(prefix="bench-tick-") as tmp:
        os.environ.setdefault("OPSKEEPER_HOME", tmp)
        estate, ledger = load(Path(tmp), customers, at)
        try:
            warm = plan_tick(estate, ledger, at)
            times = []
            for i in range(1, ticks + 1):
                t0 = time.perf_counter()
                plan = plan_tick(estate, ledger, at + i * TICK)
                times.append(time.perf_counter() - t0)
        finally:
            ledger.close()
    per = statistics.median(times) * 1000 / customers
    return {"customers": customers, "year": year, "ticks": ticks, "ms_per_customer": round(per, 3),
            "ms_per_customer_max": round(max(times) * 1000 / customers, 3),
            "due": len(warm.due), "due_last": len(plan.due), "planned": len(plan.planned)}  # fmt: skip


def in_own_process(customers: int, year: int, ticks: int) -> dict[str, float | int]:
    argv = [sys.executable, "-m", "bench.tick", "--case", f"{customers}:{year}", "--ticks", str(ticks)]
    out = subprocess.run(argv, capture_output=True, text=True, check=True)
    result: dict[str, float | int] = json.loads(out.stdout.splitlines()[-1])
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--customers", default="10,100,1000")
    ap.add_argument("--years", default="2027,2050")
    ap.add_argument("--ticks", type=int, default=5)
    ap.add_argument("--case", help="CUSTOMERS:YEAR: measure one case here and print it as JSON")
    args = ap.parse_args()
    if args.case:
        n, year = (int(x) for x in args.case.split(":"))
        print(json.dumps(measure(n, year, args.ticks)))
        return
    sizes = [int(n) for n in args.customers.split(",")]
    years = [int(y) for y in args.years.split(",")]
    print(f"goal: <= {GOAL_MS:g} ms per customer per tick, flat across years")
    print(
        f"{'customers':>9} {'year':>5} {'ms/cust/tick':>12} {'max':>7} {'x goal':>7} {'due':>5} {'planned':>7}"
    )
    rows = []
    for year in years:
        for n in sizes:
            r = in_own_process(n, year, args.ticks)
            rows.append(r)
            print(f"{n:>9} {year:>5} {r['ms_per_customer']:>12.3f} {r['ms_per_customer_max']:>7.3f} "
                  f"{float(r['ms_per_customer']) / GOAL_MS:>7.2f} {r['due']:>5} {r['planned']:>7}", flush=True)  # fmt: skip
    for n in sizes:
        by_year = {r["year"]: float(r["ms_per_customer"]) for r in rows if r["customers"] == n}
        if len(by_year) > 1:
            lo, hi = min(by_year, key=by_year.__getitem__), max(by_year, key=by_year.__getitem__)
            print(f"{n} customers: {max(by_year.values()) / min(by_year.values()):.2f}x from fastest ({lo}) "
                  f"to slowest ({hi}) year")  # fmt: skip
    print(json.dumps({"goal_ms": GOAL_MS, "results": rows}))


if __name__ == "__main__":
    main()
