"""Ledger storage: SQLAlchemy engine, session factory, Alembic migrations.

SQLite under ``$OPSKEEPER_HOME`` by default; any SQLAlchemy URL (PostgreSQL for
scale-out) by setting ``OPSKEEPER_LEDGER_URL`` or passing a URL.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from opskeeper.clock import SYSTEM, Clock
from opskeeper.errors import OpskeeperError
from opskeeper.ledger import audit as _audit
from opskeeper.ledger.base import CLOCK_OPTION, Base, UTCDateTime, stamp_new_rows
from opskeeper.paths import home_dir

__all__ = ["Base", "Ledger", "LedgerError", "UTCDateTime", "default_url", "home_dir"]

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
_PG_MIGRATE_LOCK = 0x6F70736B  # pg_advisory_xact_lock key: one migrating process per database


class LedgerError(OpskeeperError):
    """The ledger could not be opened or written."""

    exit_code = 1


def default_url() -> str:
    url = os.environ.get("OPSKEEPER_LEDGER_URL")
    if url:
        return url
    return f"sqlite:///{home_dir() / 'ledger.sqlite'}"


def _sqlite_pragmas(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
    cur = dbapi_conn.cursor()
    # WAL + synchronous=FULL: a kill -9 or power loss never leaves a torn ledger.
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=FULL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


_migrated: set[str] = set()
_migrate_lock = threading.Lock()


@contextmanager
def _sqlite_file_lock(engine: Engine) -> Iterator[None]:
    db = engine.url.database if engine.dialect.name == "sqlite" else None
    if not db or db == ":memory:":
        yield
        return
    with open(f"{db}.migrate-lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield  # the lock goes with the file's close


def _pg_migrate_lock(conn: Connection) -> None:
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_MIGRATE_LOCK})


def _why(url: str, e: SQLAlchemyError) -> str:
    """The error, and the likely cause when SQLite only says "disk I/O error": a full disk."""
    text = f"{e.__class__.__name__}: {getattr(e, 'orig', None) or e}"
    if url.startswith("sqlite:///"):
        folder = Path(url.removeprefix("sqlite:///")).parent
        try:
            free = shutil.disk_usage(folder).free
        except OSError:
            return text
        if free < 1024 * 1024:
            return f"the disk holding {folder} is full ({free} bytes free); free space and run again ({text})"
    return text


class Ledger:
    """The ledger: an engine, a session factory, the audit trail helpers (see core.py), and its clock.

    Every time the ledger stamps by itself (a column default, an audit entry, a "forgotten at") comes
    from ``clock``: a ledger opened for a simulation or a test pinned to a date writes that date.
    """

    def __init__(self, engine: Engine, clock: Clock = SYSTEM) -> None:
        self.engine = engine
        self.clock = clock
        self.sessions = sessionmaker(engine, expire_on_commit=False, info={CLOCK_OPTION: clock})
        event.listen(self.sessions, "before_flush", stamp_new_rows)

    def now(self) -> datetime:
        return self.clock.now()

    def with_clock(self, clock: Clock) -> Ledger:
        """The same database, stamped by ``clock``: a run made "at" a given time records that time."""
        return self if clock is self.clock else type(self)(self.engine, clock)

    @property
    def url(self) -> str:
        return self.engine.url.render_as_string(hide_password=True)

    @classmethod
    def open(cls, url: str | None = None, *, migrate: bool = True, clock: Clock = SYSTEM) -> Ledger:
        url = url or default_url()
        if url.startswith("sqlite:///"):
            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        try:
            engine = create_engine(url, future=True, pool_pre_ping=True)
            if engine.dialect.name == "sqlite":
                event.listen(engine, "connect", _sqlite_pragmas)
            ledger = cls(engine, clock)
            if migrate:
                ledger.migrate()
        except SQLAlchemyError as e:
            shown = url.split("@")[-1]
            raise LedgerError(f"cannot open the ledger at {shown}: {_why(url, e)}") from e
        return ledger

    def migrate(self) -> None:
        """Bring the schema to the newest Alembic revision (idempotent, once per URL per process)."""
        key = str(self.engine.url)
        with _migrate_lock:
            if key in _migrated:
                return
            cfg = AlembicConfig()
            cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
            # Several processes may open a fresh ledger at once (workers, serve + CLI): one migrates,
            # the others wait and then find the schema at head.
            with _sqlite_file_lock(self.engine), self.engine.begin() as conn:
                _pg_migrate_lock(conn)
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, "head")
            _migrated.add(key)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A transaction: committed on success, rolled back on error."""
        with self.sessions() as s:
            try:
                yield s
                s.commit()
            except SQLAlchemyError as e:
                s.rollback()
                raise LedgerError(f"ledger write failed ({self.url}): {_why(self.url, e)}") from e
            except BaseException:
                s.rollback()
                raise

    def audit(self, actor: str, action: str, subject: str, details: dict | None = None) -> None:
        """Append one entry to the hash-chained audit trail in its own transaction."""
        with self.session() as s:
            _audit.append(s, actor, action, subject, details)

    def verify_audit(self) -> tuple[int, list[_audit.AuditProblem]]:
        with self.session() as s:
            return _audit.verify(s)

    def close(self) -> None:
        self.engine.dispose()
