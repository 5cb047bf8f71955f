"""run heartbeats: a long step on another machine is not taken for a dead process

Revision ID: 0007_run_heartbeat
Revises: 0006_notify_lease
"""

import sqlalchemy as sa
from alembic import op

from opskeeper.ledger.base import UTCDateTime

revision = "0007_run_heartbeat"
down_revision = "0006_notify_lease"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("heartbeat_at", UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("heartbeat_at")
