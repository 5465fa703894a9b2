"""Geoprocessing jobs: one row per job, the queue of every node.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "gp_jobs",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("service", sa.String(160), nullable=False),
        sa.Column("tool", sa.String(128), nullable=False),
        sa.Column("owner", sa.String(128)),
        sa.Column("status", sa.String(24), nullable=False),
        sa.Column("mode", sa.String(8), nullable=False, server_default="async"),
        sa.Column("inputs", sa.Text, nullable=False, server_default="{}"),
        sa.Column("files", sa.Text, nullable=False, server_default="{}"),
        sa.Column("results", sa.Text),
        sa.Column("messages", sa.Text, nullable=False, server_default="[]"),
        sa.Column("progress", sa.Text),
        sa.Column("node", sa.String(128)),
        sa.Column("machine", sa.String(256)),
        sa.Column("lease_until", sa.BigInteger),
        sa.Column("submitted", sa.BigInteger, nullable=False),
        sa.Column("started", sa.BigInteger),
        sa.Column("ended", sa.BigInteger),
        sa.Column("modified", sa.BigInteger, nullable=False),
        sa.Column("deleted", sa.Boolean, nullable=False, server_default=sa.false()),
    )
    op.create_index("ix_gp_jobs_queue", "gp_jobs", ["status", "submitted"])
    op.create_index("ix_gp_jobs_active", "gp_jobs", ["status", "service"])
    op.create_index("ix_gp_jobs_service", "gp_jobs", ["service", "submitted"])
    op.create_index("ix_gp_jobs_owner", "gp_jobs", ["owner", "submitted"])
    op.create_index("ix_gp_jobs_ended", "gp_jobs", ["ended"])


def downgrade() -> None:
    op.drop_table("gp_jobs")
