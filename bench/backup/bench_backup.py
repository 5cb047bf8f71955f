"""Benchmark: opskeeper vs restic on the same ~500 MB data set, same disk, medians of 3.

Measures first backup, re-backup with no change, re-backup after changing 5 % of
the files, full restore, and repository size. The last line is
``backup first_ratio=A nochange_ratio=B change_ratio=C restore_ratio=D size_ratio=E``
(opskeeper's time or size divided by restic's). Both run as separate processes,
interleaved, with warm page caches; restic with its defaults (cache, compression auto).
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from bench.backup.dataset import change_fraction, generate

ROOT = Path(__file__).resolve().parents[2]
PASSPHRASE = "bench passphrase"
PHASES = ("first", "nochange", "change", "restore")


CPU: dict[str, float] = {}  # command word -> CPU seconds (user + sys) of the last run, for the report


def _run(argv: list[str], env: dict[str, str] | None = None) -> float:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    r = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    CPU["last"] = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if r.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({r.returncode}): {r.stderr.strip()[-2000:]}")
    return elapsed


def _du(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


class Tool:
    name = ""

    def init(self, repo: Path) -> None: ...
    def backup(self, repo: Path, data: Path) -> float: ...
    def restore(self, repo: Path, target: Path) -> float: ...


class Opskeeper(Tool):
    name = "opskeeper"

    def _cmd(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "bench.backup.okrun", *args]

    def init(self, repo: Path) -> None:
        _run(self._cmd("init", str(repo)))

    def backup(self, repo: Path, data: Path) -> float:
        return _run(self._cmd("backup", str(repo), str(data)))

    def restore(self, repo: Path, target: Path) -> float:
        return _run(self._cmd("restore", str(repo), str(target)))


class Restic(Tool):
    name = "restic"

    def __init__(self, cache: Path) -> None:
        self.env = {**os.environ, "RESTIC_PASSWORD": PASSPHRASE, "RESTIC_CACHE_DIR": str(cache)}

    def init(self, repo: Path) -> None:
        _run(["restic", "-r", str(repo), "init", "-q"], self.env)

    def backup(self, repo: Path, data: Path) -> float:
        return _run(["restic", "-r", str(repo), "backup", "-q", str(data)], self.env)

    def restore(self, repo: Path, target: Path) -> float:
        return _run(["restic", "-r", str(repo), "restore", "latest", "--target", str(target), "-q"], self.env)


def one_round(tools: list[Tool], work: Path, data: Path, rnd: int) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {t.name: {} for t in tools}
    order = tools if rnd % 2 == 0 else list(reversed(tools))  # neither always goes first
    repos = {t.name: work / f"repo-{t.name}" for t in tools}
    for t in order:
        shutil.rmtree(repos[t.name], ignore_errors=True)
        t.init(repos[t.name])
    for t in order:
        out[t.name]["first"] = t.backup(repos[t.name], data)
        out[t.name]["first_cpu"] = CPU["last"]
    for t in order:
        out[t.name]["nochange"] = t.backup(repos[t.name], data)
    changed = change_fraction(data, 0.05, seed=100 + rnd)
    for t in order:
        out[t.name]["change"] = t.backup(repos[t.name], data)
    for t in order:
        target = work / f"restore-{t.name}"
        shutil.rmtree(target, ignore_errors=True)
        out[t.name]["restore"] = t.restore(repos[t.name], target)
        out[t.name]["restore_cpu"] = CPU["last"]
        shutil.rmtree(target, ignore_errors=True)
        out[t.name]["size"] = float(_du(repos[t.name]))
    print(f"round {rnd + 1}: changed {changed} files; " + "; ".join(
        f"{n}: " + " ".join(f"{k}={v:.2f}" for k, v in r.items() if k != "size") + f" size={r['size'] / 2**20:.0f}MiB"
        for n, r in out.items()), flush=True)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--work", default=os.environ.get("BENCH_BACKUP_DIR", str(ROOT / "var" / "bench-backup")))
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    if shutil.which("restic") is None:
        raise SystemExit("restic is not installed (apt-get install restic)")
    work = Path(args.work).resolve()
    data = work / "data"
    if not (work / ".data-ready").exists():
        shutil.rmtree(data, ignore_errors=True)
        print(f"generating the data set in {data} ...", flush=True)
        generate(data)
        (work / ".data-ready").write_text("ok\n")
    print(f"data: {_du(data) / 2**20:.0f} MiB in {sum(1 for p in data.rglob('*') if p.is_file())} files; "
          f"restic: {subprocess.run(['restic', 'version'], capture_output=True, text=True).stdout.strip()}")
    tools: list[Tool] = [Opskeeper(), Restic(work / "restic-cache")]
    rounds = [one_round(tools, work, data, r) for r in range(args.rounds)]
    keys = (*PHASES, "size", "first_cpu", "restore_cpu")
    med = {t.name: {k: statistics.median(r[t.name][k] for r in rounds) for k in keys} for t in tools}
    for t in tools:
        m = med[t.name]
        print(f"{t.name:10s} first {m['first']:.2f}s  nochange {m['nochange']:.2f}s  change {m['change']:.2f}s  "
              f"restore {m['restore']:.2f}s  size {m['size'] / 2**20:.1f} MiB  "
              f"(CPU s: first {m['first_cpu']:.2f}, restore {m['restore_cpu']:.2f}; load {os.getloadavg()[0]:.1f})")
    ok, rs = med["opskeeper"], med["restic"]
    print("backup " + " ".join(f"{k}_ratio={ok[k] / rs[k]:.2f}" for k in (*PHASES, "size")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
