"""Run every fuzzer for a bounded time, seeded from a freshly built repository; exit 1 on any crash.

``python -m fuzz.run --seconds 30 --work DIR [names...]``. The corpus of each fuzzer grows in
``DIR/corpus/<name>`` across runs; a crashing input is written to ``DIR/crashes/<name>/``.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from fuzz.seeds import READERS, write_corpus

_DONE = re.compile(r"Done (\d+) runs in (\d+) second")


@dataclass(frozen=True)
class Outcome:
    name: str
    runs: int
    seconds: int
    crashed: bool
    log: Path


def run_one(name: str, seconds: int, work: Path) -> Outcome:
    corpus, seeds, crashes = work / "corpus" / name, work / "seeds" / name, work / "crashes" / name
    corpus.mkdir(parents=True, exist_ok=True)
    crashes.mkdir(parents=True, exist_ok=True)
    log = work / f"{name}.log"
    cmd = [sys.executable, "-m", f"fuzz.fuzz_{name}", f"-max_total_time={seconds}", "-timeout=10",
           "-rss_limit_mb=2048", "-print_final_stats=1", f"-artifact_prefix={crashes}/", str(corpus), str(seeds)]
    with log.open("w") as out:
        rc = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, check=False).returncode
    text = log.read_text(errors="replace")
    done = _DONE.search(text)
    runs, secs = (int(done.group(1)), int(done.group(2))) if done else (0, seconds)
    return Outcome(name, runs, secs, rc != 0 or done is None, log)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seconds", type=int, default=30)
    ap.add_argument("--work", type=Path, default=Path("/tmp/opskeeper-fuzz"))
    ap.add_argument("names", nargs="*", default=list(READERS))
    args = ap.parse_args()
    shutil.rmtree(args.work / "seeds", ignore_errors=True)
    counts = write_corpus(args.work / "seeds")
    print(f"seeds from a fresh repository: {counts}", flush=True)
    outcomes = []
    for name in args.names:
        o = run_one(name, args.seconds, args.work)
        outcomes.append(o)
        rate = o.runs / max(o.seconds, 1)
        print(f"{name:10} {o.runs:9d} runs in {o.seconds:4d} s  {rate:8.0f} exec/s  "
              f"{'CRASH, see ' + str(o.log) if o.crashed else 'clean'}", flush=True)
    total = sum(o.runs for o in outcomes)
    crashed = [o.name for o in outcomes if o.crashed]
    print(f"fuzz: {total} executions in all, {len(crashed)} crashed{': ' + ', '.join(crashed) if crashed else ''}")
    return 1 if crashed else 0


if __name__ == "__main__":
    sys.exit(main())
