"""Fixtures of the drill tests: the example estate on this machine with real data and real backups."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from opskeeper.backup import ops
from opskeeper.config.estate import Estate
from opskeeper.config.loader import load_estate
from opskeeper.ledger import Ledger

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "opskeeper.yaml"


def make_files(root: Path, n: int = 12) -> None:
    root.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        sub = root / f"d{i % 3}"
        sub.mkdir(exist_ok=True)
        (sub / f"f{i:02d}.dat").write_bytes((f"record {i} " * 400).encode())


def backup_system(estate: Estate, customer: str) -> None:
    """Back up every data set of the customer's systems to every target, with the backup area's own op."""
    c = estate.customer(customer)
    for system in c.systems:
        outcomes = ops.backup_system(estate, c, system)
        assert all(o.error is None for o in outcomes), outcomes


@pytest.fixture
def example_estate(opskeeper_home: Path) -> Estate:
    """The bundled example estate, blackouts removed (tests must not depend on today's date), data made."""
    estate = load_estate(EXAMPLE)
    for c in estate.customers:
        c.blackouts = []
    for _, s, _ in estate.all_hosts():
        for ds in s.datasets:
            for p in ds.paths:  # type: ignore[union-attr]
                make_files(Path(p))
    return estate


@pytest.fixture
def backed_up(example_estate: Estate) -> Estate:
    backup_system(example_estate, "hanhai")
    return example_estate


@pytest.fixture
def ledger(opskeeper_home: Path) -> Iterator[Ledger]:
    led = Ledger.open()
    yield led
    led.close()


@pytest.fixture
def passphrase() -> str:
    return os.environ["OPSKEEPER_DEMO_PASSPHRASE"]


Factory = Callable[..., object]


def write_estate(path: Path, runbooks_dir: Path | None = None, blackout_today: bool = False) -> Path:
    """The example estate as a file (flows and the CLI load files): no blackouts, or one covering today."""
    import datetime as dt

    import yaml

    doc = yaml.safe_load(EXAMPLE.read_text())
    doc["runbooks_dir"] = str(runbooks_dir or REPO / "runbooks")
    today = dt.datetime.now(dt.UTC).date()
    for c in doc["customers"]:
        c["blackouts"] = (
            [{"reason": "test freeze", "start": str(today - dt.timedelta(days=2)),
              "end": str(today + dt.timedelta(days=2))}] if blackout_today else []
        )
    path.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False))
    return path


def variant(runbooks: Path, base: str, name: str | None = None, **changes: object) -> Path:
    """A copy of a shipped scenario under ``runbooks/drills/`` with top-level keys replaced."""
    import yaml

    doc = yaml.safe_load((REPO / "runbooks" / "drills" / f"{base}.yaml").read_text())
    doc.update(changes)
    doc["name"] = name or base
    out = runbooks / "drills" / f"{doc['name']}.yaml"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(yaml.safe_dump(doc, sort_keys=False))
    return out


def breakdown(result: object) -> str:
    """Where the time of a drill went (printed by the end-to-end tests with -s)."""
    from opskeeper.drills.timeline import Event

    t = result.timeline  # type: ignore[attr-defined]
    marks = [Event.DECLARED, Event.FAULT_INJECTED, Event.DETECTED, Event.RECOVERY_STARTED,
             Event.SERVICE_RESTORED, Event.DATA_VERIFIED, Event.CLEANUP_DONE]
    have = [(m, t.at(m)) for m in marks if t.at(m)]
    spans = [f"{a.value}->{b.value} {(tb - ta).total_seconds():.2f}s" for (a, ta), (b, tb) in zip(have, have[1:], strict=False)]
    steps = [f"{e.detail.split(' @ ')[0]} {e.duration_s:.2f}s" for e in t.steps()]
    ev = result.evaluation  # type: ignore[attr-defined]
    return (f"{result.scenario}: RTO {ev.rto.measured.total_seconds():.2f}s RPO "  # type: ignore[attr-defined]
            f"{ev.rpo.measured.total_seconds():.2f}s\n  " + "\n  ".join(spans) + "\n  steps: " + "; ".join(steps))


# Run by the drill's steps (a separate process, like any step): add or drop the trigger.
LEDGER_SWITCH = """
import sqlite3, sys
db, what = sys.argv[1], sys.argv[2]
c = sqlite3.connect(db, timeout=30)
if what == "break":
    c.execute("CREATE TRIGGER drill_test_ledger_lost BEFORE INSERT ON step_results "
              "BEGIN SELECT RAISE(ABORT, 'ledger lost'); END")
else:
    c.execute("DROP TRIGGER IF EXISTS drill_test_ledger_lost")
c.commit()
"""


def ledger_breaking_scenario(runbooks: Path, ledger: Ledger, tmp_path: Path) -> Path:
    """data-corruption whose recovery breaks the ledger's step records; cleanup mends it, then marks."""
    script = tmp_path / "ledger_switch.py"
    script.write_text(LEDGER_SWITCH)
    switch = f"{sys.executable} {script} {ledger.engine.url.database}"
    marker = tmp_path / "cleaned"
    variant(runbooks, "data-corruption",
            recovery=[{"name": "ledger goes away", "run": f"{switch} break"}],
            cleanup=[{"name": "ledger back", "run": f"{switch} mend"},
                     {"name": "undo", "run": f"touch {marker}"}])  # fmt: skip
    return marker
