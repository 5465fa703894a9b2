"""Portal content: folders and items (their files live in the data directory), the activity
record the reports read, why a task was disabled, and on-demand notebook jobs.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "folders",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("owner", sa.String(128), nullable=False),
        sa.Column("title", sa.String(256), nullable=False),
        sa.Column("created", sa.BigInteger, nullable=False),
        sa.UniqueConstraint("owner", "title", name="uq_folders_owner_title"),
    )
    op.create_table(
        "items",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("owner", sa.String(128), nullable=False),
        sa.Column("folder_id", sa.String(32)),
        sa.Column("type", sa.String(64), nullable=False),
        sa.Column("title", sa.String(256), nullable=False, server_default=""),
        sa.Column("name", sa.String(256), nullable=False, server_default=""),
        sa.Column("data_kind", sa.String(8), nullable=False, server_default=""),
        sa.Column("url", sa.Text, nullable=False, server_default=""),
        sa.Column("tags", sa.Text, nullable=False, server_default="[]"),
        sa.Column("type_keywords", sa.Text, nullable=False, server_default="[]"),
        sa.Column("description", sa.Text, nullable=False, server_default=""),
        sa.Column("snippet", sa.String(2048), nullable=False, server_default=""),
        sa.Column("access", sa.String(16), nullable=False, server_default="private"),
        sa.Column("size", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("status", sa.String(16), nullable=False, server_default=""),
        sa.Column("status_message", sa.Text, nullable=False, server_default=""),
        sa.Column("created", sa.BigInteger, nullable=False),
        sa.Column("modified", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_items_owner", "items", ["owner", "folder_id", "created"])
    op.create_index("ix_items_type", "items", ["type", "created"])
    op.create_table(
        "activity",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", sa.BigInteger, nullable=False),
        sa.Column("username", sa.String(128), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("target", sa.String(256), nullable=False, server_default=""),
    )
    op.create_index("ix_activity_at", "activity", ["at"])
    with op.batch_alter_table("tasks") as batch:
        batch.add_column(sa.Column("state_reason", sa.Text, nullable=False, server_default=""))
    op.create_table(
        "notebook_jobs",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("owner", sa.String(128), nullable=False),
        sa.Column("item_id", sa.String(32), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("parameters", sa.Text, nullable=False, server_default="{}"),
        sa.Column("result", sa.Text, nullable=False, server_default=""),
        sa.Column("url", sa.Text, nullable=False, server_default=""),
        sa.Column("node", sa.String(128)),
        sa.Column("created", sa.BigInteger, nullable=False),
        sa.Column("started", sa.BigInteger),
        sa.Column("ended", sa.BigInteger),
    )
    op.create_index("ix_notebook_jobs_owner", "notebook_jobs", ["owner", "created"])


def downgrade() -> None:
    op.drop_table("notebook_jobs")
    with op.batch_alter_table("tasks") as batch:
        batch.drop_column("state_reason")
    op.drop_table("activity")
    op.drop_table("items")
    op.drop_table("folders")
