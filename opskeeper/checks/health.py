"""Health thresholds over host facts, and the samples kept for the annual trend."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from pydantic import BaseModel, ConfigDict

from opskeeper.checks.facts import HostFacts


class Level(StrEnum):
    OK = "ok"
    WARN = "warn"
    CRIT = "crit"


class Thresholds(BaseModel):
    model_config = ConfigDict(extra="forbid")

    disk_warn_pct: float = 80
    disk_crit_pct: float = 90
    inode_warn_pct: float = 80
    inode_crit_pct: float = 90
    mem_warn_pct: float = 85
    mem_crit_pct: float = 95
    swap_warn_pct: float = 50
    swap_crit_pct: float = 80
    load_per_cpu_warn: float = 2.0
    load_per_cpu_crit: float = 4.0
    required_processes: list[str] = []


@dataclass(frozen=True)
class CheckResult:
    check: str
    subject: str
    level: Level
    value: float | None
    threshold: float | None
    message: str


@dataclass(frozen=True)
class Sample:
    metric: str
    subject: str
    value: float
    unit: str


def _grade(check: str, subject: str, value: float, warn: float, crit: float, unit: str) -> CheckResult:
    level = Level.CRIT if value >= crit else Level.WARN if value >= warn else Level.OK
    limit = crit if level is Level.CRIT else warn
    what = f"{check} {subject}" if subject else check
    msg = f"{what} at {value:g}{unit}" + (
        f" (limit {limit:g}{unit})" if level is not Level.OK else ""
    )
    return CheckResult(check, subject, level, value, limit if level is not Level.OK else crit, msg.strip())


def evaluate(facts: HostFacts, t: Thresholds) -> list[CheckResult]:
    results = [
        _grade("memory", "", facts.mem_used_pct, t.mem_warn_pct, t.mem_crit_pct, "%"),
        _grade("load", "5m/cpu", round(facts.load5 / max(facts.cpu_count, 1), 2), t.load_per_cpu_warn,
               t.load_per_cpu_crit, ""),
    ]  # fmt: skip
    if facts.swap_total:
        results.append(_grade("swap", "", facts.swap_used_pct, t.swap_warn_pct, t.swap_crit_pct, "%"))
    for d in facts.disks:
        results.append(_grade("disk", d.mount, d.used_pct, t.disk_warn_pct, t.disk_crit_pct, "%"))
        if d.inodes_total:
            results.append(_grade("inodes", d.mount, d.inodes_pct, t.inode_warn_pct, t.inode_crit_pct, "%"))
    if facts.failed_units is not None:
        n = len(facts.failed_units)
        level = Level.CRIT if n else Level.OK
        msg = f"failed systemd units: {', '.join(facts.failed_units)}" if n else "no failed systemd units"
        results.append(CheckResult("systemd", "failed-units", level, float(n), 0.0, msg))
    for name in t.required_processes:
        running = name in facts.processes
        msg = f"process {name} {'running' if running else 'NOT running'}"
        results.append(CheckResult("process", name, Level.OK if running else Level.CRIT, None, None, msg))
    return results


def samples(facts: HostFacts) -> list[Sample]:
    out = [
        Sample("cpu.pct", "", facts.cpu_pct, "%"),
        Sample("load.5", "", facts.load5, ""),
        Sample("load.5_per_cpu", "", round(facts.load5 / max(facts.cpu_count, 1), 3), ""),
        Sample("mem.used_pct", "", facts.mem_used_pct, "%"),
        Sample("mem.total", "", float(facts.mem_total), "B"),
        Sample("swap.used_pct", "", facts.swap_used_pct, "%"),
        Sample("uptime", "", facts.uptime_s, "s"),
    ]
    for d in facts.disks:
        out.append(Sample("disk.used_pct", d.mount, d.used_pct, "%"))
        out.append(Sample("disk.used_bytes", d.mount, float(d.used_bytes), "B"))
        out.append(Sample("disk.total_bytes", d.mount, float(d.total_bytes), "B"))
        out.append(Sample("inodes.used_pct", d.mount, d.inodes_pct, "%"))
    return out
