"""Tasks and runs.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "tasks",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("scope", sa.String(8), nullable=False),
        sa.Column("owner", sa.String(128), nullable=False),
        sa.Column("type", sa.String(64), nullable=False),
        sa.Column("title", sa.String(256), nullable=False),
        sa.Column("item_id", sa.String(64)),
        sa.Column("task_url", sa.Text),
        sa.Column("parameters", sa.Text, nullable=False),
        sa.Column("cron_expression", sa.String(1000), nullable=False),
        sa.Column("time_zone", sa.String(64), nullable=False),
        sa.Column("dst_gap", sa.String(8), nullable=False),
        sa.Column("dst_overlap", sa.String(8), nullable=False),
        sa.Column("start_date", sa.BigInteger),
        sa.Column("end_date", sa.BigInteger),
        sa.Column("max_occurrences", sa.Integer, nullable=False),
        sa.Column("occurrences", sa.Integer, nullable=False),
        sa.Column("consecutive_failures", sa.Integer, nullable=False),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("task_state", sa.String(16), nullable=False),
        sa.Column("misfire_grace_ms", sa.Integer),
        sa.Column("overlap_policy", sa.String(8), nullable=False),
        sa.Column("next_fire_at", sa.BigInteger),
        sa.Column("last_start", sa.BigInteger),
        sa.Column("created", sa.BigInteger, nullable=False),
        sa.Column("updated", sa.BigInteger, nullable=False),
        sa.Column("generation", sa.Integer, nullable=False),
    )
    op.create_index("ix_tasks_next_fire_at", "tasks", ["next_fire_at"])
    op.create_index("ix_tasks_owner", "tasks", ["scope", "owner"])
    op.create_table(
        "runs",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("task_id", sa.String(32), sa.ForeignKey("tasks.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("scheduled_for", sa.BigInteger, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("result", sa.Text, nullable=False),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("node", sa.String(128)),
        sa.Column("lease_until", sa.BigInteger),
        sa.Column("attempt", sa.Integer, nullable=False),
        sa.Column("created", sa.BigInteger, nullable=False),
        sa.Column("started", sa.BigInteger),
        sa.Column("ended", sa.BigInteger),
        sa.Column("modified", sa.BigInteger, nullable=False),
        sa.UniqueConstraint("task_id", "scheduled_for", name="uq_runs_task_fire"),
    )
    op.create_index("ix_runs_queue", "runs", ["status", "scheduled_for"])
    op.create_index("ix_runs_task", "runs", ["task_id", "scheduled_for"])


def downgrade() -> None:
    op.drop_table("runs")
    op.drop_table("tasks")
