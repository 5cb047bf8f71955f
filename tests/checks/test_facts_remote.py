"""The remote fact probe gives the same facts as the local psutil collector (run here, no SSH needed)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from opskeeper.checks.facts import collect_local
from opskeeper.checks.facts_remote import (
    PROBE_SOURCE,
    FactsError,
    collect_remote,
    collect_sh,
    parse_facts,
    probe_command,
)
from opskeeper.remote.local import LocalExecutor

STABLE = ("os", "kernel", "arch", "cpu_count", "mem_total", "swap_total", "boot_time", "failed_units")


def test_probe_matches_the_local_collector() -> None:
    remote = collect_remote(LocalExecutor(), cpu_sample_s=0.05).to_json()
    local = collect_local(cpu_sample_s=0.05).to_json()
    assert remote.keys() == local.keys()
    assert {k: remote[k] for k in STABLE} == {k: local[k] for k in STABLE}
    assert [(d["mount"], d["device"], d["fstype"], d["total_bytes"]) for d in remote["disks"]] == [
        (d["mount"], d["device"], d["fstype"], d["total_bytes"]) for d in local["disks"]
    ]
    shared = set(local["processes"]) & set(remote["processes"])  # processes come and go between the two
    assert len(shared) >= 0.8 * len(local["processes"])
    assert abs(remote["uptime_s"] - local["uptime_s"]) < 30


def test_probe_writes_plain_json_with_escapes() -> None:
    code = PROBE_SOURCE.decode().replace('if __name__ == "__main__":', "if False:")
    code += '\nimport sys; sys.stdout.write(_json({"s": "q\\"b\\\\ü😀\\n\\x01", "n": None, "t": True, "f": 1.5}))'
    out = subprocess.run([sys.executable, "-I", "-S", "-c", code], capture_output=True, text=True, check=True).stdout
    assert json.loads(out) == {"s": 'q"b\\ü😀\n\x01', "n": None, "t": True, "f": 1.5}
    assert out.isascii()


def test_probe_command_is_stdin_python() -> None:
    assert probe_command(0.2) == ["python3", "-I", "-S", "-", "0.2"]


def test_bad_probe_output_names_the_host() -> None:
    with pytest.raises(FactsError, match="web-1.*no JSON"):
        parse_facts("Traceback ...", "web-1")
    with pytest.raises(FactsError, match="web-1.*does not match"):
        parse_facts('{"hostname": "x"}', "web-1")


def test_sh_probe_gives_the_same_facts_without_python() -> None:
    ex = LocalExecutor()
    py = collect_remote(ex, cpu_sample_s=0.05).to_json()
    sh = collect_sh(ex, cpu_sample_s=0.05).to_json()
    assert sh.keys() == py.keys()
    assert {k: sh[k] for k in STABLE} == {k: py[k] for k in STABLE}
    assert [(d["mount"], d["device"], d["fstype"], d["total_bytes"]) for d in sh["disks"]] == [
        (d["mount"], d["device"], d["fstype"], d["total_bytes"]) for d in py["disks"]
    ]
    sockets = [{(s["proto"], s["address"], s["port"]) for s in f["listening"]} for f in (py, sh)]
    assert len(sockets[0] & sockets[1]) >= 0.8 * len(sockets[0])  # servers of other tests come and go
    assert len(set(py["processes"]) & set(sh["processes"])) >= 0.8 * len(py["processes"])
