"""database-restore on the real PostgreSQL: drop the database, restore the newest dump, verify rows and checksums."""

from __future__ import annotations

import secrets
import subprocess
from collections.abc import Iterator

import pytest

from opskeeper.backup.ops import backup_system
from opskeeper.config.backup import PostgresDataSet
from opskeeper.config.estate import Estate, Host
from opskeeper.drills.context import DrillRequest
from opskeeper.drills.drive import run_drill
from opskeeper.ledger import Ledger
from opskeeper.ledger.drills import DrillStatus
from tests.drills.conftest import breakdown

pytestmark = pytest.mark.postgres
PG = ["--host", "127.0.0.1", "--username", "postgres", "--no-password"]


def _psql(db: str, sql: str) -> str:
    return subprocess.run(["psql", *PG, "-X", "-At", "-d", db, "-c", sql], check=True, capture_output=True,
                          text=True, timeout=60).stdout


@pytest.fixture
def database() -> Iterator[str]:
    name = f"drill_{secrets.token_hex(4)}"
    try:
        subprocess.run(["createdb", *PG, name], check=True, capture_output=True, timeout=60)
    except (OSError, subprocess.CalledProcessError) as e:
        pytest.skip(f"PostgreSQL on 127.0.0.1 is not usable: {e}")
    _psql(name, "CREATE TABLE orders (id int PRIMARY KEY, customer text, amount numeric);"
                "INSERT INTO orders SELECT g, 'c' || (g % 17), g * 1.5 FROM generate_series(1, 5000) g;"
                "CREATE TABLE shipments (id serial PRIMARY KEY, order_id int REFERENCES orders(id), note text);"
                "INSERT INTO shipments (order_id, note) SELECT g, md5(g::text) FROM generate_series(1, 2000) g;")
    yield name
    subprocess.run(["dropdb", *PG, "--if-exists", name], capture_output=True, timeout=60)


def test_database_restore_drill(example_estate: Estate, ledger: Ledger, database: str, passphrase: str) -> None:
    system = example_estate.customer("hanhai").systems[0]
    system.hosts.append(Host(name="hanhai-db-1", address="localhost", local=True, role="db"))
    system.datasets.append(PostgresDataSet(kind="postgres", name="erp-db", dbname=database, host="hanhai-db-1"))
    system.drills.append("database-restore")
    outcomes = backup_system(example_estate, example_estate.customer("hanhai"), system)  # the backup area's op
    assert all(o.error is None for o in outcomes), outcomes
    result = run_drill(example_estate, DrillRequest("database-restore", "hanhai", approve="dba-on-duty"),
                       ledger=ledger)
    ev = result.evaluation
    assert result.status is DrillStatus.PASS, (ev.findings, ev.checks)
    assert _psql(database, "SELECT count(*) FROM orders").strip() == "5000"
    detected = [c for c in ev.checks if c.phase.value == "detection"]
    assert detected and "missing" in detected[0].value
    print("\n" + breakdown(result))
