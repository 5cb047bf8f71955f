"""`-c FILE` works before or after the command, as users type it (`opskeeper validate -c broken.yaml`)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from cli import hoist_config
from tests.conftest import EXAMPLE_ESTATE


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["validate", "-c", "x.yaml"], ["-c", "x.yaml", "validate"]),
        (["-c", "x.yaml", "validate"], ["-c", "x.yaml", "validate"]),
        (["runs", "list", "--config=x.yaml", "--json"], ["--config=x.yaml", "runs", "list", "--json"]),
        (
            ["drill", "run", "data-corruption", "--customer", "c"],
            ["drill", "run", "data-corruption", "--customer", "c"],
        ),
    ],
)
def test_hoist_config(argv: list[str], expected: list[str]) -> None:
    assert hoist_config(argv) == expected


def test_validate_with_config_after_the_command_names_file_line_and_field(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    text = EXAMPLE_ESTATE.read_text().replace("timezone: Asia/Shanghai", "timezone: Asia/Shanghi")
    broken.write_text(
        text.replace("runbooks_dir: ../runbooks", f"runbooks_dir: {EXAMPLE_ESTATE.parent.parent}/runbooks")
    )
    line = next(i for i, t in enumerate(text.splitlines(), 1) if "Asia/Shanghi" in t)
    res = subprocess.run([sys.executable, "-m", "cli", "validate", "-c", str(broken)],
                         capture_output=True, text=True, timeout=120)  # fmt: skip
    assert res.returncode == 2
    assert (f"error: {broken}:{line}: customers[0].timezone: unknown time zone 'Asia/Shanghi'; "
            "expected an IANA name like 'Asia/Shanghai'") in " ".join(res.stderr.split())  # fmt: skip
