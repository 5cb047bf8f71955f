"""Instance bookkeeping: slot/subnet allocation, state files, the login user, stale cleanup.

Several pytest sessions may build test beds at once. Allocation happens under an
``flock`` on ``/run/opskeeper-testbed/alloc.lock``; each instance gets a slot
``k`` (subnet ``10.213.k.0/24``, interface prefix ``okt{k}``) and a state file
naming its owner process. An instance whose owner process has died is stale and
is reaped by the next allocation (or by ``testbed down --all``).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import pwd
import subprocess
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field

from testbed.netns import TestbedError, process_start_time

STATE_ROOT = "/run/opskeeper-testbed"
LOCK_PATH = os.path.join(STATE_ROOT, "alloc.lock")
SUBNET_PREFIX = "10.213"
MAX_SLOTS = 250
MAX_HOSTS = 240  # host i gets .(10+i) in its /24
LOGIN_USER = "opsktb"
LOGIN_HOME = "/var/lib/opskeeper-testbed"
SUDOERS_FILE = "/etc/sudoers.d/opskeeper-testbed"


@dataclass
class HostState:
    index: int
    name: str
    ns: str
    veth: str
    address: str


@dataclass
class InstanceState:
    name: str
    slot: int
    owner_pid: int | None  # None: persistent (made by the CLI for demos), never reaped as stale
    owner_start: int | None
    hosts: list[HostState] = field(default_factory=list)

    @property
    def dir(self) -> str:
        return instance_dir(self.name)

    @property
    def bridge(self) -> str:
        return f"okt{self.slot}br"

    @property
    def gateway(self) -> str:
        return f"{SUBNET_PREFIX}.{self.slot}.1"

    def save(self) -> None:
        os.makedirs(self.dir, exist_ok=True)
        tmp = os.path.join(self.dir, "state.json.tmp")
        with open(tmp, "w") as fh:
            json.dump(asdict(self), fh, indent=1)
        os.replace(tmp, os.path.join(self.dir, "state.json"))

    def is_stale(self) -> bool:
        if self.owner_pid is None:
            return False
        return process_start_time(self.owner_pid) != self.owner_start

    @classmethod
    def load(cls, name: str) -> InstanceState:
        path = os.path.join(instance_dir(name), "state.json")
        try:
            with open(path) as fh:
                raw = json.load(fh)
        except (OSError, ValueError) as e:
            raise TestbedError(f"test bed {name!r}: cannot read {path}: {e}") from e
        hosts = [HostState(**h) for h in raw.pop("hosts")]
        return cls(hosts=hosts, **raw)


def instance_dir(name: str) -> str:
    return os.path.join(STATE_ROOT, "instances", name)


def list_instances() -> list[str]:
    root = os.path.join(STATE_ROOT, "instances")
    if not os.path.isdir(root):
        return []
    return sorted(n for n in os.listdir(root) if os.path.exists(os.path.join(root, n, "state.json")))


@contextlib.contextmanager
def alloc_lock() -> Iterator[None]:
    os.makedirs(STATE_ROOT, exist_ok=True)
    with open(LOCK_PATH, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def reserve(name: str | None, persistent: bool) -> InstanceState:
    """Pick a free slot and a unique name; write the state file. Call under :func:`alloc_lock`."""
    used = set()
    for other in list_instances():
        with contextlib.suppress(TestbedError):
            used.add(InstanceState.load(other).slot)
    used |= _slots_with_leftover_bridges()
    free = [k for k in range(1, MAX_SLOTS) if k not in used]
    if not free:
        raise TestbedError(f"no free test bed slot ({len(used)} in use); run `testbed down --all`")
    slot = free[0]
    name = name or f"tb{slot}"
    if os.path.exists(instance_dir(name)):
        raise TestbedError(f"test bed {name!r} already exists; pick another name or `testbed down {name}`")
    pid = None if persistent else os.getpid()
    state = InstanceState(
        name=name, slot=slot, owner_pid=pid, owner_start=process_start_time(pid) if pid else None
    )
    state.save()
    return state


def _slots_with_leftover_bridges() -> set[int]:
    slots = set()
    for name in os.listdir("/sys/class/net"):
        if name.startswith("okt") and name.endswith("br") and name[3:-2].isdigit():
            slots.add(int(name[3:-2]))
    return slots


def ensure_login_user() -> tuple[int, int]:
    """The dedicated login user: plain /bin/sh (root's .bashrc is slow), passwordless ``sudo -n``."""
    try:
        pw = pwd.getpwnam(LOGIN_USER)
    except KeyError:
        subprocess.run(
            [
                "useradd",
                "--system",
                "--home-dir",
                LOGIN_HOME,
                "--create-home",
                "--shell",
                "/bin/sh",
                LOGIN_USER,
            ],
            check=True,
            capture_output=True,
        )
        # "*" instead of useradd's "!": sshd without PAM refuses accounts whose password is locked ("!").
        subprocess.run(["usermod", "-p", "*", LOGIN_USER], check=True, capture_output=True)
        pw = pwd.getpwnam(LOGIN_USER)
    if not os.path.exists(SUDOERS_FILE):
        if not os.path.exists("/usr/bin/sudo"):
            raise TestbedError("sudo is not installed (apt-get install sudo; see `make system-deps`)")
        tmp = SUDOERS_FILE + ".tmp"
        with open(tmp, "w") as fh:
            fh.write(f"{LOGIN_USER} ALL=(ALL:ALL) NOPASSWD: ALL\n")
        os.chmod(tmp, 0o440)
        os.replace(tmp, SUDOERS_FILE)
    os.makedirs(LOGIN_HOME, exist_ok=True)
    os.makedirs("/run/sshd", mode=0o755, exist_ok=True)  # sshd's privilege separation directory
    return pw.pw_uid, pw.pw_gid
