"""How fast hostile configuration input is refused: ``python -m tests.config.measure_refusal``.

Prints, for an alias bomb (under 1 KB, 9^9 nodes once expanded), a real 50 MB YAML file, 10,000 nested
brackets and, for scale, the example estate: the time ``read_yaml`` takes to refuse (or read) the file in
this process (best of 5), the time of the ``validate --offline`` command in this process (best of 5) and
its wall time as a new process (best of 3),
next to the time the command needs to start at all (``opskeeper --help``). Not a test: tests never assert
wall time.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from typer.testing import CliRunner

from cli.main import app
from opskeeper.config.loader import ConfigError, read_yaml
from tests.config.test_hostile_input import BOMB

REPO = Path(__file__).resolve().parents[2]


def _best(fn: Callable[[], object], times: int) -> float:
    best = float("inf")
    for _ in range(times):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best * 1000


def _read(path: Path) -> str:
    try:
        read_yaml(path)
        return "read"
    except ConfigError as e:
        return str(e).splitlines()[0].removeprefix(str(path))


def _cli(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "cli", *args], cwd=REPO, capture_output=True, check=False)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        files = {"alias bomb": Path(tmp, "bomb.yaml"), "50 MB file": Path(tmp, "big.yaml"),
                 "10,000 nested [": Path(tmp, "deep.yaml"), "example estate": REPO / "examples" / "opskeeper.yaml"}  # fmt: skip
        files["alias bomb"].write_text(BOMB)
        with files["50 MB file"].open("w") as fh:
            line = "  - {name: item, value: 12345678, note: padding padding padding}\n"
            fh.write("items:\n" + line * (50 * 1024 * 1024 // len(line)))
        files["10,000 nested ["].write_text("x: " + "[" * 10_000 + "]" * 10_000 + "\n")
        startup = _best(lambda: _cli("--help"), 3)
        print(f"{'input':<16} {'bytes':>10} {'read_yaml ms':>13} {'validate ms':>12} {'process ms':>11}  outcome")
        for name, path in files.items():
            args = ["-c", str(path), "validate", "--offline"]
            read = _best(lambda path=path: _read(path), 5)  # type: ignore[misc]
            command = _best(lambda args=args: CliRunner().invoke(app, args), 5)  # type: ignore[misc]
            process = _best(lambda args=args: _cli(*args), 3)  # type: ignore[misc]
            print(f"{name:<16} {path.stat().st_size:>10} {read:>13.2f} {command:>12.1f} {process:>11.0f}  "
                  f"{_read(path)}")
        print(f"(the command itself starts in {startup:.0f} ms: opskeeper --help)")


if __name__ == "__main__":
    main()
