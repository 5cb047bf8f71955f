"""Bad action parameters (`with:`) in runbooks and drill scenarios: `opskeeper validate` exits 2 and names
the file, the line, the field and what was expected; `maintenance run` and `drill run` run nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.main import app

GOOD_ESTATE = Path(__file__).resolve().parent.parent / "data" / "bad" / "good.yaml"

MONTHLY = """\
name: monthly
steps:
  - name: health
    action: health.collect
    with: {disk_warn_pct: 80, required_processes: [sshd]}
  - name: certificates
    action: certs.expiry
    with: {warn_days: 30, paths: [/etc/ssl/private]}
  - name: stop web
    action: service.stop
    with: {service: web}
"""

# Templates ("{{ dataset }}", "{{ n }}") stand for values of any type: the drill renders them first.
SCENARIO = """\
name: bad
title: Parameters checked before anything runs
hypothesis:
  - name: data readable
    action: files.checksums
    with: {dataset: "{{ dataset }}"}
    expect: {type: range, min: 1}
fault:
  - name: corrupt
    action: files.corrupt
    with: {dataset: "{{ dataset }}", count: "{{ n }}"}
recovery:
  - name: restore
    action: restore.files
    with: {dataset: "{{ dataset }}", only: mismatched}
"""

# (name, file, text replaced, by, the exact error lines after "error: "); {m} is monthly.yaml, {d} the scenario.
CASES = [
    ("runbook_unknown", "monthly", "disk_warn_pct", "disk_warn_pc",
     ["{m}:5: steps[0].with.disk_warn_pc: unknown parameter of health.collect; did you mean 'disk_warn_pct'?"]),
    ("runbook_missing", "monthly", "{service: web}", "{}",
     ["{m}:11: steps[2].with.service: required parameter of service.stop is missing; expected a string: "
      "a service of the system, by name (services[].name)"]),
    ("runbook_wrong_type", "monthly", "warn_days: 30", "warn_days: soon",
     ["{m}:8: steps[1].with.warn_days: Input should be a valid number, unable to parse string as a number; "
      "got 'soon'"]),
    ("runbook_not_a_list", "monthly", "[sshd]", "sshd",
     ["{m}:5: steps[0].with.required_processes: Input should be a valid list; got 'sshd'"]),
    # The maintenance engine passes `with:` as written: a template there would reach the action as text.
    ("runbook_template", "monthly", "warn_days: 30", 'warn_days: "{{ days }}"',
     ["{m}:8: steps[1].with.warn_days: templates are not rendered in this step's 'with:' (only drill scenarios "
      "render them); give the value itself"]),
    ("drill_unknown", "scenario", "only: mismatched", "olny: mismatched",
     ["{d}:15: recovery[0].with.olny: unknown parameter of restore.files; did you mean 'only'?"]),
    ("drill_missing", "scenario", 'with: {dataset: "{{ dataset }}"}\n    expect', "with: {}\n    expect",
     ["{d}:6: hypothesis[0].with.dataset: required parameter of files.checksums is missing; expected a string: "
      "a data set of the system, by name (datasets[].name)"]),
    ("drill_wrong_type", "scenario", 'count: "{{ n }}"', "count: two",
     ["{d}:11: fault[0].with.count: Input should be a valid integer, unable to parse string as an integer; "
      "got 'two'"]),
    ("drill_wrong_choice", "scenario", "only: mismatched", "only: changed",
     ["{d}:15: recovery[0].with.only: Input should be 'all' or 'mismatched'; got 'changed'"]),
]  # fmt: skip


def _estate(tmp_path: Path, case: str = "", replace: str = "", by: str = "") -> tuple[Path, Path, Path]:
    """good.yaml with its own runbooks (monthly + the scenario 'bad', which the system lists), one defect."""
    runbooks = tmp_path / "runbooks"
    (runbooks / "drills").mkdir(parents=True)
    monthly, scenario = runbooks / "monthly.yaml", runbooks / "drills" / "bad.yaml"
    texts = {"monthly": MONTHLY, "scenario": SCENARIO}
    if case:
        assert replace in texts[case]
        texts[case] = texts[case].replace(replace, by, 1)
    monthly.write_text(texts["monthly"])
    scenario.write_text(texts["scenario"])
    estate = GOOD_ESTATE.read_text().replace("runbooks_dir: runbooks/ok", f"runbooks_dir: {runbooks}")
    estate = estate.replace("          passphrase: env:ACME_PASSPHRASE\n",
                            "          passphrase: env:ACME_PASSPHRASE\n        drills: [bad]\n")  # fmt: skip
    path = tmp_path / "estate.yaml"
    path.write_text(estate)
    return path, monthly, scenario


def _cli(*args: str) -> tuple[int, list[str], str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stderr.strip().removeprefix("error: ").splitlines(), result.stdout


def test_the_base_files_are_valid(tmp_path: Path) -> None:
    """Every case breaks these in one way; templated drill parameters pass whatever their declared type."""
    estate, _, _ = _estate(tmp_path)
    code, lines, out = _cli("-c", str(estate), "validate", "--json")
    assert code == 0, lines
    assert json.loads(out)["ok"] is True


@pytest.mark.parametrize(("name", "file", "replace", "by", "expected"), CASES, ids=[c[0] for c in CASES])
def test_bad_parameters_name_file_line_and_field(
    tmp_path: Path, name: str, file: str, replace: str, by: str, expected: list[str]
) -> None:
    estate, monthly, scenario = _estate(tmp_path, file, replace, by)
    code, lines, _ = _cli("-c", str(estate), "validate")
    assert code == 2
    assert lines == [e.format(m=monthly, d=scenario) for e in expected]


@pytest.mark.parametrize("name", [c[0] for c in CASES if c[1] == "monthly"])
def test_maintenance_runs_nothing_on_bad_parameters(tmp_path: Path, opskeeper_home: Path, name: str) -> None:
    _, file, replace, by, expected = next(c for c in CASES if c[0] == name)
    estate, monthly, _ = _estate(tmp_path, file, replace, by)
    code, lines, _ = _cli("-c", str(estate), "maintenance", "run", "monthly", "--force-window")
    assert code == 2
    assert lines == [e.format(m=monthly) for e in expected]
    assert list(opskeeper_home.iterdir()) == []  # no ledger, no state: nothing ran


@pytest.mark.parametrize("name", [c[0] for c in CASES if c[1] == "scenario"])
def test_drill_runs_nothing_on_bad_parameters(tmp_path: Path, opskeeper_home: Path, name: str) -> None:
    _, file, replace, by, expected = next(c for c in CASES if c[0] == name)
    estate, _, scenario = _estate(tmp_path, file, replace, by)
    code, lines, _ = _cli("-c", str(estate), "drill", "run", "bad", "--customer", "acme", "--approve", "test")
    assert code == 2
    assert lines == [e.format(d=scenario) for e in expected]
    assert list(opskeeper_home.iterdir()) == []  # refused before the ledger was opened
    code, _, out = _cli("-c", str(estate), "drill", "list", "--json")
    assert (code, json.loads(out)) == (0, [])  # no drill began
    code, _, out = _cli("-c", str(estate), "runs", "list", "--json")
    assert (code, json.loads(out)) == (0, [])
