"""A private PostgreSQL instance for fault tests: its own data directory and port, ours to stop and restart.

The machine's PostgreSQL service is never touched. ``initdb`` refuses to run as root, so the server runs
as the ``postgres`` OS user (via ``runuser``) in a directory that user owns, outside pytest's root-only
temporary tree; trust authentication on 127.0.0.1 and the socket in the data directory.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.faults.procs import free_port

OS_USER = "postgres"


def pg_bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if not found:
        raise FileNotFoundError(f"no {name} under /usr/lib/postgresql/*/bin (the postgresql package)")
    return found[-1]


def _as_postgres(args: list[str], timeout: float = 60) -> str:
    cmd = args if os.geteuid() != 0 else ["runuser", "-u", OS_USER, "--", *args]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} exited {done.returncode}:\n{done.stdout}{done.stderr}")
    return done.stdout


@dataclass
class PrivatePostgres:
    datadir: Path
    port: int

    def url(self, db: str = "postgres") -> str:
        return f"postgresql+psycopg2://postgres@127.0.0.1:{self.port}/{db}"

    def _ctl(self, *args: str) -> str:
        return _as_postgres([pg_bin("pg_ctl"), "-D", str(self.datadir), "-w", "-t", "60", *args])

    def start(self) -> None:
        opts = f"-p {self.port} -k {self.datadir} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._ctl("-o", opts, "-l", str(self.datadir / "server.log"), "start")

    def stop(self, mode: str = "fast") -> None:
        self._ctl("-m", mode, "stop")

    def restart(self, mode: str = "fast") -> None:
        """``pg_ctl restart``: every connection is cut (``fast``: rolled back; ``immediate``: no shutdown)."""
        self._ctl("-m", mode, "-l", str(self.datadir / "server.log"), "restart")

    def create_database(self, name: str) -> str:
        self.psql(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def psql(self, sql: str, db: str = "postgres") -> str:
        return _as_postgres([pg_bin("psql"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres",
                             "-d", db, "-At", "-c", sql])  # fmt: skip


@contextlib.contextmanager
def private_postgres() -> Iterator[PrivatePostgres]:
    """initdb a fresh cluster (trust auth), start it on a free port; stopped and removed afterwards."""
    datadir = Path(tempfile.mkdtemp(prefix="opsk-pg-"))
    if os.geteuid() == 0:
        shutil.chown(datadir, OS_USER, OS_USER)
    pg = PrivatePostgres(datadir, free_port())
    try:
        _as_postgres([pg_bin("initdb"), "-D", str(datadir), "-U", "postgres", "-A", "trust", "-N",
                      "--encoding=UTF8", "--locale=C"])  # fmt: skip
        pg.start()
        yield pg
    finally:
        with contextlib.suppress(Exception):
            pg.stop("immediate")
        shutil.rmtree(datadir, ignore_errors=True)
