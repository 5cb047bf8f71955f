"""Real processes for fault tests: a Prefect server, the opskeeper CLI, waiting on the ledger, SIGKILL.

Helpers, not fixtures, so the scale-out tests (PostgreSQL) reuse them with another database URL.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PYTHON = sys.executable
BIN = Path(PYTHON).parent
SERVER_STARTUP_S = 120.0  # two busy cores shared by several test sessions


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def base_env(**extra: str) -> dict[str, str]:
    """The parent's environment (with $OPSKEEPER_HOME of the test) plus quiet Prefect settings."""
    env = dict(os.environ)
    env.update(DO_NOT_TRACK="1", PREFECT_SERVER_ANALYTICS_ENABLED="false", PREFECT_LOGGING_LEVEL="WARNING",
               PYTHONUNBUFFERED="1")  # fmt: skip
    env.update(extra)
    return env


def wait_for(
    what: str, cond: Callable[[], bool], timeout: float, proc: subprocess.Popen | None = None
) -> None:
    """Poll ``cond`` (cheap: a ledger query) until true; fail early if ``proc`` exits first."""
    deadline = time.monotonic() + timeout
    while not cond():
        if proc is not None and proc.poll() is not None:
            out = proc.stdout.read() if proc.stdout else ""
            raise AssertionError(f"process exited {proc.returncode} before {what}:\n{out}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(0.02)


def kill_group(proc: subprocess.Popen) -> None:
    """SIGKILL the process and everything it started (its own session), then reap it."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)


def spawn(args: list[str], env: Mapping[str, str], log: Path | None = None) -> subprocess.Popen:
    """Start a process in its own session (a process group we can kill whole)."""
    out = open(log, "w") if log else subprocess.PIPE  # noqa: SIM115 - the child owns it
    return subprocess.Popen(args, cwd=REPO, env=dict(env), stdout=out, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)  # fmt: skip


def opskeeper(args: list[str], env: Mapping[str, str]) -> subprocess.Popen:
    return spawn([PYTHON, "-m", "cli", *args], env)


def finish(proc: subprocess.Popen, timeout: float = 180) -> tuple[int, str]:
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_group(proc)
        raise
    return proc.returncode, out or ""


@contextlib.contextmanager
def prefect_server(home: Path, db_url: str | None = None) -> Iterator[str]:
    """A real Prefect server (SQLite under ``home``, or ``db_url``) on a free port; yields its API URL."""
    home.mkdir(parents=True, exist_ok=True)
    port = free_port()
    extra = {"PREFECT_HOME": str(home), "PREFECT_SERVER_API_HOST": "127.0.0.1",
             "PREFECT_SERVER_API_PORT": str(port), "PREFECT_UI_ENABLED": "false",
             "PREFECT_API_URL": ""}  # fmt: skip
    if db_url:
        extra["PREFECT_API_DATABASE_CONNECTION_URL"] = db_url
    env = base_env(**extra)
    env.pop("PREFECT_API_URL")
    cmd = [str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port)]
    proc = spawn(cmd, env, log=home / "server.log")
    api = f"http://127.0.0.1:{port}/api"
    try:
        wait_for("the Prefect server", lambda: _healthy(api), SERVER_STARTUP_S, proc)
        yield api
    finally:
        kill_group(proc)


def _healthy(api: str) -> bool:
    try:
        with urllib.request.urlopen(f"{api}/health", timeout=2) as r:
            return r.status == 200
    except OSError:
        return False
