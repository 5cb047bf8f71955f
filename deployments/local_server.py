"""A Prefect server for ``opskeeper serve`` when no ``PREFECT_API_URL`` is set.

Schedules only fire on a real server (an ephemeral API runs no scheduler), so a one-machine
install gets one: ``prefect server start`` as a child process, its database under
``$OPSKEEPER_HOME/prefect``, the UI at http://127.0.0.1:4200.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from opskeeper.errors import OpskeeperError


class ServerError(OpskeeperError):
    """The local Prefect server did not come up."""


def wait_healthy(api_url: str, timeout: float = 120.0, proc: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise ServerError(f"the Prefect server exited with code {proc.returncode} while starting")
        try:
            with urllib.request.urlopen(f"{api_url}/health", timeout=2) as resp:  # noqa: S310 - loopback
                if resp.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.5)
    raise ServerError(f"the Prefect server at {api_url} was not healthy within {timeout:.0f}s")


def start(home: Path, host: str = "127.0.0.1", port: int = 4200) -> tuple[subprocess.Popen[bytes], str]:
    """Start ``prefect server start``; return the process and its API URL once it answers."""
    prefect_home = home / "prefect"
    prefect_home.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PREFECT_HOME": str(prefect_home), "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    env.pop("PREFECT_API_URL", None)
    log = open(prefect_home / "server.log", "ab")  # noqa: SIM115 - owned by the child for its lifetime
    cmd = [sys.executable, "-m", "prefect", "server", "start", "--host", host, "--port", str(port)]
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    api_url = f"http://{host}:{port}/api"
    try:
        wait_healthy(api_url, proc=proc)
    except ServerError:
        proc.terminate()
        raise
    return proc, api_url
