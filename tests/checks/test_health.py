"""Health grading of host facts: warn and crit per disk, inodes, memory, swap, load, units, processes."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from opskeeper.checks.facts import DiskFacts, HostFacts
from opskeeper.checks.health import CheckResult, Level, Thresholds, evaluate, samples

GiB = 1024**3


def disk(mount: str, used_pct: float, inodes_pct: float = 5.0, inodes_total: int = 1000) -> DiskFacts:
    total = 100 * GiB
    used = int(total * used_pct / 100)
    return DiskFacts(mount, f"/dev/{mount.strip('/') or 'root'}", "ext4", total, used, total - used, used_pct,
                     inodes_total, int(inodes_total * inodes_pct / 100), inodes_pct)  # fmt: skip


def facts(**over: Any) -> HostFacts:
    base = HostFacts(
        hostname="h1", collected_at="2026-11-23T12:00:00+00:00", os="Debian 12", kernel="6.1.0", arch="x86_64",
        boot_time="2026-11-01T00:00:00+00:00", uptime_s=86400.0, cpu_count=4, cpu_pct=12.0, load1=0.5,
        load5=1.0, load15=0.8, mem_total=8 * GiB, mem_available=4 * GiB, mem_used_pct=50.0, swap_total=0,
        swap_used=0, swap_used_pct=0.0, disks=[disk("/", 40.0)], failed_units=None, processes=["sshd", "cron"],
    )  # fmt: skip
    return replace(base, **over)


def by_check(results: list[CheckResult]) -> dict[tuple[str, str], Level]:
    return {(r.check, r.subject): r.level for r in results}


def test_healthy_host_is_all_ok() -> None:
    results = evaluate(facts(), Thresholds())
    assert by_check(results) == {("memory", ""): Level.OK, ("load", "5m/cpu"): Level.OK,
                                 ("disk", "/"): Level.OK, ("inodes", "/"): Level.OK}  # fmt: skip


def test_disks_are_graded_per_mount() -> None:
    f = facts(disks=[disk("/", 79.9), disk("/var", 80.0), disk("/data", 90.0), disk("/boot", 97.5)])
    levels = by_check(evaluate(f, Thresholds()))
    assert [levels[("disk", m)] for m in ("/", "/var", "/data", "/boot")] == [
        Level.OK, Level.WARN, Level.CRIT, Level.CRIT]  # fmt: skip
    results = {r.subject: r for r in evaluate(f, Thresholds()) if r.check == "disk"}
    assert results["/var"].message == "disk /var at 80% (limit 80%)"
    assert results["/boot"].message == "disk /boot at 97.5% (limit 90%)"
    assert results["/"].message == "disk / at 79.9%"


def test_custom_disk_thresholds() -> None:
    f = facts(disks=[disk("/", 72.0)])
    assert by_check(evaluate(f, Thresholds(disk_warn_pct=70, disk_crit_pct=75)))[("disk", "/")] is Level.WARN


def test_inodes_graded_and_skipped_without_inode_counts() -> None:
    f = facts(disks=[disk("/", 10.0, inodes_pct=92.0), disk("/btrfs", 10.0, inodes_total=0)])
    levels = by_check(evaluate(f, Thresholds()))
    assert levels[("inodes", "/")] is Level.CRIT
    assert ("inodes", "/btrfs") not in levels and levels[("disk", "/btrfs")] is Level.OK


@pytest.mark.parametrize(
    ("pct", "level", "message"),
    [(84.9, Level.OK, "memory at 84.9%"), (85.0, Level.WARN, "memory at 85% (limit 85%)"),
     (96.0, Level.CRIT, "memory at 96% (limit 95%)")],
)  # fmt: skip
def test_memory(pct: float, level: Level, message: str) -> None:
    [mem] = [r for r in evaluate(facts(mem_used_pct=pct), Thresholds()) if r.check == "memory"]
    assert (mem.level, mem.message) == (level, message)


def test_swap_only_where_there_is_swap() -> None:
    assert ("swap", "") not in by_check(evaluate(facts(swap_used_pct=99.0), Thresholds()))
    with_swap = facts(swap_total=2 * GiB, swap_used=GiB, swap_used_pct=50.0)
    assert by_check(evaluate(with_swap, Thresholds()))[("swap", "")] is Level.WARN
    full = replace(with_swap, swap_used_pct=85.0)
    assert by_check(evaluate(full, Thresholds()))[("swap", "")] is Level.CRIT


def test_load_is_per_cpu() -> None:
    assert by_check(evaluate(facts(load5=7.9, cpu_count=4), Thresholds()))[("load", "5m/cpu")] is Level.OK
    assert by_check(evaluate(facts(load5=8.0, cpu_count=4), Thresholds()))[("load", "5m/cpu")] is Level.WARN
    assert by_check(evaluate(facts(load5=8.0, cpu_count=2), Thresholds()))[("load", "5m/cpu")] is Level.CRIT


def test_failed_units() -> None:
    assert ("systemd", "failed-units") not in by_check(evaluate(facts(failed_units=None), Thresholds()))
    [ok] = [r for r in evaluate(facts(failed_units=[]), Thresholds()) if r.check == "systemd"]
    assert (ok.level, ok.message) == (Level.OK, "no failed systemd units")
    [bad] = [r for r in evaluate(facts(failed_units=["nginx.service", "backup.timer"]), Thresholds())
             if r.check == "systemd"]  # fmt: skip
    assert (bad.level, bad.value, bad.message) == (
        Level.CRIT,
        2.0,
        "failed systemd units: nginx.service, backup.timer",
    )


def test_required_processes() -> None:
    t = Thresholds(required_processes=["sshd", "postgres"])
    results = [r for r in evaluate(facts(), t) if r.check == "process"]
    assert [(r.subject, r.level, r.message) for r in results] == [
        ("sshd", Level.OK, "process sshd running"),
        ("postgres", Level.CRIT, "process postgres NOT running"),
    ]


def test_thresholds_reject_unknown_keys() -> None:
    with pytest.raises(ValueError, match="disk_warn"):
        Thresholds.model_validate({"disk_warn": 80})


def test_samples_cover_every_mount() -> None:
    f = facts(disks=[disk("/", 40.0), disk("/data", 60.0)], load5=2.0, cpu_count=4)
    got = {(s.metric, s.subject): s.value for s in samples(f)}
    assert got[("disk.used_pct", "/data")] == 60.0
    assert got[("inodes.used_pct", "/")] == 5.0
    assert got[("load.5_per_cpu", "")] == 0.5
    assert got[("mem.total", "")] == float(8 * GiB)
    assert {m for m, _ in got} >= {"cpu.pct", "mem.used_pct", "swap.used_pct", "uptime", "disk.total_bytes"}
