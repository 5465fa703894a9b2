"""System limits, and an index that serves task-list pages in creation order.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "limits",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("value", sa.BigInteger, nullable=False),
    )
    op.drop_index("ix_tasks_owner", table_name="tasks")
    op.create_index("ix_tasks_owner_created", "tasks", ["scope", "owner", "created", "id"])
    op.create_index("ix_tasks_type_active", "tasks", ["type", "active"])


def downgrade() -> None:
    op.drop_index("ix_tasks_type_active", table_name="tasks")
    op.drop_index("ix_tasks_owner_created", table_name="tasks")
    op.create_index("ix_tasks_owner", "tasks", ["scope", "owner"])
    op.drop_table("limits")
