"""A generated estate of N customers cloned from the example estate, and a fresh ledger with history.

Customers vary in zone, tier (72 h notice, or none so that work falls due at once), window (days,
start, length) and blackout recurrences; half have their window open at the tick, so
work is pending while the tick plans; some periods are already done.
"""

from __future__ import annotations

import copy
import random
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml

from opskeeper.calendar import period_of
from opskeeper.config.estate import Estate
from opskeeper.config.loader import load_estate
from opskeeper.config.types import Cadence
from opskeeper.ledger import Ledger
from opskeeper.ledger import runs as ledger_runs
from opskeeper.ledger.core import RunStatus

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "opskeeper.yaml"
ZONES = [
    "Asia/Shanghai", "Europe/Moscow", "Europe/Berlin", "America/New_York", "America/Los_Angeles",
    "America/Sao_Paulo", "Australia/Sydney", "Asia/Kolkata", "Pacific/Auckland", "Africa/Johannesburg",
    "Asia/Tokyo", "Europe/London", "America/Santiago", "Asia/Kathmandu", "UTC",
]  # fmt: skip
RULES = [
    ("month-end close", "FREQ=MONTHLY;BYMONTHDAY=-2", "3d"),
    ("payroll", "FREQ=MONTHLY;BYMONTHDAY=-1", "1d12h"),
    ("release freeze", "FREQ=MONTHLY;BYDAY=-1FR", "1d"),
    ("quarterly reporting", "FREQ=YEARLY;BYMONTH=1,4,7,10;BYMONTHDAY=1", "10d"),
    ("sprint review", "FREQ=WEEKLY;INTERVAL=2;BYDAY=WE", "1d"),
    ("year-end", "FREQ=YEARLY;BYMONTH=12;BYMONTHDAY=24", "3d"),
    ("audit", "FREQ=MONTHLY;INTERVAL=3;BYMONTHDAY=15", "2d"),
]
DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


def _customer(template: dict[str, Any], i: int, at: datetime, rnd: random.Random) -> dict[str, Any]:
    c = copy.deepcopy(template)
    c["id"] = f"c{i:04d}"
    c["name"] = f"Customer {i}"
    c["timezone"] = tz = ZONES[i % len(ZONES)]
    c["tier"] = ["standard", "advanced", "rapid"][i % 3]
    local = at.astimezone(ZoneInfo(tz))
    if i % 2 == 0:  # open at the tick (from one or two hours before it)
        start = (local - timedelta(hours=1 + i % 4 // 2)).replace(minute=0)
        c["maintenance_window"] = {
            "days": [DAYS[start.weekday()]],
            "start": f"{start:%H:%M}",
            "duration": "4h",
        }
    else:
        days = sorted(rnd.sample(range(7), rnd.choice([1, 1, 2, 7])))
        c["maintenance_window"] = {"days": [DAYS[d] for d in days], "start": f"{rnd.randrange(24):02d}:{rnd.choice([0, 30]):02d}",
                                   "duration": rnd.choice(["2h", "3h", "4h", "6h"])}  # fmt: skip
    blackouts: list[dict[str, Any]] = [
        {"reason": reason, "rrule": rule, "duration": length}
        for reason, rule, length in rnd.sample(RULES, rnd.randrange(1, 4))
    ]
    holiday = (at + timedelta(days=rnd.randrange(20, 200))).date()
    blackouts.append(
        {"reason": "holiday", "start": holiday, "end": holiday + timedelta(days=rnd.randrange(1, 9))}
    )
    c["blackouts"] = blackouts
    for system in c["systems"]:
        for host in system["hosts"]:
            host["name"] = f"{c['id']}-{host['name']}"
    return c


def write_estate(directory: Path, customers: int, at: datetime, seed: int = 7) -> Path:
    """An estate file of ``customers`` customers in ``directory``, varied around the tick time ``at``."""
    doc = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    doc["runbooks_dir"] = str(EXAMPLE.parent / doc["runbooks_dir"])
    doc["tiers"]["rapid"] = {**doc["tiers"]["standard"], "title": "Rapid", "maintenance_notice": "0h"}
    rnd = random.Random(seed)
    templates = doc["customers"]
    doc["customers"] = [_customer(templates[i % len(templates)], i, at, rnd) for i in range(customers)]
    path = directory / "estate.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def fresh_ledger(directory: Path, estate: Estate, at: datetime) -> Ledger:
    """A new SQLite ledger: last month's monthly run done for everyone, some of this period's done too."""
    ledger = Ledger.open(f"sqlite:///{directory / 'ledger.sqlite'}")
    for i, c in enumerate(estate.customers):
        month = period_of(Cadence.MONTHLY, at, c.timezone)
        done = [
            (Cadence.MONTHLY, period_of(Cadence.MONTHLY, month.start - timedelta(seconds=1), c.timezone).key)
        ]
        if i % 4 == 1:
            done.append((Cadence.MONTHLY, month.key))
        if i % 5 == 2:
            done.append((Cadence.QUARTERLY, period_of(Cadence.QUARTERLY, at, c.timezone).key))
        for cadence, key in done:
            new = ledger_runs.NewRun("maintenance", c.id, cadence.value, period=key, trigger="schedule")
            ledger_runs.finish_run(ledger, ledger_runs.start_run(ledger, new), RunStatus.OK)
    return ledger


def load(directory: Path, customers: int, at: datetime) -> tuple[Estate, Ledger]:
    estate = load_estate(write_estate(directory, customers, at))
    return estate, fresh_ledger(directory, estate, at)
