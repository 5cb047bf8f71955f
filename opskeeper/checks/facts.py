"""Host facts for health checks: one shape, whether collected locally (psutil) or over SSH.

The remote collector (opskeeper/checks/facts_remote.py) must produce exactly
``HostFacts.to_json()``; ``HostFacts.from_json`` reads either.
"""

from __future__ import annotations

import os
import platform
import socket
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

import psutil

from opskeeper.clock import SYSTEM

PSEUDO_FS = {
    "proc", "sysfs", "devtmpfs", "devpts", "cgroup", "cgroup2", "securityfs", "pstore", "debugfs",
    "tracefs", "mqueue", "hugetlbfs", "fusectl", "configfs", "bpf", "autofs", "binfmt_misc", "nsfs",
    "squashfs", "overlay", "rpc_pipefs", "ramfs",
}  # fmt: skip


@dataclass(frozen=True)
class DiskFacts:
    mount: str
    device: str
    fstype: str
    total_bytes: int
    used_bytes: int
    free_bytes: int
    used_pct: float
    inodes_total: int
    inodes_used: int
    inodes_pct: float


@dataclass(frozen=True)
class ListeningSocket:
    proto: str  # tcp / tcp6 / udp
    address: str
    port: int


@dataclass(frozen=True)
class HostFacts:
    hostname: str
    collected_at: str  # ISO 8601, UTC
    os: str
    kernel: str
    arch: str
    boot_time: str
    uptime_s: float
    cpu_count: int
    cpu_pct: float
    load1: float
    load5: float
    load15: float
    mem_total: int
    mem_available: int
    mem_used_pct: float
    swap_total: int
    swap_used: int
    swap_used_pct: float
    disks: list[DiskFacts] = field(default_factory=list)
    failed_units: list[str] | None = None  # None: no systemd on the host
    processes: list[str] = field(default_factory=list)  # distinct process names
    listening: list[ListeningSocket] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> HostFacts:
        fields = dict(data)
        fields["disks"] = [DiskFacts(**d) for d in data.get("disks", [])]
        fields["listening"] = [ListeningSocket(**s) for s in data.get("listening", [])]
        return cls(**fields)

    def disk(self, mount: str) -> DiskFacts | None:
        return next((d for d in self.disks if d.mount == mount), None)


def _os_name() -> str:
    try:
        with open("/etc/os-release", encoding="utf-8") as f:
            for line in f:
                if line.startswith("PRETTY_NAME="):
                    return line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return platform.system()


def _disks() -> list[DiskFacts]:
    out: list[DiskFacts] = []
    seen: set[str] = set()
    for part in psutil.disk_partitions(all=False):
        # Bind mounts show the same device again: count each device once.
        if part.fstype in PSEUDO_FS or part.device in seen:
            continue
        seen.add(part.device)
        try:
            usage = psutil.disk_usage(part.mountpoint)
            st = os.statvfs(part.mountpoint)
        except OSError:
            continue
        inodes_used = st.f_files - st.f_ffree
        out.append(
            DiskFacts(
                mount=part.mountpoint,
                device=part.device,
                fstype=part.fstype,
                total_bytes=usage.total,
                used_bytes=usage.used,
                free_bytes=usage.free,
                used_pct=round(usage.percent, 1),
                inodes_total=st.f_files,
                inodes_used=inodes_used,
                inodes_pct=round(100.0 * inodes_used / st.f_files, 1) if st.f_files else 0.0,
            )
        )
    return out


def _failed_units() -> list[str] | None:
    if not os.path.isdir("/run/systemd/system"):
        return None
    import subprocess  # only where systemd runs

    try:
        proc = subprocess.run(
            ["systemctl", "--failed", "--no-legend", "--plain", "--no-pager"],
            capture_output=True,
            text=True,
            timeout=20,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return [line.split()[0] for line in proc.stdout.splitlines() if line.strip()]


def _listening() -> list[ListeningSocket]:
    out: set[ListeningSocket] = set()
    try:
        conns = psutil.net_connections(kind="inet")
    except (psutil.AccessDenied, OSError):
        return []
    for c in conns:
        if c.status == psutil.CONN_LISTEN and c.laddr:
            proto = "tcp6" if c.family == socket.AF_INET6 else "tcp"
            out.add(ListeningSocket(proto, c.laddr.ip, c.laddr.port))
    return sorted(out, key=lambda s: (s.port, s.proto, s.address))


def collect_local(cpu_sample_s: float = 0.2) -> HostFacts:
    """Facts of this machine via psutil."""
    vm, sw = psutil.virtual_memory(), psutil.swap_memory()
    boot = psutil.boot_time()
    load = os.getloadavg()
    names = sorted({p.info["name"] for p in psutil.process_iter(["name"]) if p.info.get("name")})
    return HostFacts(
        hostname=socket.gethostname(),
        collected_at=SYSTEM.now().isoformat(),  # this machine's own clock, a fact about it
        os=_os_name(),
        kernel=platform.release(),
        arch=platform.machine(),
        boot_time=datetime.fromtimestamp(boot, UTC).isoformat(),
        uptime_s=round(SYSTEM.now().timestamp() - boot, 1),
        cpu_count=psutil.cpu_count() or 1,
        cpu_pct=psutil.cpu_percent(interval=cpu_sample_s),
        load1=round(load[0], 2),
        load5=round(load[1], 2),
        load15=round(load[2], 2),
        mem_total=vm.total,
        mem_available=vm.available,
        mem_used_pct=round(100.0 * (vm.total - vm.available) / vm.total, 1),
        swap_total=sw.total,
        swap_used=sw.used,
        swap_used_pct=round(sw.percent, 1),
        disks=_disks(),
        failed_units=_failed_units(),
        processes=names,
        listening=_listening(),
    )
