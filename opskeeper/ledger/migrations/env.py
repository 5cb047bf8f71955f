"""Alembic environment: runs on the connection handed over by ``Ledger.migrate``."""

from alembic import context

from opskeeper.ledger import Base

config = context.config
target_metadata = Base.metadata

connection = config.attributes.get("connection")
if connection is None:  # pragma: no cover - only via Ledger.migrate or tests
    raise RuntimeError("run migrations through opskeeper.ledger.Ledger.migrate()")
context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
