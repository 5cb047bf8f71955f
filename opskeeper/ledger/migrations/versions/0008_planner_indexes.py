"""indexes for the planner's snapshot: runs and notifications read by time

Revision ID: 0008_planner_indexes
Revises: 0007_run_heartbeat
"""

from alembic import op

revision = "0008_planner_indexes"
down_revision = "0007_run_heartbeat"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_runs_kind_started", "runs", ["kind", "started_at"])
    op.create_index("ix_notifications_event_created", "notifications", ["event", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_notifications_event_created", table_name="notifications")
    op.drop_index("ix_runs_kind_started", table_name="runs")
