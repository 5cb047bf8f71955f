"""``opskeeper report``: exit 0 on success, 1 when the pack shows a broken chain, 2 on bad input."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from cli import report
from tests.reports.conftest import EXAMPLE, Filled

runner = CliRunner()


def _app() -> typer.Typer:
    """The report group as the root command will hold it (``opskeeper report ...``)."""
    root = typer.Typer()

    @root.callback()
    def _root() -> None:
        pass

    root.add_typer(report.app, name="report")
    return root


@pytest.fixture(autouse=True)
def _config(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPSKEEPER_CONFIG", str(EXAMPLE))


def _run(*args: str) -> tuple[int, str]:
    result = runner.invoke(_app(), ["report", *args])
    return result.exit_code, result.output


@pytest.mark.parametrize(
    "args",
    [
        ("monthly", "--customer", "acme", "--month", "2026-11"),
        ("monthly", "--customer", "hanhai", "--month", "2026-13"),
        ("monthly", "--customer", "hanhai", "--month", "11-2026"),
        ("monthly", "--customer", "hanhai", "--month", "2026-11", "--format", "pdf"),
        ("monthly", "--customer", "hanhai", "--month", "2026-11", "--lang", "de"),
        ("evidence", "--customer", "acme", "--out", "x.zip"),
        ("evidence", "--customer", "hanhai", "--out", "x.zip", "--since", "yesterday"),
        ("evidence", "--customer", "hanhai"),
    ],
)
def test_bad_input_exits_2(args: tuple[str, ...], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    code, out = _run(*args)
    assert code == 2, out
    assert not (tmp_path / "x.zip").exists()


def test_monthly_to_stdout_and_file(filled: Filled, tmp_path: Path) -> None:
    code, out = _run("monthly", "--customer", "hanhai", "--month", "2026-11")
    assert code == 0 and out.startswith("# 月度服务报告 2026-11")
    page = tmp_path / "volga.html"
    code, out = _run(
        "monthly", "--customer", "volga", "--month", "2026-11", "--format", "html", "--out", str(page)
    )
    assert code == 0, out
    assert "Ежемесячный отчёт" in page.read_text(encoding="utf-8")


def test_evidence_and_verify_pack(filled: Filled, tmp_path: Path) -> None:
    pack = tmp_path / "hanhai.zip"
    code, out = _run("evidence", "--customer", "hanhai", "--out", str(pack), "--since", "2026-11-01")
    assert code == 0, out
    assert "audit chain verified" in out and zipfile.is_zipfile(pack)
    code, out = _run("verify-pack", str(pack), "--previous", str(pack))
    assert code == 0, out
    bad = tmp_path / "bad.zip"
    bad.write_bytes(b"not a zip")
    assert _run("verify-pack", str(bad))[0] == 2
