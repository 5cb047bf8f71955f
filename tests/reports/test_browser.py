"""The monthly HTML report renders in headless Chromium; screenshots are kept under test-artifacts/."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import pytest

from opskeeper.reports import monthly
from tests.reports.conftest import REPO, Filled

pytestmark = pytest.mark.browser
ARTIFACTS = REPO / "test-artifacts"
CHROMIUM = ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync"]  # fmt: skip


def _chromium(*args: str) -> subprocess.CompletedProcess[str]:
    with tempfile.TemporaryDirectory() as profile:
        return subprocess.run([*CHROMIUM, f"--user-data-dir={profile}", *args], capture_output=True, text=True,
                              timeout=90)  # fmt: skip


@pytest.mark.parametrize(("lang", "heading"), [("zh-CN", "主机健康状况"), ("ru", "Состояние серверов")])
def test_monthly_report_renders(filled: Filled, tmp_path: Path, lang: str, heading: str) -> None:
    if not shutil.which("chromium"):
        pytest.skip("chromium is not installed (make system-deps)")
    report = monthly.build(filled.estate, filled.ledger, "hanhai", "2026-11", lang=lang,
                           now=datetime(2026, 12, 2, tzinfo=UTC))  # fmt: skip
    page = tmp_path / f"monthly-{lang}.html"
    page.write_text(monthly.render(report, "html"), encoding="utf-8")
    dom = _chromium("--dump-dom", page.as_uri())
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert heading in dom.stdout and 'class="spark"' in dom.stdout and "<script" not in dom.stdout
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / f"monthly-report-{lang}.png"
    shot.unlink(missing_ok=True)
    res = _chromium(f"--screenshot={shot}", "--window-size=1200,1800", page.as_uri())
    assert res.returncode == 0 and shot.exists() and shot.stat().st_size > 20_000, res.stderr[-2000:]
