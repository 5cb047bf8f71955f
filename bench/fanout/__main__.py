"""Fan-out benchmark: the monthly health check (remote fact probe) on N test-bed hosts, opskeeper vs Ansible.

    python -m bench.fanout --hosts 50 --runs 3 [--profile]

Both run the same probe (``opskeeper/checks/facts_probe.py`` under ``python3 -I -S``)
on every host, host keys checked against the bed's pinned keys (opskeeper: the
estate's ``host_key``; Ansible: a known_hosts file, StrictHostKeyChecking=yes).
opskeeper ships the probe over stdin on fresh connections each run (a new
Fleet); Ansible runs ``-m command`` on the probe file (all hosts share the
filesystem), forks = N, pipelining on, its default ControlPersist left on (so
its runs 2 and 3 reuse SSH masters: conservative for opskeeper). The last
line is machine-readable.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from opskeeper.checks.facts_remote import collect_remote, probe_command
from opskeeper.config.loader import load_estate
from opskeeper.remote.fanout import FanoutStatus, Fleet, fan_out, select_hosts
from testbed import TestBed

PROBE = Path(__file__).resolve().parents[2] / "opskeeper" / "checks" / "facts_probe.py"
CPU_SAMPLE_S = 0.2  # the health check's CPU sample, same for both tools


def opskeeper_once(estate_path: str, names: list[str] | None = None) -> float:
    estate = load_estate(estate_path)
    hosts = select_hosts(estate, names=names or ())
    t0 = time.monotonic()
    with Fleet.for_estate(estate) as fleet:
        res = fan_out(hosts, lambda h, ex: collect_remote(ex, cpu_sample_s=CPU_SAMPLE_S), fleet=fleet,
                      concurrency=max(32, len(hosts)))
    elapsed = time.monotonic() - t0
    if res.status is not FanoutStatus.OK:
        raise SystemExit(f"opskeeper run failed: {[(r.host, r.error) for r in res.failed][:3]}")
    return elapsed


def ansible_setup(bed: TestBed, work: Path) -> tuple[list[str], dict[str, str]]:
    probe = Path(bed.dir) / "facts_probe.py"
    shutil.copy(PROBE, probe)
    probe.chmod(0o644)
    inventory = work / "inventory.ini"
    lines = ["[fleet]"] + [f"{h.name} ansible_host={h.address}" for h in bed.hosts]
    lines += ["[fleet:vars]", f"ansible_user={bed.hosts[0].user}",
              f"ansible_ssh_private_key_file={bed.client_key_path}", "ansible_python_interpreter=/usr/bin/python3"]
    inventory.write_text("\n".join(lines) + "\n")
    cfg = work / "ansible.cfg"
    cfg.write_text(
        "[defaults]\n"
        f"forks = {len(bed.hosts)}\nhost_key_checking = True\ninterpreter_python = /usr/bin/python3\n"
        "[ssh_connection]\npipelining = True\n"
        f"control_path_dir = {work}/cp\n"
        "ssh_args = -C -o ControlMaster=auto -o ControlPersist=60s "
        f"-o UserKnownHostsFile={bed.known_hosts_path} -o StrictHostKeyChecking=yes\n"
    )
    env = {**os.environ, "ANSIBLE_CONFIG": str(cfg), "ANSIBLE_NOCOLOR": "1", "ANSIBLE_LOCAL_TEMP": str(work / "tmp")}
    ansible = shutil.which("ansible", path=str(Path(sys.executable).parent)) or shutil.which("ansible")
    if not ansible:
        raise SystemExit("ansible is not installed (pip install ansible-core, or apt-get install ansible)")
    command = " ".join([*probe_command(CPU_SAMPLE_S)[:3], str(probe), f"{CPU_SAMPLE_S:g}"])
    return [ansible, "all", "-i", str(inventory), "-m", "command", "-a", command], env


def ansible_once(argv: list[str], env: dict[str, str], n: int) -> float:
    t0 = time.monotonic()
    proc = subprocess.run(argv, env=env, capture_output=True, text=True)
    elapsed = time.monotonic() - t0
    ok = proc.stdout.count("| CHANGED |") + proc.stdout.count("| SUCCESS |")
    if proc.returncode != 0 or ok != n:
        raise SystemExit(f"ansible failed (rc={proc.returncode}, {ok}/{n} ok):\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    return elapsed


def medians(label: str, fn: Callable[[], float], runs: int) -> float:
    times = [fn() for _ in range(runs)]
    print(f"{label}: runs {' '.join(f'{t:.2f}' for t in times)} s, median {statistics.median(times):.2f} s", flush=True)
    return statistics.median(times)


def profile_opskeeper(estate_path: str, out: Path) -> None:
    try:
        from pyinstrument import Profiler  # optional, only for --profile
    except ImportError:
        print("pyinstrument is not installed; skipping the profile", file=sys.stderr)
        return
    profiler = Profiler(interval=0.001)
    profiler.start()
    opskeeper_once(estate_path)
    profiler.stop()
    out.write_text(profiler.output_text(unicode=False, color=False, show_all=False))
    print(f"profile written to {out}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=50)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--profile", metavar="FILE", help="also profile one opskeeper run (pyinstrument)")
    parser.add_argument("--skip-ansible", action="store_true")
    args = parser.parse_args()
    t0 = time.monotonic()
    with TestBed.create(args.hosts, http=True) as bed, tempfile.TemporaryDirectory(prefix="bench-fanout-") as tmp:
        print(f"test bed {bed.name}: {args.hosts} hosts in {time.monotonic() - t0:.1f}s", flush=True)
        opskeeper_once(bed.estate_path)  # warm-up: imports, page cache of the probe and of python3 on the hosts
        single = medians("opskeeper 1 host", lambda: opskeeper_once(bed.estate_path, [bed.hosts[0].name]), args.runs)
        ours = medians(f"opskeeper {args.hosts} hosts", lambda: opskeeper_once(bed.estate_path), args.runs)
        theirs = float("nan")
        if not args.skip_ansible:
            argv, env = ansible_setup(bed, Path(tmp))
            theirs = medians(f"ansible {args.hosts} hosts", lambda: ansible_once(argv, env, args.hosts), args.runs)
        if args.profile:
            profile_opskeeper(bed.estate_path, Path(args.profile))
    goal_ratio = "n/a" if args.skip_ansible else ("met" if ours / theirs <= 0.25 else "missed")
    goal_scale = "met" if ours <= 2 * single + 1 else "missed"
    print(f"goals: ratio<=0.25 {goal_ratio}; {args.hosts}-host <= 2x single + 1s {goal_scale}")
    print(f"fanout hosts={args.hosts} opskeeper_s={ours:.2f} ansible_s={theirs:.2f} "
          f"ratio={ours / theirs:.3f} single_host_s={single:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
