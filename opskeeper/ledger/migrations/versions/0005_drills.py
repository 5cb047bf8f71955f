"""drills and action items

Revision ID: 0005_drills
Revises: 0004_findings
"""

import sqlalchemy as sa
from alembic import op

from opskeeper.ledger.base import UTCDateTime

revision = "0005_drills"
down_revision = "0004_findings"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "drills",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("scenario", sa.String(length=64), nullable=False),
        sa.Column("customer_id", sa.String(length=64), nullable=False),
        sa.Column("system_id", sa.String(length=64), nullable=False),
        sa.Column("run_id", sa.Integer(), sa.ForeignKey("runs.id", ondelete="SET NULL"), nullable=True),
        sa.Column("flow_run_id", sa.String(length=64), nullable=True),
        sa.Column("triggered_by", sa.String(length=128), nullable=True),
        sa.Column("approved_by", sa.String(length=128), nullable=True),
        sa.Column("force_window", sa.Boolean(), nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("ended_at", UTCDateTime(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("score", sa.Integer(), nullable=True),
        sa.Column("rto_s", sa.Float(), nullable=True),
        sa.Column("rpo_s", sa.Float(), nullable=True),
        sa.Column("rto_target_s", sa.Float(), nullable=True),
        sa.Column("rpo_target_s", sa.Float(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("evaluation", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_drills_customer_scenario", "drills", ["customer_id", "scenario", "started_at"])
    op.create_table(
        "drill_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("drill_id", sa.Integer(), sa.ForeignKey("drills.id", ondelete="CASCADE"), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("ok", sa.Boolean(), nullable=False),
        sa.Column("duration_s", sa.Float(), nullable=True),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_drill_events_drill_id", "drill_events", ["drill_id"])
    op.create_table(
        "drill_action_items",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("customer_id", sa.String(length=64), nullable=False),
        sa.Column("scenario", sa.String(length=64), nullable=False),
        sa.Column("fingerprint", sa.String(length=128), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("owner", sa.String(length=128), nullable=False),
        sa.Column("due", UTCDateTime(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column(
            "opened_by_drill", sa.Integer(), sa.ForeignKey("drills.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("last_seen_drill", sa.Integer(), nullable=False),
        sa.Column("closed_by_drill", sa.Integer(), nullable=True),
        sa.Column("opened_at", UTCDateTime(), nullable=False),
        sa.Column("closed_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_drill_items_open", "drill_action_items", ["customer_id", "scenario", "status"])


def downgrade() -> None:
    op.drop_index("ix_drill_items_open", table_name="drill_action_items")
    op.drop_table("drill_action_items")
    op.drop_index("ix_drill_events_drill_id", table_name="drill_events")
    op.drop_table("drill_events")
    op.drop_index("ix_drills_customer_scenario", table_name="drills")
    op.drop_table("drills")
