"""Low-level Linux plumbing for the test bed: network namespaces, mounts, processes.

We enter only the *network* namespace of a host (``setns(CLONE_NEWNET)``), never a
new mount namespace as ``ip netns exec`` does: the root mount namespace here is
private, so a tmpfs mounted later on a host's data directory would be invisible to
a daemon started with ``ip netns exec``.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import signal
import subprocess
import time
from collections.abc import Iterable, Sequence

from opskeeper.errors import OpskeeperError

NETNS_DIR = "/run/netns"
CLONE_NEWNET = 0x40000000
CLONE_NEWUTS = 0x04000000
MNT_DETACH = 2

_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)


class TestbedError(OpskeeperError):
    """The test bed could not be built, changed or torn down."""

    __test__ = False
    exit_code = 1


def run_ip(args: Sequence[str], *, batch: str | None = None, check: bool = True) -> str:
    """Run ``ip`` (optionally with a ``-batch -`` script on stdin); raise TestbedError naming the command."""
    argv = ["ip", *args] if batch is None else ["ip", *args, "-force", "-batch", "-"]
    proc = subprocess.run(argv, input=batch, capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise TestbedError(f"`{' '.join(argv)}` failed: {proc.stderr.strip()}\n{batch or ''}".strip())
    return proc.stdout


def netns_path(ns: str) -> str:
    return os.path.join(NETNS_DIR, ns)


def enter_netns(ns: str) -> None:
    """Move the calling process (a freshly forked child) into network namespace ``ns``."""
    fd = os.open(netns_path(ns), os.O_RDONLY)
    try:
        if _libc.setns(fd, CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"setns({ns}): {os.strerror(err)}")
    finally:
        os.close(fd)


def enter_host(ns: str, hostname: str | None) -> None:
    """Network namespace ``ns`` and, with ``hostname``, a private UTS namespace so ``hostname`` tells hosts apart."""
    enter_netns(ns)
    if hostname:
        name = hostname.encode()
        if _libc.unshare(CLONE_NEWUTS) != 0 or _libc.sethostname(name, len(name)) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"hostname {hostname}: {os.strerror(err)}")


def spawn_in_netns(
    ns: str, argv: Sequence[str], *, log_path: str | None = None, hostname: str | None = None
) -> subprocess.Popen[bytes]:
    """Start a daemon-like process inside ``ns`` in its own session (so a Ctrl-C here does not kill it)."""
    out = open(log_path, "ab") if log_path else subprocess.DEVNULL  # noqa: SIM115 - handed to the child
    try:
        return subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            preexec_fn=lambda: enter_host(ns, hostname),
            start_new_session=True,
            close_fds=True,
        )
    finally:
        if log_path:
            out.close()  # type: ignore[union-attr]


def exec_in_netns(
    ns: str, cmd: str, *, timeout: float = 60.0, input: bytes | None = None, hostname: str | None = None
) -> subprocess.CompletedProcess[bytes]:
    """Run ``sh -c cmd`` as root inside ``ns`` and wait for it."""
    return subprocess.run(
        ["/bin/sh", "-c", cmd],
        input=input,
        capture_output=True,
        timeout=timeout,
        preexec_fn=lambda: enter_host(ns, hostname),
    )


def netns_inode(ns: str) -> int | None:
    try:
        return os.stat(netns_path(ns)).st_ino
    except FileNotFoundError:
        return None


def pids_in_netns(ns: str) -> list[int]:
    """Every process whose network namespace is ``ns`` (daemons we started and their sessions)."""
    ino = netns_inode(ns)
    if ino is None:
        return []
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            if os.stat(f"/proc/{entry}/ns/net").st_ino == ino:
                pids.append(int(entry))
        except (FileNotFoundError, PermissionError, ProcessLookupError):
            continue
    return pids


def process_name(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/comm") as fh:
            return fh.read().strip()
    except OSError:
        return ""


def kill_pids(pids: Iterable[int], sig: int = signal.SIGKILL) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


def wait_gone(pids: Iterable[int], timeout: float = 5.0) -> None:
    """Wait until the processes have exited (reaping our own children so they do not linger as zombies)."""
    pending = set(pids)
    deadline = time.monotonic() + timeout
    while pending and time.monotonic() < deadline:
        for pid in list(pending):
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)
            if not os.path.exists(f"/proc/{pid}") or _is_zombie(pid):
                pending.discard(pid)
        if pending:
            time.sleep(0.01)


def _is_zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return True


def mount_tmpfs(path: str, size: str, uid: int, gid: int) -> None:
    opts = f"size={size},mode=0755,uid={uid},gid={gid}".encode()
    if _libc.mount(b"tmpfs", path.encode(), b"tmpfs", 0, opts) != 0:
        err = ctypes.get_errno()
        raise TestbedError(f"mount tmpfs on {path}: {os.strerror(err)}")


def umount(path: str) -> None:
    _libc.umount2(path.encode(), MNT_DETACH)  # lazy: a session still inside must not block teardown


def is_mountpoint(path: str) -> bool:
    return os.path.ismount(path)


def process_start_time(pid: int) -> int | None:
    """Kernel start time of ``pid`` (guards against pid reuse when deciding an owner is dead)."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return int(fh.read().rsplit(")", 1)[1].split()[19])
    except (OSError, IndexError, ValueError):
        return None
