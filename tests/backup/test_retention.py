"""GFS retention in a time zone, and prune end to end on a directory repository."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from opskeeper.backup.backup import backup
from opskeeper.backup.prune import prune
from opskeeper.backup.repo import Repository
from opskeeper.backup.restore import restore
from opskeeper.backup.retention import apply_retention
from opskeeper.backup.sources import DirSource
from opskeeper.backup.verify import verify
from opskeeper.config.backup import Retention
from tests.backup.conftest import assert_same_tree, make_tree, restored_root


def _policy(**kw: int) -> Retention:
    base = {"keep_last": 0, "keep_daily": 0, "keep_weekly": 0, "keep_monthly": 0, "keep_yearly": 0}
    return Retention(**{**base, **kw})


def _kept(snaps: list[tuple[str, datetime]], policy: Retention, tz: str = "UTC") -> list[str]:
    return [d.snapshot_id for d in apply_retention(snaps, policy, tz) if d.keep]


def test_daily_keeps_newest_of_each_day() -> None:
    t0 = datetime(2026, 3, 10, 12, tzinfo=UTC)
    snaps = [(f"s{i}", t0 - timedelta(hours=6 * i)) for i in range(12)]  # 3 days, 4 a day
    assert _kept(snaps, _policy(keep_daily=2)) == ["s0", "s3"]  # s3 is 18:00 the day before


def test_days_are_counted_in_the_customer_zone() -> None:
    """15:30 and 16:30 UTC are one day in UTC but two days in Shanghai (UTC+8)."""
    a = ("late", datetime(2026, 3, 10, 15, 30, tzinfo=UTC))  # 23:30 Shanghai, 10 March
    b = ("early", datetime(2026, 3, 10, 16, 30, tzinfo=UTC))  # 00:30 Shanghai, 11 March
    assert _kept([a, b], _policy(keep_daily=5), "UTC") == ["early"]
    assert _kept([a, b], _policy(keep_daily=5), "Asia/Shanghai") == ["early", "late"]


def test_weekly_monthly_yearly_and_last_combine() -> None:
    start = datetime(2024, 1, 1, 3, tzinfo=UTC)
    snaps = [(f"d{i:03d}", start + timedelta(days=i)) for i in range(800)]  # daily until 2026-03-10
    decisions = {d.snapshot_id: d.reasons for d in
                 apply_retention(snaps, _policy(keep_last=2, keep_monthly=4, keep_yearly=3))}
    kept = {k for k, r in decisions.items() if r}
    assert decisions["d799"] == ("last", "monthly", "yearly") and decisions["d798"] == ("last",)
    assert {"d789", "d761", "d730"} <= kept  # ends of Feb 2026, Jan 2026, Dec 2025
    assert "yearly" in decisions["d365"] and "yearly" in decisions["d730"]  # 31 Dec 2024 and 2025
    assert len(kept) == 2 + 3 + 1  # d799 and d730 are kept by two rules each


def test_dst_change_does_not_merge_days() -> None:
    """Europe/Berlin 2026-03-29 is 23 hours long: 00:30 and 23:30 local are one day, 00:30 next day another."""
    zone_day = [
        ("a", datetime(2026, 3, 28, 23, 30, tzinfo=UTC)),  # 00:30 CET, 29 March
        ("b", datetime(2026, 3, 29, 21, 30, tzinfo=UTC)),  # 23:30 CEST, 29 March
        ("c", datetime(2026, 3, 29, 22, 30, tzinfo=UTC)),  # 00:30 CEST, 30 March
    ]
    assert _kept(zone_day, _policy(keep_daily=10), "Europe/Berlin") == ["c", "b"]


def test_prune_forgets_and_frees_space_and_the_rest_restores(dir_repo: Repository, tmp_path: Path) -> None:
    src = make_tree(tmp_path / "src", files=12, big=1, seed=2)
    snaps = []
    for i in range(4):
        (src / f"gen{i}.bin").write_bytes(bytes([i]) * 300_000 + str(i).encode() * 1000)
        snaps.append(backup(dir_repo, DirSource([src])))
    # Spread them over four days so daily retention has something to decide.
    for k, s in enumerate(snaps):
        name = f"snapshots/{s.id}"
        raw = json.loads(dir_repo._get_sealed(name))
        raw["time"] = (datetime(2026, 1, 1, tzinfo=UTC) + timedelta(days=k)).isoformat()
        dir_repo._put_sealed(name, json.dumps(raw).encode())
    (src / "gen3.bin").unlink()
    before = sum(o.size for o in dir_repo.store.list("data/"))
    dry = prune(dir_repo, _policy(keep_daily=2), dry_run=True)
    assert sorted(dry.forgotten) == sorted([snaps[0].id, snaps[1].id])
    assert len(dir_repo.snapshot_ids()) == 4
    report = prune(dir_repo, _policy(keep_daily=2))
    assert sorted(report.forgotten) == sorted([snaps[0].id, snaps[1].id])
    assert sorted(dir_repo.snapshot_ids()) == sorted([snaps[2].id, snaps[3].id])
    assert sum(o.size for o in dir_repo.store.list("data/")) <= before
    assert len(list(dir_repo.store.list("index/"))) == 1
    assert verify(dir_repo, read_pct=100).ok
    restore(dir_repo, snaps[3].id, tmp_path / "out")
    (src / "gen3.bin").write_bytes(bytes([3]) * 300_000 + b"3" * 1000)
    assert_same_tree(src, restored_root(tmp_path / "out", src))
