"""The fleet test bed: N hosts, each a network namespace with its own sshd, on one bridge.

    bed = TestBed.create(3)              # or: with TestBed.create(3) as bed: ...
    bed.hosts[0].address, bed.hosts[0].kill_sshd(), bed.estate_path
    bed.destroy()

Layout of one instance (slot k): bridge ``okt{k}br`` with 10.213.k.1/24 in the root
namespace; host i is namespace ``okt-{name}-{i:02d}`` with ``eth0`` = 10.213.k.(10+i),
its root-side veth ``okt{k}v{i}`` enslaved to the bridge. Files under
``/run/opskeeper-testbed/instances/{name}/``.
"""

from __future__ import annotations

import os
import shutil

from testbed import alloc, netns
from testbed.alloc import LOGIN_USER, SUBNET_PREFIX, HostState, InstanceState
from testbed.estate_file import write_estate, write_known_hosts
from testbed.host import HTTP_PORT, SSH_PORT, TestHost, wait_ready
from testbed.netns import TestbedError
from testbed.sshd import write_ed25519_key

READY_TIMEOUT_S = 30.0


class TestBed:
    """A running test bed instance. Build with :meth:`create`, find a running one with :meth:`attach`."""

    __test__ = False  # not a pytest test class

    def __init__(self, state: InstanceState) -> None:
        self.state = state
        self.name = state.name
        self.slot = state.slot
        self.dir = state.dir
        self.subnet = f"{SUBNET_PREFIX}.{state.slot}.0/24"
        self.gateway = state.gateway
        self.client_key_path = os.path.join(self.dir, "client_ed25519")
        self.known_hosts_path = os.path.join(self.dir, "known_hosts")
        self.estate_path = os.path.join(self.dir, "estate.yaml")
        self.hosts = [
            TestHost(
                index=h.index,
                name=h.name,
                ns=h.ns,
                veth=h.veth,
                address=h.address,
                user=LOGIN_USER,
                key_path=self.client_key_path,
                bed_dir=self.dir,
            )
            for h in state.hosts
        ]

    def __repr__(self) -> str:
        return f"TestBed({self.name}, {len(self.hosts)} hosts, {self.subnet})"

    def __enter__(self) -> TestBed:
        return self

    def __exit__(self, *exc: object) -> None:
        self.destroy()

    def host(self, name: str) -> TestHost:
        for h in self.hosts:
            if h.name == name:
                return h
        raise KeyError(name)

    def authorize_key(self, public_line: str) -> None:
        """Let another client key log in to every host of the bed (e.g. an encrypted key under test)."""
        with open(os.path.join(self.dir, "authorized_keys"), "a") as fh:
            fh.write(public_line.strip() + "\n")

    # -- lifecycle --------------------------------------------------------------------------------------

    @classmethod
    def create(
        cls,
        n: int,
        name: str | None = None,
        *,
        persistent: bool = False,
        http: bool = True,
        data_size: str = "64m",
        estate_path: str | None = None,
    ) -> TestBed:
        """Build ``n`` hosts. ``persistent`` beds (CLI, demos) are never reaped as stale by other sessions."""
        if not 1 <= n <= alloc.MAX_HOSTS:
            raise TestbedError(f"hosts must be 1..{alloc.MAX_HOSTS}, got {n}")
        with alloc.alloc_lock():
            reap_stale()
            uid, gid = alloc.ensure_login_user()
            state = alloc.reserve(name, persistent)
            state.hosts = [
                HostState(
                    index=i,
                    name=f"{state.name}-{i:02d}",
                    ns=f"okt-{state.name}-{i:02d}",
                    veth=f"okt{state.slot}v{i}",
                    address=f"{SUBNET_PREFIX}.{state.slot}.{10 + i}",
                )
                for i in range(n)
            ]
            state.save()
        bed = cls(state)
        try:
            bed._build(uid, gid, http=http, data_size=data_size)
            write_known_hosts(bed, bed.known_hosts_path)
            write_estate(bed, bed.estate_path)
            if estate_path:
                write_estate(bed, estate_path)
        except BaseException:
            bed.destroy()
            raise
        return bed

    @classmethod
    def attach(cls, name: str) -> TestBed:
        return cls(InstanceState.load(name))

    def _build(self, uid: int, gid: int, *, http: bool, data_size: str) -> None:
        pub = write_ed25519_key(self.client_key_path, f"opskeeper@testbed-{self.name}")
        with open(os.path.join(self.dir, "authorized_keys"), "w") as fh:
            fh.write(pub + "\n")
        self._build_network()
        for h in self.hosts:
            h.prepare(uid, gid, data_size)
            h.spawn_sshd()
            if http:
                h.spawn_service()
        endpoints = [(h.address, SSH_PORT) for h in self.hosts]
        wait_ready(endpoints, READY_TIMEOUT_S, banner=b"SSH-")
        if http:
            wait_ready([(h.address, HTTP_PORT) for h in self.hosts], READY_TIMEOUT_S)

    def _build_network(self) -> None:
        br = self.state.bridge
        lines = [f"netns add {h.ns}" for h in self.hosts]
        lines += [f"link add {br} type bridge", f"addr add {self.gateway}/24 dev {br}", f"link set {br} up"]
        for h in self.hosts:
            lines += [
                f"link add {h.veth} type veth peer name eth0 netns {h.ns}",
                f"link set {h.veth} master {br} up",
            ]
        netns.run_ip([], batch="\n".join(lines) + "\n")
        for h in self.hosts:
            script = (
                f"link set lo up\naddr add {h.address}/24 dev eth0\nlink set eth0 up\n"
                f"route add default via {self.gateway}\n"
            )
            netns.run_ip(["-n", h.ns, "-batch", "-"], batch=script)

    def destroy(self) -> None:
        """Kill every process in the hosts' namespaces, unmount, delete links and namespaces, remove files."""
        killed: list[int] = []
        for h in self.hosts:
            killed += h.kill_all()
        netns.wait_gone(killed)
        for h in self.hosts:
            h.unmount_data()
        lines = [f"link del {h.veth}" for h in self.hosts if os.path.exists(f"/sys/class/net/{h.veth}")]
        lines += [f"netns del {h.ns}" for h in self.hosts if os.path.exists(netns.netns_path(h.ns))]
        if os.path.exists(f"/sys/class/net/{self.state.bridge}"):
            lines.append(f"link del {self.state.bridge}")
        if lines:
            netns.run_ip([], batch="\n".join(lines) + "\n", check=False)
        shutil.rmtree(self.dir, ignore_errors=True)


def reap_stale() -> list[str]:
    """Destroy instances whose owner process died (a crashed pytest session). Call under the alloc lock."""
    reaped = []
    for name in alloc.list_instances():
        try:
            state = InstanceState.load(name)
        except TestbedError:
            continue
        if state.is_stale():
            TestBed(state).destroy()
            reaped.append(name)
    return reaped


def destroy_all() -> list[str]:
    """Tear down every instance, live or stale, and sweep leftovers that lost their state file."""
    with alloc.alloc_lock():
        names = alloc.list_instances()
        for name in names:
            TestBed.attach(name).destroy()
        _sweep_leftovers()
    return names


def _sweep_leftovers() -> None:
    lines = []
    if os.path.isdir(netns.NETNS_DIR):
        for ns in os.listdir(netns.NETNS_DIR):
            if ns.startswith("okt-"):
                pids = netns.pids_in_netns(ns)
                netns.kill_pids(pids)
                netns.wait_gone(pids)
                lines.append(f"netns del {ns}")
    for link in os.listdir("/sys/class/net"):
        if link.startswith("okt") and (link.endswith("br") or "v" in link[3:]):
            lines.append(f"link del {link}")
    inst_root = os.path.join(alloc.STATE_ROOT, "instances")
    if os.path.isdir(inst_root):
        for name in os.listdir(inst_root):
            for host_dir in _host_dirs(os.path.join(inst_root, name)):
                for _ in range(4):
                    if netns.is_mountpoint(os.path.join(host_dir, "data")):
                        netns.umount(os.path.join(host_dir, "data"))
            shutil.rmtree(os.path.join(inst_root, name), ignore_errors=True)
    if lines:
        netns.run_ip([], batch="\n".join(lines) + "\n", check=False)


def _host_dirs(inst_dir: str) -> list[str]:
    hosts = os.path.join(inst_dir, "hosts")
    return [os.path.join(hosts, h) for h in os.listdir(hosts)] if os.path.isdir(hosts) else []
