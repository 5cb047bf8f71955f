"""Ledger fixtures: a fresh SQLite ledger per test, a throwaway PostgreSQL database when asked."""

from __future__ import annotations

import importlib
import pkgutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

import opskeeper.ledger
from opskeeper.ledger import Ledger

PG_ADMIN_URL = "postgresql+psycopg2://postgres@127.0.0.1:5432/test"


def import_all_ledger_modules() -> None:
    """Every area's tables on Base.metadata (ledger/__init__ imports only the core ones)."""
    for mod in pkgutil.iter_modules(opskeeper.ledger.__path__):
        if mod.name != "migrations":
            importlib.import_module(f"opskeeper.ledger.{mod.name}")


@pytest.fixture
def ledger(opskeeper_home: Path) -> Iterator[Ledger]:
    led = Ledger.open()
    yield led
    led.close()


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A throwaway database on the local PostgreSQL, dropped afterwards."""
    name = f"opskeeper_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield f"postgresql+psycopg2://postgres@127.0.0.1:5432/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
