"""One test-bed host: a network namespace with its own sshd, data disk and HTTP service, plus faults."""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterable

from testbed import netns
from testbed.netns import TestbedError
from testbed.sshd import SSHD, fingerprint, sshd_config, write_ed25519_key

HEALTH_SERVER = os.path.join(os.path.dirname(__file__), "health_server.py")
SYSTEM_PYTHON = "/usr/bin/python3"  # the target's python, not our venv: remote hosts have no venv
HTTP_PORT = 8080
SSH_PORT = 22


class TestHost:
    """A host of the test bed. ``exec`` runs as root inside the namespace; faults are real.

    Hosts keep the machine's hostname on purpose: a per-host name (UTS namespace) is not in /etc/hosts,
    and ``sudo`` then spends 20 s failing to resolve it (DNS is unreachable from the namespaces).
    """

    __test__ = False  # not a pytest test class

    def __init__(
        self,
        *,
        index: int,
        name: str,
        ns: str,
        veth: str,
        address: str,
        user: str,
        key_path: str,
        bed_dir: str,
    ) -> None:
        self.index = index
        self.name = name
        self.ns = ns
        self.veth = veth
        self.address = address
        self.port = SSH_PORT
        self.http_port = HTTP_PORT
        self.user = user
        self.key_path = key_path
        self.dir = os.path.join(bed_dir, "hosts", name)
        self.data_dir = os.path.join(self.dir, "data")
        self.www_dir = os.path.join(self.dir, "www")
        self._authorized_keys = os.path.join(bed_dir, "authorized_keys")

    def __repr__(self) -> str:
        return f"TestHost({self.name} {self.address})"

    # -- identity ---------------------------------------------------------------------------------------

    @property
    def host_key_path(self) -> str:
        return os.path.join(self.dir, "ssh_host_ed25519_key")

    @property
    def host_key_line(self) -> str:
        """The key sshd presents *now* (``ssh-ed25519 AAAA...``); changes after :meth:`change_host_key`."""
        with open(self.host_key_path + ".pub") as fh:
            return " ".join(fh.read().split()[:2])

    @property
    def host_key_fingerprint(self) -> str:
        return fingerprint(self.host_key_line)

    @property
    def health_url(self) -> str:
        return f"http://{self.address}:{self.http_port}/health"

    # -- building ---------------------------------------------------------------------------------------

    def prepare(self, uid: int, gid: int, data_size: str) -> None:
        """Files of the host: host key, sshd config, www dir, a tmpfs data disk (so 'disk full' is real)."""
        os.makedirs(self.data_dir, exist_ok=True)
        os.makedirs(self.www_dir, exist_ok=True)
        write_ed25519_key(self.host_key_path, f"root@{self.name}")
        with open(os.path.join(self.dir, "sshd_config"), "w") as fh:
            fh.write(
                sshd_config(
                    address=self.address,
                    host_key=self.host_key_path,
                    pid_file=os.path.join(self.dir, "sshd.pid"),
                    authorized_keys=self._authorized_keys,
                    user=self.user,
                )
            )
        if not netns.is_mountpoint(self.data_dir):
            netns.mount_tmpfs(self.data_dir, data_size, uid, gid)
        with open(os.path.join(self.www_dir, "index.html"), "w") as fh:
            fh.write(f"{self.name}\n")

    def spawn_sshd(self) -> None:
        cfg = os.path.join(self.dir, "sshd_config")
        netns.spawn_in_netns(self.ns, [SSHD, "-D", "-f", cfg, "-E", os.path.join(self.dir, "sshd.log")])

    def spawn_service(self) -> None:
        proc = netns.spawn_in_netns(
            self.ns,
            [
                SYSTEM_PYTHON if os.path.exists(SYSTEM_PYTHON) else sys.executable,
                "-S",
                HEALTH_SERVER,
                "0.0.0.0",  # every address of the namespace, like a real service (checks probe 127.0.0.1)
                str(self.http_port),
                self.www_dir,
            ],
            log_path=os.path.join(self.dir, "http.log"),
        )
        with open(os.path.join(self.dir, "http.pid"), "w") as fh:
            fh.write(str(proc.pid))

    # -- running things ---------------------------------------------------------------------------------

    def exec(
        self, cmd: str, *, timeout: float = 60.0, input: bytes | None = None, check: bool = False
    ) -> subprocess.CompletedProcess[bytes]:
        """Run ``sh -c cmd`` as root inside this host's namespace."""
        proc = netns.exec_in_netns(self.ns, cmd, timeout=timeout, input=input)
        if check and proc.returncode != 0:
            raise TestbedError(
                f"{self.name}: `{cmd}` exited {proc.returncode}: {proc.stderr.decode()[-500:]}"
            )
        return proc

    def pids(self, comm: str | None = None) -> list[int]:
        pids = netns.pids_in_netns(self.ns)
        return [p for p in pids if comm is None or netns.process_name(p) == comm]

    # -- faults -----------------------------------------------------------------------------------------

    def kill_sshd(self, *, sessions: bool = True) -> None:
        """SIGKILL the listening sshd; with ``sessions`` also every open SSH session (a crash mid-step)."""
        pids = self.pids("sshd") if sessions else [p for p in [self._pidfile("sshd.pid")] if p]
        netns.kill_pids(pids)
        netns.wait_gone(pids)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(os.path.join(self.dir, "sshd.pid"))

    def start_sshd(self, timeout: float = 10.0) -> None:
        self.spawn_sshd()
        wait_ready([(self.address, SSH_PORT)], timeout, banner=b"SSH-")

    def restart_sshd(self) -> None:
        self.kill_sshd(sessions=False)
        self.start_sshd()

    def stop_service(self) -> None:
        pid = self._pidfile("http.pid")
        if pid:
            netns.kill_pids([pid], signal.SIGTERM)
            netns.wait_gone([pid])
            os.unlink(os.path.join(self.dir, "http.pid"))

    def start_service(self, timeout: float = 10.0) -> None:
        self.spawn_service()
        wait_ready([(self.address, self.http_port)], timeout)

    def link_down(self) -> None:
        """Take the host's link down: packets to it vanish (connects time out; open sessions hang)."""
        netns.run_ip(["link", "set", self.veth, "down"])

    def link_up(self, timeout: float = 5.0) -> None:
        netns.run_ip(["link", "set", self.veth, "up"])
        # Forget the failed ARP entry from while the link was down, then wait for carrier on both ends.
        netns.run_ip(["neigh", "del", self.address, "dev", self._bridge()], check=False)
        deadline = time.monotonic() + timeout
        while not _oper_up(f"/sys/class/net/{self.veth}") and time.monotonic() < deadline:
            time.sleep(0.01)

    def _bridge(self) -> str:
        try:
            return os.path.basename(os.readlink(f"/sys/class/net/{self.veth}/master"))
        except OSError:
            return self.veth

    def change_host_key(self) -> str:
        """Give sshd a new host key (as after a reinstall, or an impostor); return the new key line."""
        line = write_ed25519_key(self.host_key_path, f"root@{self.name}")
        self.restart_sshd()
        return line

    def fill_disk(self, size: str = "16M") -> None:
        """Fill the data disk to the last byte.

        The disk becomes a small ext4 loop mount (seeded with the current data) first, so it is a real
        block device that psutil and the remote fact probe report, as a full customer disk would be.
        Without loop devices it stays the tmpfs (full all the same, but fact collectors skip tmpfs).
        """
        if not os.path.exists(self._disk_image):
            self._mount_loop_disk(size)
        chunk = b"\0" * (1 << 20)
        with open(os.path.join(self.data_dir, ".fill"), "ab") as fh:
            try:
                while True:
                    fh.write(chunk)
                    fh.flush()
            except OSError as e:
                if e.errno != errno.ENOSPC:
                    raise
        for piece in (4096, 1024, 1):  # the last partial megabyte too
            with contextlib.suppress(OSError), open(os.path.join(self.data_dir, ".fill-small"), "ab") as fh:
                while True:
                    fh.write(b"\0" * piece)
                    fh.flush()

    @property
    def _disk_image(self) -> str:
        return os.path.join(self.dir, "disk.img")

    def _mount_loop_disk(self, size: str) -> None:
        owner = os.stat(self.data_dir)
        mkfs = subprocess.run(["mkfs.ext4", "-q", "-F", "-m", "0", "-d", self.data_dir, self._disk_image, size],
                              capture_output=True, text=True)
        mount = None
        if mkfs.returncode == 0:
            mount = subprocess.run(["mount", "-o", "loop", self._disk_image, self.data_dir],
                                   capture_output=True, text=True)
        if mount is None or mount.returncode != 0:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self._disk_image)
            return  # no loop devices here: fill the tmpfs instead
        os.chown(self.data_dir, owner.st_uid, owner.st_gid)

    def free_disk(self) -> None:
        for name in (".fill", ".fill-small"):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(os.path.join(self.data_dir, name))

    def unmount_data(self) -> None:
        """Unmount every layer on the data dir (loop disk, then tmpfs)."""
        for _ in range(4):
            if not netns.is_mountpoint(self.data_dir):
                return
            netns.umount(self.data_dir)

    # -- teardown ---------------------------------------------------------------------------------------

    def kill_all(self) -> list[int]:
        pids = self.pids()
        netns.kill_pids(pids)
        return pids

    def _pidfile(self, name: str) -> int | None:
        try:
            with open(os.path.join(self.dir, name)) as fh:
                return int(fh.read().strip())
        except (OSError, ValueError):
            return None


def _oper_up(sysfs_dir: str) -> bool:
    try:
        with open(os.path.join(sysfs_dir, "operstate")) as fh:
            return fh.read().strip() == "up"
    except OSError:
        return False


def wait_ready(endpoints: Iterable[tuple[str, int]], timeout: float, banner: bytes | None = None) -> None:
    """Poll until every (address, port) accepts a connection (and sends ``banner`` when given)."""
    pending = list(endpoints)
    deadline = time.monotonic() + timeout
    while pending:
        still = []
        for address, port in pending:
            try:
                with socket.create_connection((address, port), timeout=1.0) as sock:
                    if banner is not None and not sock.recv(64).startswith(banner):
                        still.append((address, port))
            except OSError:
                still.append((address, port))
        pending = still
        if pending:
            if time.monotonic() > deadline:
                raise TestbedError(
                    f"not ready after {timeout:.0f}s: {', '.join(f'{a}:{p}' for a, p in pending)}"
                )
            time.sleep(0.02)
