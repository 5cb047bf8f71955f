"""The scale-out path on a real PostgreSQL: the ledger and its audit chain there, and a Prefect server
on PostgreSQL with a process work pool, the maintenance deployment from prefect.yaml, and two workers
running two customers' maintenance at once into the shared ledger.

The exact commands are those of docs/scale-out.md.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import select

from opskeeper.config.loader import load_estate
from opskeeper.config.runbook import load_runbooks
from opskeeper.config.types import Cadence
from opskeeper.ledger import Ledger
from opskeeper.ledger.core import Run, RunStatus, StepResult
from opskeeper.maintenance import run_customer, threaded_runner
from tests.faults.estates import example_estate
from tests.faults.procs import BIN, REPO, base_env, finish, kill_group, prefect_server, spawn

pytestmark = pytest.mark.postgres

CUSTOMERS = ("hanhai", "volga")
TERMINAL = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}


def _ledger_url(db: str) -> str:
    return f"postgresql+psycopg2://postgres@127.0.0.1/{db}"


def _maintenance_runs(ledger: Ledger) -> list[Run]:
    with ledger.session() as s:
        return list(s.scalars(select(Run).where(Run.kind == "maintenance").order_by(Run.customer_id)))


def test_maintenance_and_audit_chain_on_postgres(
    pg_database: Callable[[str], str], tmp_path: Path, opskeeper_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = _ledger_url(pg_database("ledger"))
    monkeypatch.setenv("OPSKEEPER_LEDGER_URL", url)
    estate = load_estate(example_estate(tmp_path, opskeeper_home, customers=CUSTOMERS, sleep_s=0))
    runbooks = load_runbooks(estate.runbooks_dir)
    ledger = Ledger.open()  # the default: $OPSKEEPER_LEDGER_URL
    assert ledger.engine.dialect.name == "postgresql"
    for c in estate.customers:
        res = run_customer(estate, runbooks, ledger, c, Cadence.MONTHLY,
                           runner=threaded_runner(estate, runbooks, ledger), force_window=True)  # fmt: skip
        assert res.status == RunStatus.OK, res.summary()
    runs = _maintenance_runs(ledger)
    assert [(r.customer_id, r.status) for r in runs] == [(c, RunStatus.OK) for c in CUSTOMERS]
    with ledger.session() as s:
        assert s.scalar(select(StepResult.id).where(StepResult.step == "last")) is not None
    count, problems = ledger.verify_audit()
    assert count >= 4 and problems == []


def _prefect(args: list[str], env: dict[str, str], timeout: float = 120) -> str:
    rc, out = finish(spawn([str(BIN / "prefect"), *args], env), timeout=timeout)
    assert rc == 0, f"prefect {' '.join(args)}:\n{out}"
    return out


def _deploy(env: dict[str, str]) -> None:
    """``prefect deploy --name maintenance`` from prefect.yaml, exit 0.

    (With FastAPI 0.151+ the server refused the ``limit: null`` of Prefect 3.8.8's worker listing with
    a 422 and the command exited 1; pyproject pins FastAPI below 0.151.)
    """
    rc, out = finish(spawn([str(BIN / "prefect"), "--no-prompt", "deploy", "--name", "maintenance"], env))
    assert "Deployment 'maintenance/maintenance' successfully created" in out, out
    assert rc == 0, out


def _run_deployment(api: str, params: dict[str, object]) -> str:
    return _prefect_api_call(api, "run", params)


def _prefect_api_call(api: str, what: str, payload: dict[str, object]) -> str:
    from prefect.client.orchestration import get_client
    from prefect.deployments import run_deployment
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings({PREFECT_API_URL: api}):
        if what == "run":
            return str(run_deployment("maintenance/maintenance", parameters=payload, timeout=0).id)
        with get_client(sync_client=True) as client:
            return str(client.read_flow_run(payload["id"]).state_name)  # type: ignore[arg-type]


def _wait_terminal(api: str, ids: list[str], timeout: float) -> dict[str, str]:
    deadline = time.monotonic() + timeout
    states: dict[str, str] = {}
    while time.monotonic() < deadline:
        states = {i: _prefect_api_call(api, "state", {"id": i}).upper() for i in ids}
        if all(s in TERMINAL for s in states.values()):
            return states
        time.sleep(1)
    raise AssertionError(f"flow runs not finished after {timeout:g}s: {states}")


def test_prefect_server_on_postgres_two_workers(
    pg_database: Callable[[str], str], tmp_path: Path, opskeeper_home: Path
) -> None:
    ledger_url = _ledger_url(pg_database("ledger"))
    prefect_db = f"postgresql+asyncpg://postgres@127.0.0.1/{pg_database('prefect')}"
    estate = example_estate(tmp_path, opskeeper_home, customers=CUSTOMERS, sleep_s=3)
    with prefect_server(tmp_path / "prefect-server", db_url=prefect_db) as api:
        env = base_env(PREFECT_API_URL=api, PREFECT_HOME=str(tmp_path / "prefect-client"),
                       OPSKEEPER_LEDGER_URL=ledger_url, OPSKEEPER_CHECKOUT=str(REPO),
                       PREFECT_WORKER_QUERY_SECONDS="1", PREFECT_LOGGING_LEVEL="INFO")  # fmt: skip
        _prefect(["work-pool", "create", "opskeeper", "--type", "process"], env)
        _deploy(env)
        workers = [
            spawn(
                [
                    str(BIN / "prefect"),
                    "worker",
                    "start",
                    "--pool",
                    "opskeeper",
                    "--name",
                    f"w{i}",
                    "--limit",
                    "1",
                ],
                env,
                log=tmp_path / f"worker-{i}.log",
            )  # fmt: skip
            for i in (1, 2)
        ]
        try:
            ids = [
                _run_deployment(
                    api,
                    {
                        "cadence": "monthly",
                        "customer": c,
                        "force_window": True,
                        "config": str(estate),
                        "triggered_by": "scaleout-test",
                    },
                )  # fmt: skip
                for c in CUSTOMERS
            ]
            states = _wait_terminal(api, ids, timeout=180)
        finally:
            for w in workers:
                kill_group(w)
        logs = {i: (tmp_path / f"worker-{i}.log").read_text() for i in (1, 2)}
        assert set(states.values()) == {"COMPLETED"}, (states, logs)
    ledger = Ledger.open(ledger_url)
    runs = _maintenance_runs(ledger)
    assert [(r.customer_id, r.status) for r in runs] == [(c, RunStatus.OK) for c in CUSTOMERS]
    assert sorted(r.flow_run_id or "" for r in runs) == sorted(ids)
    assert len({r.owner for r in runs}) == 2  # two flow-run processes
    # --limit 1 each and two runs at once: each worker took one, and the two runs overlapped in time.
    assert sum(any(i in logs[w] for i in ids) for w in (1, 2)) == 2, logs
    a, b = runs
    assert a.started_at < (b.ended_at or a.started_at) and b.started_at < (a.ended_at or b.started_at)
    assert ledger.verify_audit()[1] == []
