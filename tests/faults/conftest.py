"""Fault tests run the real CLI in real processes against one Prefect server per session.

A server started once (SQLite under a temporary PREFECT_HOME) instead of an ephemeral one per CLI
process saves ~12 s of CPU per run on these two shared cores; the ledger is what is under test.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.faults.procs import base_env, prefect_server


@pytest.fixture(scope="session")
def prefect_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with prefect_server(tmp_path_factory.mktemp("prefect-server")) as api:
        yield api


@pytest.fixture
def cli_env(prefect_api: str, tmp_path: Path, opskeeper_home: Path) -> dict[str, str]:
    """Environment of CLI processes: this test's $OPSKEEPER_HOME, the session's Prefect server."""
    client_home = tmp_path / "prefect-client"
    client_home.mkdir()
    return base_env(PREFECT_API_URL=prefect_api, PREFECT_HOME=str(client_home), OPSKEEPER_USER="fault-test",
                    OPSKEEPER_HOME=str(opskeeper_home))  # fmt: skip


# --- E1 (storage faults): the backup tests' moto server, S3 bucket factory and data tree, reused ----------
from tests.backup.conftest import moto_server, s3_store_factory  # noqa: E402, F401
from tests.backup.test_faults import big_data  # noqa: E402, F401

# --- E1 (delivery faults): the notification tests' estate (fast retries), ledger, notifier, webhook server
from tests.notify.conftest import estate, ledger, notifier, webhook  # noqa: E402, F401
