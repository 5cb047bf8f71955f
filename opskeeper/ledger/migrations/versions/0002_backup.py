"""backup snapshots mirror

Revision ID: 0002_backup
Revises: 0001_core
"""

import sqlalchemy as sa
from alembic import op

from opskeeper.ledger.base import UTCDateTime

revision = "0002_backup"
down_revision = "0001_core"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "backup_snapshots",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("snapshot_id", sa.String(length=64), nullable=False),
        sa.Column("target", sa.String(length=128), nullable=False),
        sa.Column("customer_id", sa.String(length=64), nullable=True),
        sa.Column("system_id", sa.String(length=64), nullable=True),
        sa.Column("dataset", sa.String(length=128), nullable=True),
        sa.Column("host", sa.String(length=256), nullable=False),
        sa.Column("source_kind", sa.String(length=32), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("taken_at", UTCDateTime(), nullable=False),
        sa.Column("files", sa.Integer(), nullable=False),
        sa.Column("bytes", sa.BigInteger(), nullable=False),
        sa.Column("new_bytes", sa.BigInteger(), nullable=False),
        sa.Column("stored_bytes", sa.BigInteger(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.Column("recorded_at", UTCDateTime(), nullable=False),
        sa.Column("forgotten_at", UTCDateTime(), nullable=True),
        sa.Column("last_verified_at", UTCDateTime(), nullable=True),
        sa.Column("verify_status", sa.String(length=32), nullable=True),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("uq_backup_snapshot_target", "backup_snapshots", ["snapshot_id", "target"], unique=True)
    op.create_index("ix_backup_snapshots_system_time", "backup_snapshots", ["system_id", "taken_at"])


def downgrade() -> None:
    op.drop_index("ix_backup_snapshots_system_time", table_name="backup_snapshots")
    op.drop_index("uq_backup_snapshot_target", table_name="backup_snapshots")
    op.drop_table("backup_snapshots")
