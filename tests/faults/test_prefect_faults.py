"""The Prefect server goes away while a maintenance flow runs: its work and the ledger do not depend on it.

A real Prefect server of this test's own (SQLite under a temporary PREFECT_HOME) is killed (SIGKILL, its
whole process group) while a step runs. Prefect 3 reports task states as events (fire and forget), so
the hosts' work goes on and is recorded; the flow's own API calls (its artifacts, its final state) then
fail. The client retries each call (PREFECT_CLIENT_MAX_RETRIES, 5 by default: about 150 s before the CLI
gives up here; 1 in this test, about 30 s).
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from opskeeper.ledger import Ledger
from opskeeper.ledger.core import RunStatus
from tests.faults.estates import example_estate, set_sleep
from tests.faults.procs import finish, opskeeper, prefect_server, wait_for
from tests.faults.test_maintenance_faults import MONTHLY, _outbox, _runs, _step_recorded, _steps

RUN = [*MONTHLY, "--customer", "volga"]


def test_prefect_server_killed_mid_flow(
    tmp_path: Path, opskeeper_home: Path, cli_env: dict[str, str]
) -> None:
    estate = example_estate(tmp_path, opskeeper_home, sleep_s=4)
    ledger = Ledger.open()
    with contextlib.ExitStack() as server:
        api = server.enter_context(prefect_server(tmp_path / "doomed-server"))
        env = {**cli_env, "PREFECT_API_URL": api, "PREFECT_CLIENT_MAX_RETRIES": "1"}
        proc = opskeeper(["-c", str(estate), *RUN], env)
        wait_for("the first step on record", lambda: _step_recorded(ledger, "first"), 120, proc)
    # Left the block: the server is dead while `sleep 4` runs.
    rc, out = finish(proc, timeout=280)
    # The work finished, once, and the ledger says so: nothing stranded.
    [run] = _runs(ledger)
    assert run.status == RunStatus.OK and run.ended_at is not None, (rc, run.reason, out)
    assert [(s.step, s.status) for s in _steps(ledger, run.id)] == [
        ("first", "ok"),
        ("slow", "ok"),
        ("last", "ok"),
    ]
    # One warning line, then the runs as the ledger has them, and the exit code of their status.
    assert rc == 0 and "Traceback" not in out, out
    assert "stopped answering during the run" in out, out

    # The re-run (Prefect back: the session's server) resumes: nothing is repeated, it finishes.
    set_sleep(tmp_path, 0)
    rc2, out2 = finish(opskeeper(["-c", str(estate), *RUN], cli_env))
    assert rc2 == 0, out2
    old, new = _runs(ledger)
    assert old.id == run.id and new.status == RunStatus.OK and new.summary["resumed_from"] == [run.id]  # type: ignore[index]
    assert {s.status for s in _steps(ledger, new.id)} == {"skipped"}
    assert ledger.verify_audit()[1] == []
    told = _outbox(opskeeper_home)
    assert told["maintenance_started"] == 1 and told["maintenance_failed"] == 0, told
    assert told["maintenance_completed"] == 1, told  # sent directly when the task could not be created
