"""Small estates for fault tests: the example estate (or a test bed's) with a runbooks_dir of our own."""

from __future__ import annotations

from pathlib import Path

import yaml

from tests.conftest import EXAMPLE_ESTATE

SLEEP_FILE = "slow-step-seconds"


def fault_runbook(dir: Path, sleep_s: int = 30, *, literal: bool = False, timeout: str = "2m") -> Path:
    """monthly.yaml: ``first`` (instant), ``slow`` (sleeps the seconds in SLEEP_FILE), ``last`` (instant).

    quarterly.yaml and annual.yaml are the same steps: every cadence a tier lists needs its runbook.

    The slow step reads its duration from a file so a re-run of the same runbook need not wait;
    ``literal`` writes the seconds into the command instead (test-bed hosts cannot read our files).
    """
    runbooks = dir / "runbooks"
    runbooks.mkdir(parents=True, exist_ok=True)
    (dir / SLEEP_FILE).write_text(f"{sleep_s}\n")
    steps = [
        {"name": "first", "run": "echo first done"},
        {
            "name": "slow",
            "run": f"sleep {sleep_s}" if literal else f'sleep "$(cat {dir / SLEEP_FILE})"',
            "timeout": timeout,
        },
        {"name": "last", "run": "echo last done"},
    ]
    for cadence in ("monthly", "quarterly", "annual"):
        (runbooks / f"{cadence}.yaml").write_text(yaml.safe_dump({"name": cadence, "steps": steps}))
    return runbooks


def set_sleep(dir: Path, seconds: int) -> None:
    (dir / SLEEP_FILE).write_text(f"{seconds}\n")


def example_estate(dir: Path, home: Path, customers: tuple[str, ...] = ("volga",), sleep_s: int = 30) -> Path:
    """The example estate (local hosts) for ``customers``, without backups and drills, with our runbook."""
    data = yaml.safe_load(EXAMPLE_ESTATE.read_text().replace("${OPSKEEPER_HOME}", str(home)))
    data["runbooks_dir"] = str(fault_runbook(dir, sleep_s))
    data["customers"] = [c for c in data["customers"] if c["id"] in customers]
    for c in data["customers"]:
        for s in c["systems"]:
            s.pop("drills", None)
            s.pop("backup", None)
    path = dir / "estate.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True))
    return path


def always_open(path: Path, customer: str = "volga") -> Path:
    """Make ``customer``'s window open all week, no blackouts, no notice period, monthly only (for the tick)."""
    data = yaml.safe_load(path.read_text())
    c = next(c for c in data["customers"] if c["id"] == customer)
    c["blackouts"] = []
    c["maintenance_window"] = {"days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
                               "start": "00:00", "duration": "24h"}  # fmt: skip
    tier = data["tiers"][c["tier"]]
    tier["maintenance_notice"], tier["cadences"] = "0s", ["monthly"]
    path.write_text(yaml.safe_dump(data, allow_unicode=True))
    return path


def bed_estate(bed_estate: str, dir: Path, sleep_s: int, timeout: str = "2m") -> Path:
    """A test bed's estate with our runbook (its hosts over SSH); call again to change the sleep."""
    data = yaml.safe_load(Path(bed_estate).read_text())
    data["runbooks_dir"] = str(fault_runbook(dir, sleep_s, literal=True, timeout=timeout))
    path = dir / "estate.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True))
    return path
