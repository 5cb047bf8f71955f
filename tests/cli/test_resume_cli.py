"""Re-runs through the CLI and the maintenance flow: resume by default, --again repeats; runs show says who did what."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from tests.cli.test_exit_codes import cli
from tests.test_maintenance import COUNTED, example_estate

RUN = ("maintenance", "run", "monthly", "--customer", "volga", "--force-window")


@pytest.mark.flow
def test_rerun_resumes_again_repeats_and_runs_show_says_which_run_did_what(tmp_path: Path, opskeeper_home: Path) -> None:
    count = tmp_path / "count"
    config = example_estate(tmp_path, opskeeper_home, COUNTED % {"count": count, "broken": tmp_path / "broken"},
                            second_volga_host=True)  # fmt: skip
    (tmp_path / "broken-volga-tms-2").touch()
    first = cli("-c", str(config), *RUN, "--json")
    assert first.exit_code == 1, first.output
    [failed] = json.loads(first.stdout)
    (tmp_path / "broken-volga-tms-2").unlink()

    second = cli("-c", str(config), *RUN)
    assert second.exit_code == 0, second.output
    row = next(line for line in second.stdout.splitlines() if "volga-tms-1" in line)
    assert f"3 done earlier (run {failed['run_id']})" in row
    assert Counter(count.read_text().splitlines()) == Counter(
        {f"volga-tms-{h} {s}": 1 for h in (1, 2) for s in ("one", "two", "three")})  # fmt: skip
    runs = json.loads(cli("runs", "list", "--json", "--kind", "maintenance").stdout)
    resumed = runs[0]["id"]
    shown = cli("runs", "show", str(resumed))
    assert f"done earlier by run(s) {failed['run_id']}" in shown.stdout
    assert shown.stdout.count(f"done earlier (run {failed['run_id']})") == 4
    steps = json.loads(cli("runs", "show", str(resumed), "--json").stdout)["steps"]
    assert sorted((s["host"], s["step"], s["done_in_run"]) for s in steps) == sorted(
        [("volga-tms-1", s, failed["run_id"]) for s in ("one", "two", "three")]
        + [("volga-tms-2", "one", failed["run_id"]), ("volga-tms-2", "two", None), ("volga-tms-2", "three", None)])  # fmt: skip

    third = cli("-c", str(config), *RUN, "--again", "--json")
    assert third.exit_code == 0, third.output
    [again] = json.loads(third.stdout)
    assert again["again"] is True and again["resumed_from"] == []
    assert set(Counter(count.read_text().splitlines()).values()) == {2}
    assert "every step repeated (--again)" in cli("runs", "show", str(again["run_id"])).stdout
