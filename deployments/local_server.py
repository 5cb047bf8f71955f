"""A Prefect server for ``opskeeper serve`` when no ``PREFECT_API_URL`` is set, and the logs of the
temporary one a CLI run starts.

Schedules only fire on a real server (an ephemeral API runs no scheduler), so a one-machine
install gets one: ``prefect server start`` as a child process, its database under
``$OPSKEEPER_HOME/prefect``, the UI at http://127.0.0.1:4200.

A CLI run with no ``PREFECT_API_URL`` gets Prefect's temporary server (a uvicorn child on SQLite),
which writes to our console. Under load its background services lose races for the SQLite lock
and log ``database is locked`` with a traceback (Prefect issues 15170, 18934: harmless, retried):
:func:`server_logs_to_file` sends that server's loggers to a file, the rest stays on the console.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import yaml

from opskeeper.errors import OpskeeperError

# The loggers of Prefect's server side: its API and background services (event persister, task run
# recorder, triggers, ...), and the web server under it. A flow's and a task's logs, the client's and
# ours are not among them: they stay on the console.
SERVER_LOGGERS = ("prefect.server", "uvicorn", "fastapi")
# The client's plumbing: the events client and worker, the API client, the internal services and event loop.
CLIENT_PLUMBING_LOGGERS = ("prefect._internal", "prefect.events", "prefect.client", "prefect.EventsWorker")
_QUIET_FILTER = "opskeeper_quiet_transport_errors"


class QuietTransportErrors(logging.Filter):
    """On the console, a connection error of Prefect's client is the one line that says so, not a traceback:
    the work goes on without the server and the ledger has it (the file keeps whatever the handlers there see)."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        while error is not None:
            if type(error).__module__.split(".")[0] in ("httpx", "httpcore"):
                record.exc_info, record.exc_text = None, None
                break
            error = error.__cause__ or error.__context__
        return True
_FILE_HANDLER = "opskeeper_server_file"


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


def server_logs_to_file(home: Path, *, server: bool = True) -> Path:
    """Route Prefect's own plumbing to ``HOME/prefect/server.log`` for this process (and the temporary server
    it starts, which inherits the environment); returns the log file.

    Always the client's plumbing (its event and API clients, its internal services: when the server stops
    answering they log a traceback for each event they could not send); with ``server`` (no
    ``PREFECT_API_URL``: the temporary server runs in this process's children) the server's loggers too.
    A flow's and a task's logs, and ours, stay on the console.

    Prefect's own logging configuration with that change, written to ``HOME/prefect/logging.yml`` and
    named by ``PREFECT_LOGGING_SETTINGS_PATH``: call it before the first flow run starts.
    """
    prefect_home = home / "prefect"
    prefect_home.mkdir(parents=True, exist_ok=True)
    log_file = prefect_home / "server.log"
    config = yaml.safe_load(_prefect_logging_yml().read_text())  # its "${SETTING}" templates stay text
    config["handlers"][_FILE_HANDLER] = {
        "class": "logging.FileHandler", "filename": str(log_file), "formatter": "standard", "level": 0,
        "delay": True,  # no file until the server has something to say
    }
    for name in (*CLIENT_PLUMBING_LOGGERS, *(SERVER_LOGGERS if server else ())):
        config["loggers"].setdefault(name, {}).update(handlers=[_FILE_HANDLER], propagate=False)
    config.setdefault("filters", {})[_QUIET_FILTER] = {"()": f"{__name__}.QuietTransportErrors"}
    config["handlers"]["console"].setdefault("filters", []).append(_QUIET_FILTER)
    path = prefect_home / "logging.yml"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(yaml.safe_dump(config, sort_keys=False))
    os.replace(tmp, path)
    os.environ["PREFECT_LOGGING_SETTINGS_PATH"] = str(path)
    return log_file


def _prefect_logging_yml() -> Path:
    """Prefect's default logging configuration, found without importing Prefect (every CLI command
    imports this module; only a flow run may pay for loading Prefect)."""
    spec = importlib.util.find_spec("prefect")
    if spec is None or spec.origin is None:
        raise ServerError("Prefect is not installed")
    return Path(spec.origin).parent / "logging" / "logging.yml"
