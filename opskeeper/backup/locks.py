"""Repository locks: shared (backup, restore, verify) and exclusive (prune), with stale detection.

A lock is a ``locks/<id>`` object naming host, pid, process start time and a
heartbeat refreshed by a thread. Acquiring = write our lock, then list the
others: a conflict means remove ours and retry until the wait runs out. A lock
is stale only when provably dead: on this host its process is gone (pid and
start time checked); from another host its heartbeat is older than
``stale_after_s``. A live lock is never removed.
"""

from __future__ import annotations

import json
import math
import os
import random
import socket
import threading
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from opskeeper.backup.errors import RepositoryLocked
from opskeeper.backup.store.interface import BackupStore, ObjectNotFound, StoreError

HEARTBEAT_S = 60.0
STALE_AFTER_S = 600.0


@dataclass(frozen=True)
class LockInfo:
    host: str
    pid: int
    started: float  # process start time, defeats pid reuse
    exclusive: bool
    operation: str
    heartbeat: float

    @classmethod
    def parse(cls, raw: bytes) -> LockInfo:
        """A lock object's fields, each of its type and in range; ValueError for anything else (a lock being
        written, or hostile bytes: nothing of it may reach ``os.kill`` or arithmetic unchecked)."""
        data = json.loads(raw)
        if not isinstance(data, dict) or set(data) != {f.name for f in fields(cls)}:
            raise ValueError("not a lock object")
        pid, started, heartbeat = data["pid"], data["started"], data["heartbeat"]
        if type(pid) is not int or not 0 < pid < 1 << 22:
            raise ValueError("pid out of range")
        for number in (started, heartbeat):
            if type(number) not in (int, float) or not math.isfinite(number):
                raise ValueError("not a finite number")
        if not (isinstance(data["host"], str) and isinstance(data["operation"], str)
                and isinstance(data["exclusive"], bool)):  # fmt: skip
            raise ValueError("wrong field type")
        return cls(**data)

    def describe(self) -> str:
        kind = "exclusive" if self.exclusive else "shared"
        age = time.time() - self.heartbeat
        return f"{kind} lock by {self.operation} on {self.host} pid {self.pid} (heartbeat {age:.0f}s ago)"


def _proc_start(pid: int) -> float:
    """The process's start time in clock ticks since boot (``/proc/<pid>/stat`` field 22); -1 if gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return -1.0
    except OSError:
        return 0.0 if _pid_alive(pid) else -1.0
    return float(stat.rsplit(")", 1)[1].split()[19])


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def is_stale(lock: LockInfo, *, now: float, stale_after_s: float, host: str) -> bool:
    if lock.host == host:
        start = _proc_start(lock.pid)
        return start < 0 or abs(start - lock.started) > 1.0
    return now - lock.heartbeat > stale_after_s


class RepoLock:
    """Context manager holding one lock; ``refresh`` runs in a daemon thread."""

    def __init__(self, store: BackupStore, *, exclusive: bool, operation: str, wait_s: float = 0.0,
                 heartbeat_s: float = HEARTBEAT_S, stale_after_s: float = STALE_AFTER_S) -> None:
        self.store = store
        self.exclusive = exclusive
        self.operation = operation
        self.wait_s = wait_s
        self.heartbeat_s = heartbeat_s
        self.stale_after_s = stale_after_s
        self.host = socket.gethostname()
        self.name = f"locks/{os.urandom(16).hex()}"
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.removed_stale: list[str] = []

    def _info(self) -> LockInfo:
        pid = os.getpid()
        return LockInfo(self.host, pid, _proc_start(pid), self.exclusive, self.operation, time.time())

    def _write(self) -> None:
        self.store.put(self.name, json.dumps(asdict(self._info())).encode(), retain=False)

    def _conflict(self) -> LockInfo | None:
        now = time.time()
        for obj in self.store.list("locks/"):
            if obj.name == self.name:
                continue
            try:
                other = LockInfo.parse(self.store.get(obj.name))
            except ObjectNotFound:
                continue  # released meanwhile
            except (ValueError, TypeError):
                continue  # a lock being written; it will be re-read next round
            if is_stale(other, now=now, stale_after_s=self.stale_after_s, host=self.host):
                self.store.delete(obj.name)
                self.removed_stale.append(other.describe())
                continue
            if self.exclusive or other.exclusive:
                return other
        return None

    def acquire(self) -> RepoLock:
        deadline = time.monotonic() + self.wait_s
        while True:
            self._write()
            try:
                holder = self._conflict()
            except BaseException:
                self.store.delete(self.name)
                raise
            if holder is None:
                break
            self.store.delete(self.name)
            if time.monotonic() >= deadline:
                raise RepositoryLocked(f"repository {self.store.location} is locked: {holder.describe()}")
            time.sleep(random.uniform(0.2, 1.0))  # jitter: two contenders do not retry in lockstep
        self._thread = threading.Thread(target=self._refresh, name="repo-lock-heartbeat", daemon=True)
        self._thread.start()
        return self

    def _refresh(self) -> None:
        while not self._stop.wait(self.heartbeat_s):
            try:
                self._write()
            except StoreError:
                pass  # the next beat retries; a lock only goes stale after many missed beats

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.store.delete(self.name)

    def __enter__(self) -> RepoLock:
        return self.acquire()

    def __exit__(self, exc_type: object, exc: BaseException | None, tb: object) -> None:
        try:
            self.release()
        except StoreError:
            if exc is None:
                raise
            # The operation already failed (likely the same unreachable store): report that error.
            # Our lock stays behind and is stale as soon as this process is gone.
