"""The temporary Prefect server's logs go to a file (its 'database is locked' tracebacks under load are
not the person's error); everything else still reaches the console."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]

_LOGS = """
import logging, sys
from pathlib import Path
from deployments.local_server import server_logs_to_file
server_logs_to_file(Path(sys.argv[1]))
from prefect.logging.configuration import ensure_logging_setup
ensure_logging_setup()  # as a flow run does: from the file named by PREFECT_LOGGING_SETTINGS_PATH
try:
    raise RuntimeError("(sqlite3.OperationalError) database is locked")
except RuntimeError:
    logging.getLogger("prefect.server.events.services.event_persister").exception("Error during periodic flush")
logging.getLogger("prefect.server.services.task_run_recorder").error("recorder: database is locked")
logging.getLogger("opskeeper.security").warning("host web1 (10.0.0.5:22): host key refused")
logging.getLogger("prefect.flow_engine").error("a real error of the run")
"""


def _env(home: Path) -> dict[str, str]:
    env = {**os.environ, "PREFECT_HOME": str(home / "prefect-home"), "DO_NOT_TRACK": "1",
           "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    for name in ("PREFECT_API_URL", "PREFECT_LOGGING_SETTINGS_PATH"):
        env.pop(name, None)
    return env


def test_server_loggers_write_to_the_file_and_the_rest_to_the_console(tmp_path: Path) -> None:
    run = subprocess.run([sys.executable, "-c", _LOGS, str(tmp_path)], cwd=REPO_ROOT, env=_env(tmp_path),
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    said = run.stderr.splitlines()
    assert len(said) == 2, run.stderr
    assert said[0].endswith("| WARNING | opskeeper.security - host web1 (10.0.0.5:22): host key refused")
    assert said[1].endswith("| ERROR   | prefect.flow_engine - a real error of the run")
    logged = (tmp_path / "prefect" / "server.log").read_text()
    assert "prefect.server.events.services.event_persister - Error during periodic flush" in logged
    assert "Traceback (most recent call last)" in logged and "database is locked" in logged
    assert "prefect.server.services.task_run_recorder - recorder: database is locked" in logged
