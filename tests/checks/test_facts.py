"""Host facts: one JSON shape, whether collected here (psutil) or over SSH."""

from __future__ import annotations

import json

import psutil

from opskeeper.checks.facts import PSEUDO_FS, DiskFacts, HostFacts, ListeningSocket, collect_local
from tests.checks.test_health import disk, facts


def test_json_round_trip_of_synthetic_facts() -> None:
    f = facts(disks=[disk("/", 40.0), disk("/data", 91.0)], failed_units=["a.service"],
              listening=[ListeningSocket("tcp", "0.0.0.0", 22), ListeningSocket("tcp6", "::", 443)])  # fmt: skip
    back = HostFacts.from_json(json.loads(json.dumps(f.to_json())))
    assert back == f
    assert isinstance(back.disks[1], DiskFacts) and back.disk("/data") == f.disks[1]
    assert back.disk("/nope") is None


def test_local_facts_are_real_and_round_trip() -> None:
    f = collect_local(cpu_sample_s=0.05)
    assert f.mem_total > 0 and 0 <= f.mem_used_pct <= 100
    assert f.cpu_count >= 1 and f.uptime_s > 0
    assert f.collected_at.endswith("+00:00")
    assert all(d.fstype not in PSEUDO_FS for d in f.disks)
    assert len({d.device for d in f.disks}) == len(f.disks)  # bind mounts counted once
    assert f.processes == sorted(set(f.processes)) and psutil.Process().name() in f.processes
    assert HostFacts.from_json(json.loads(json.dumps(f.to_json()))) == f
