"""notification attempt lease; escalation levels that had nobody to tell

Revision ID: 0006_notify_lease
Revises: 0005_drills
"""

import sqlalchemy as sa
from alembic import op

from opskeeper.ledger.base import UTCDateTime

revision = "0006_notify_lease"
down_revision = "0005_drills"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("notifications") as batch:
        batch.add_column(sa.Column("lease_until", UTCDateTime(), nullable=True))
        # Rows written before this revision had nobody unreached: an empty list.
        batch.add_column(
            sa.Column("unreached_levels", sa.JSON(), nullable=False, server_default=sa.text("'[]'"))
        )


def downgrade() -> None:
    with op.batch_alter_table("notifications") as batch:
        batch.drop_column("unreached_levels")
        batch.drop_column("lease_until")
