"""Disaster recovery: backup stores, the backups in them, asynchronous admin operations
(``admin/jobs``) and the recovery settings.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "backup_stores",
        sa.Column("name", sa.String(128), primary_key=True),
        sa.Column("root_dir", sa.Text, nullable=False),
        sa.Column("is_default", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("settings", sa.Text, nullable=False, server_default="{}"),
        sa.Column("created", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "backups",
        sa.Column("name", sa.String(128), primary_key=True),
        sa.Column("store", sa.String(128), nullable=False),
        sa.Column("file", sa.Text, nullable=False),
        sa.Column("description", sa.Text, nullable=False, server_default=""),
        sa.Column("schedule_type", sa.String(16), nullable=False),
        sa.Column("retention_date", sa.BigInteger, nullable=False, server_default="-1"),
        sa.Column("start_time", sa.BigInteger, nullable=False),
        sa.Column("complete_time", sa.BigInteger, nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("created_by", sa.String(128), nullable=False, server_default=""),
        sa.Column("release", sa.String(32), nullable=False, server_default=""),
        sa.Column("schema_version", sa.String(32), nullable=False, server_default=""),
    )
    op.create_index("ix_backups_store", "backups", ["store", "start_time"])
    op.create_table(
        "admin_jobs",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("operation", sa.String(32), nullable=False),
        sa.Column("operation_uri", sa.Text, nullable=False, server_default=""),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("username", sa.String(128), nullable=False, server_default=""),
        sa.Column("schedule_type", sa.String(16), nullable=False, server_default="MANUAL"),
        sa.Column("backup_name", sa.String(128), nullable=False, server_default=""),
        sa.Column("store", sa.String(128), nullable=False, server_default=""),
        sa.Column("message", sa.Text, nullable=False, server_default=""),
        sa.Column("stages", sa.Text, nullable=False, server_default="[]"),
        sa.Column("result", sa.Text, nullable=False, server_default="{}"),
        sa.Column("node", sa.String(128)),
        sa.Column("start_time", sa.BigInteger, nullable=False),
        sa.Column("end_time", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("updated", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_admin_jobs_start", "admin_jobs", ["start_time"])
    op.create_table(
        "dr_settings",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("dr_settings")
    op.drop_table("admin_jobs")
    op.drop_table("backups")
    op.drop_table("backup_stores")
