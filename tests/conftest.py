"""Shared fixtures: isolated state per test, one Prefect test harness per session."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("OPSKEEPER_DEMO_PASSPHRASE", "correct horse battery staple")
# Tables as wide as the demo makes them off a terminal, whichever test ran first in this process (the demo's
# own setdefault used to decide it for the tests after it; with two workers, no test may lean on another).
os.environ.setdefault("COLUMNS", "150")

REPO = Path(__file__).resolve().parent.parent
EXAMPLE_ESTATE = REPO / "examples" / "opskeeper.yaml"

pytest_plugins = ["tests.fleet_plugin"] if (REPO / "tests" / "fleet_plugin.py").exists() else []


@pytest.fixture(autouse=True)
def opskeeper_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own $OPSKEEPER_HOME (ledger, backups, outbox, locks)."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("OPSKEEPER_HOME", str(home))
    monkeypatch.delenv("OPSKEEPER_LEDGER_URL", raising=False)
    monkeypatch.delenv("OPSKEEPER_CONFIG", raising=False)
    # `-c FILE` given to an earlier in-process CLI call must not leak into the next test.
    from cli import common

    monkeypatch.setattr(common.STATE, "config", None)
    return home


@pytest.fixture(scope="session")
def prefect_harness() -> Iterator[None]:
    """One ephemeral Prefect API for the whole session; heartbeats off (they cost ~1 s per flow run)."""
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings
    from prefect.testing.utilities import prefect_test_harness

    with (
        prefect_test_harness(server_startup_timeout=120),
        temporary_settings({PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}),
    ):
        yield


@pytest.fixture(autouse=True)
def _flow_harness(request: pytest.FixtureRequest) -> None:
    if request.node.get_closest_marker("flow"):
        request.getfixturevalue("prefect_harness")
