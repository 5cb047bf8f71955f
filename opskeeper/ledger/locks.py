"""PostgreSQL session advisory locks on a dedicated connection: what ``opskeeper.remote.locks`` builds host locks on.

The locks live in the ledger's own database so every worker on every machine sharing that ledger sees
them, and PostgreSQL drops them when the holding session ends (a killed holder never leaves one behind).
A dedicated connection, not the ledger's pool: a session advisory lock belongs to the connection that took
it, and a pooled connection would carry it off to whoever borrows it next.
"""

from __future__ import annotations

import logging
import threading

from sqlalchemy import create_engine, text
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.pool import NullPool

from opskeeper.ledger.db import Ledger, LedgerError

log = logging.getLogger(__name__)


class AdvisoryLockError(LedgerError):
    """The advisory lock connection could not be opened or a lock query failed."""


def lock_url(ledger: Ledger) -> str:
    """The ledger's URL with its password: the host locks open their own connection to the same database."""
    return ledger.engine.url.render_as_string(hide_password=False)


class AdvisoryLocks:
    """``pg_try_advisory_lock`` and friends on one connection, safe to share between threads."""

    def __init__(self, url: str) -> None:
        try:
            self._engine = create_engine(url, poolclass=NullPool)
            self._conn = self._engine.connect()
        except SQLAlchemyError as e:
            raise AdvisoryLockError(f"cannot connect to PostgreSQL ({url.split('@')[-1]}): {e}") from e
        self._mutex = threading.Lock()  # one connection, many fan-out threads

    def _scalar(self, sql: str, key: int) -> object:
        params = {"k": key, "hi": (key >> 32) & 0xFFFFFFFF, "lo": key & 0xFFFFFFFF}
        with self._mutex:
            for attempt in (1, 2):
                try:
                    value = self._conn.execute(text(sql), params).scalar()
                    self._conn.commit()  # advisory locks are session-level: committing keeps them
                    return value
                except DBAPIError as e:
                    if not e.connection_invalidated or attempt == 2:
                        raise AdvisoryLockError(f"advisory lock query failed: {e}") from e
                    # The session died (a server restart, a cut connection): PostgreSQL released every lock
                    # it held. Say so once, then go on on a new session; an unlock there finds nothing held.
                    log.warning("the PostgreSQL session holding this process's host locks was lost (%s); "
                                "the server released them", type(e.orig).__name__)
                    self._conn.rollback()  # lets the connection reconnect on its next use
                except SQLAlchemyError as e:
                    raise AdvisoryLockError(f"advisory lock query failed: {e}") from e
        raise AssertionError("unreachable")

    def try_lock(self, key: int) -> bool:
        return bool(self._scalar("SELECT pg_try_advisory_lock(:k)", key))

    def unlock(self, key: int) -> None:
        self._scalar("SELECT pg_advisory_unlock(:k)", key)

    def holder_pid(self, key: int) -> int | None:
        """The PostgreSQL backend pid holding ``key``, if any."""
        pid = self._scalar(
            "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted "
            "AND classid = (:hi)::bigint::oid AND objid = (:lo)::bigint::oid AND objsubid = 1 LIMIT 1", key)
        return int(pid) if isinstance(pid, int) else None

    def close(self) -> None:
        with self._mutex:
            self._conn.close()  # ends the session: PostgreSQL releases its advisory locks
            self._engine.dispose()
