"""Cross-process host locks: one maintenance per host at a time.

Two implementations behind one small interface:

* :class:`FileHostLocks` (default, SQLite setups): ``fcntl.flock`` on
  ``$OPSKEEPER_HOME/locks/host-<name>.lock``. flock belongs to the open file, so
  two runs serialize whether they are two processes or two threads of one; the
  kernel drops the lock when a process dies, so a crash never leaves a host locked.
* :class:`PostgresHostLocks` (ledger on PostgreSQL, several workers on several
  machines): session advisory locks ``pg_try_advisory_lock`` on one connection
  (``opskeeper.ledger.locks``: the SQL stays behind the ledger seam).

Waiting is polling, with a timeout, so a stuck run yields :class:`HostBusy` naming
who holds the host instead of hanging forever; or (``timeout=None``) for as long as the
holder lives, which is all a lock that dies with its holder needs.

This is opskeeper's one host lock (maintenance and drills take it). Not a Prefect
``host:<name>`` concurrency slot: a slot exists only where a Prefect server is, and an
ephemeral server forgets a killed holder's lease, leaving the slot taken; these locks
follow the ledger (same machine: lock files; PostgreSQL: one advisory lock for every
worker on every machine) and are dropped by the kernel or the database when the holder dies.
"""

from __future__ import annotations

import abc
import contextlib
import fcntl
import hashlib
import json
import os
import re
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TypeVar

from opskeeper.errors import OpskeeperError
from opskeeper.ledger.locks import AdvisoryLockError, AdvisoryLocks
from opskeeper.paths import home_dir

DEFAULT_LOCK_TIMEOUT_S = 600.0
_POLL_S = 0.05
_POLL_MAX_S = 0.5
_T = TypeVar("_T")


class HostBusy(OpskeeperError):
    """The host is locked by another run for longer than we were willing to wait."""

    exit_code = 1


class HostLocks(abc.ABC):
    """Exclusive per-host locks shared by every opskeeper process using the same state/ledger."""

    @contextlib.contextmanager
    def hold(
        self, host: str, *, owner: str = "", timeout: float | None = DEFAULT_LOCK_TIMEOUT_S
    ) -> Iterator[None]:
        """Hold ``host`` for the block; wait up to ``timeout`` seconds (None: while held), then raise HostBusy."""
        deadline = None if timeout is None else time.monotonic() + timeout
        delay = _POLL_S
        while not self.try_acquire(host, owner):
            if deadline is not None and time.monotonic() >= deadline:
                raise HostBusy(f"host {host} is locked by {self.holder(host) or 'another run'}; "
                               f"waited {timeout:g}s")
            time.sleep(delay)
            delay = min(delay * 1.5, _POLL_MAX_S)
        try:
            yield
        finally:
            self.release(host)

    @abc.abstractmethod
    def try_acquire(self, host: str, owner: str) -> bool:
        """Take the lock if free; never blocks."""

    @abc.abstractmethod
    def release(self, host: str) -> None: ...

    def holder(self, host: str) -> str | None:
        """Who holds the lock, when the implementation can tell."""
        return None

    @abc.abstractmethod
    def close(self) -> None:
        """Release everything held and any connection."""


def _owner_record(owner: str) -> str:
    return json.dumps({"owner": owner, "pid": os.getpid(), "node": socket.gethostname(),
                       "since": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})


class FileHostLocks(HostLocks):
    """flock lock files under ``<home>/locks`` (default ``$OPSKEEPER_HOME/locks``)."""

    def __init__(self, directory: str | Path | None = None) -> None:
        self.directory = Path(directory) if directory else home_dir() / "locks"
        self._held: dict[str, int] = {}
        self._mutex = threading.Lock()

    def _path(self, host: str) -> Path:
        safe = re.sub(r"[^A-Za-z0-9_.-]", "_", host)
        return self.directory / f"host-{safe}.lock"

    def try_acquire(self, host: str, owner: str) -> bool:
        self.directory.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(self._path(host), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as e:
            raise HostBusy(f"host {host}: cannot open lock file {self._path(host)}: {e.strerror}") from e
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        os.ftruncate(fd, 0)
        os.pwrite(fd, _owner_record(owner).encode(), 0)
        with self._mutex:
            self._held[host] = fd
        return True

    def release(self, host: str) -> None:
        with self._mutex:
            fd = self._held.pop(host, None)
        if fd is not None:
            os.close(fd)  # closing the descriptor drops the flock

    def holder(self, host: str) -> str | None:
        try:
            rec = json.loads(self._path(host).read_text())
            return f"{rec['owner'] or 'a run'} (pid {rec['pid']} on {rec['node']} since {rec['since']})"
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def close(self) -> None:
        with self._mutex:
            fds, self._held = list(self._held.values()), {}
        for fd in fds:
            os.close(fd)


def advisory_key(host: str) -> int:
    """A stable signed 64-bit key for ``pg_advisory_lock`` (namespaced so other apps do not collide)."""
    digest = hashlib.sha256(f"opskeeper:host:{host}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class PostgresHostLocks(HostLocks):
    """Session advisory locks on one dedicated PostgreSQL connection (not the ledger's pool)."""

    def __init__(self, url: str) -> None:
        try:
            self._locks = AdvisoryLocks(url)
        except AdvisoryLockError as e:
            raise HostBusy(f"host locks: {e}") from e
        self._held: set[str] = set()

    def _call(self, host: str, fn: Callable[[int], _T]) -> _T:
        try:
            return fn(advisory_key(host))
        except AdvisoryLockError as e:
            raise HostBusy(f"host {host}: {e}") from e

    def try_acquire(self, host: str, owner: str) -> bool:
        if self._call(host, self._locks.try_lock):
            self._held.add(host)
            return True
        return False

    def release(self, host: str) -> None:
        if host in self._held:
            self._held.discard(host)
            self._call(host, self._locks.unlock)

    def holder(self, host: str) -> str | None:
        pid = self._call(host, self._locks.holder_pid)
        return f"PostgreSQL backend pid {pid}" if pid else None

    def close(self) -> None:
        self._held.clear()
        self._locks.close()


def host_locks(ledger_url: str | None = None) -> HostLocks:
    """The lock backend matching the ledger: advisory locks on PostgreSQL, lock files otherwise."""
    url = ledger_url or os.environ.get("OPSKEEPER_LEDGER_URL", "")
    if url.startswith(("postgresql", "postgres")):
        return PostgresHostLocks(url)
    return FileHostLocks()


@contextlib.contextmanager
def holding(
    ledger_url: str, hosts: Iterable[str], *, owner: str, timeout: float | None = DEFAULT_LOCK_TIMEOUT_S
) -> Iterator[None]:
    """Hold every host for the block, taken in name order (two overlapping holders cannot deadlock)."""
    locks = host_locks(ledger_url)
    try:
        with contextlib.ExitStack() as stack:
            for host in sorted(set(hosts)):
                stack.enter_context(locks.hold(host, owner=owner, timeout=timeout))
            yield
    finally:
        locks.close()
