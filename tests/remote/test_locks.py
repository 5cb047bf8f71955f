"""Host locks across processes: lock files (flock) and PostgreSQL advisory locks."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from opskeeper.remote.locks import (
    FileHostLocks,
    HostBusy,
    PostgresHostLocks,
    advisory_key,
    holding,
    host_locks,
)

PG_URL = "postgresql+psycopg2://postgres@127.0.0.1:5432/test"

_HOLD_SCRIPT = """
import sys, time
from opskeeper.remote.locks import FileHostLocks
with FileHostLocks(sys.argv[1]).hold("web-1", owner="other-process"):
    print("held", flush=True)
    sys.stdin.readline()
"""


def test_file_lock_is_exclusive_across_processes(tmp_path: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-c", _HOLD_SCRIPT, str(tmp_path)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "held"
        locks = FileHostLocks(tmp_path)
        with pytest.raises(HostBusy, match="web-1.*other-process"), locks.hold("web-1", timeout=0.2):
            pass
        with locks.hold("web-2", timeout=0.2):  # other hosts are free
            pass
        proc.stdin.write("\n")
        proc.stdin.flush()
        proc.wait(timeout=10)
        with locks.hold("web-1", timeout=2):  # released when the holder ends
            pass
    finally:
        proc.kill()
        proc.wait()


def test_default_backend_follows_the_ledger_url(opskeeper_home: Path) -> None:
    locks = host_locks("sqlite:///x.sqlite")
    assert isinstance(locks, FileHostLocks) and locks.directory == opskeeper_home / "locks"


def test_advisory_keys_are_stable_and_distinct() -> None:
    assert advisory_key("a") == advisory_key("a") != advisory_key("b")
    assert -(2**63) <= advisory_key("a") < 2**63


@pytest.mark.postgres
def test_postgres_advisory_locks_serialize() -> None:
    try:
        a, b = PostgresHostLocks(PG_URL), PostgresHostLocks(PG_URL)
    except HostBusy as e:
        pytest.skip(f"PostgreSQL not available: {e}")
    try:
        busy = pytest.raises(HostBusy, match="db-1.*PostgreSQL backend")
        with a.hold("db-1", owner="run-a"), busy, b.hold("db-1", timeout=0.2):
            pass
        with b.hold("db-1", timeout=1):
            pass
    finally:
        a.close()
        b.close()


def test_holding_waits_while_the_holder_lives_and_takes_every_host(opskeeper_home: Path) -> None:
    """What maintenance and drills do: no timeout, so a run waits for a living holder, never fails on it."""
    holder = FileHostLocks()
    held = threading.Event()

    def hold_briefly() -> None:
        with holder.hold("db-1", owner="drill 7"):
            held.set()
            time.sleep(0.4)

    t = threading.Thread(target=hold_briefly)
    t.start()
    held.wait(5)
    t0 = time.monotonic()
    with holding("sqlite:///x.sqlite", ["db-1", "app-1"], owner="maintenance run 3", timeout=None):
        waited = time.monotonic() - t0
        with pytest.raises(HostBusy, match="app-1.*maintenance run 3"), FileHostLocks().hold("app-1", timeout=0.1):
            pass
    t.join()
    assert waited >= 0.2
    with FileHostLocks().hold("app-1", timeout=0), FileHostLocks().hold("db-1", timeout=0):
        pass  # both released
