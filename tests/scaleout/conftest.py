"""Throwaway PostgreSQL databases on 127.0.0.1 (user postgres, trust auth), dropped after the test."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import pytest

PG = {"host": "127.0.0.1", "user": "postgres", "dbname": "postgres"}


def _admin():  # type: ignore[no-untyped-def]
    import psycopg2

    try:
        conn = psycopg2.connect(**PG, connect_timeout=3)
    except psycopg2.OperationalError as e:
        pytest.skip(f"no PostgreSQL on 127.0.0.1: {e}")
    conn.autocommit = True
    return conn


@pytest.fixture
def pg_database() -> Iterator[Callable[[str], str]]:
    """``make(purpose)`` creates an empty database and returns its name; all are dropped afterwards."""
    conn = _admin()
    made: list[str] = []

    def make(purpose: str) -> str:
        name = f"opsk_{purpose}_{uuid.uuid4().hex[:10]}"
        with conn.cursor() as cur:
            cur.execute(f'CREATE DATABASE "{name}"')
        made.append(name)
        return name

    yield make
    with conn.cursor() as cur:
        for name in made:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    conn.close()
