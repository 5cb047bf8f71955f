"""The HTML evaluation report renders in headless Chromium; the screenshot is kept under test-artifacts/."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from opskeeper.config.estate import Estate
from opskeeper.drills.context import DrillRequest
from opskeeper.drills.drive import run_drill
from opskeeper.ledger import Ledger
from opskeeper.reports import drill as report
from tests.drills.conftest import REPO, variant

pytestmark = pytest.mark.browser
ARTIFACTS = REPO / "test-artifacts"
CHROMIUM = ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def _chromium(*args: str) -> subprocess.CompletedProcess[str]:
    with tempfile.TemporaryDirectory() as profile:
        return subprocess.run([*CHROMIUM, f"--user-data-dir={profile}", *args], capture_output=True, text=True,
                              timeout=90)


def test_report_renders_in_chromium(backed_up: Estate, ledger: Ledger, tmp_path: Path) -> None:
    if not shutil.which("chromium"):
        pytest.skip("chromium is not installed (make system-deps)")
    run_drill(backed_up, DrillRequest("data-corruption", "hanhai"), ledger=ledger)  # a trend needs a past
    backed_up.runbooks_dir = str(tmp_path / "runbooks")
    variant(tmp_path / "runbooks", "data-corruption", objectives={"rto": "0s"})  # a failing one: findings, items
    result = run_drill(backed_up, DrillRequest("data-corruption", "hanhai"), ledger=ledger)
    html = report.write(ledger, result.drill_id)["html"]
    dom = _chromium("--dump-dom", html.as_uri())
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert "<svg" in dom.stdout and 'class="timeline"' in dom.stdout and 'class="trend"' in dom.stdout
    assert "RTO exceeded by" in dom.stdout and "FAIL" in dom.stdout
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "drill-report.png"
    shot.unlink(missing_ok=True)
    res = _chromium(f"--screenshot={shot}", "--window-size=1200,1600", html.as_uri())
    assert res.returncode == 0 and shot.exists() and shot.stat().st_size > 20_000, res.stderr[-2000:]
