"""User ids, registered OAuth apps (the official client's built in), single-use OAuth codes,
and the failed sign-ins that lock accounts and addresses.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import json
import time
import uuid

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

OOB = "urn:ietf:wg:oauth:2.0:oob"
PYTHON_API_REDIRECTS = [OOB, "http://localhost", "http://127.0.0.1", "http://[::1]",
                        "https://localhost", "https://127.0.0.1", "https://[::1]"]
"""The out-of-band and loopback redirects the official ArcGIS API for Python uses (it also
offers the portal itself, which ``portal_redirects`` allows)."""


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("id", sa.String(32), nullable=True))
    users = sa.table("users", sa.column("username", sa.String), sa.column("id", sa.String))
    conn = op.get_bind()
    for (name,) in conn.execute(sa.select(users.c.username)).all():
        conn.execute(users.update().where(users.c.username == name)
                     .values(id=uuid.uuid4().hex))
    with op.batch_alter_table("users") as batch:
        batch.alter_column("id", existing_type=sa.String(32), nullable=False)
        batch.create_unique_constraint("uq_users_id", ["id"])
    apps = op.create_table(
        "oauth_apps",
        sa.Column("client_id", sa.String(64), primary_key=True),
        sa.Column("title", sa.String(256), nullable=False),
        sa.Column("app_type", sa.String(16), nullable=False),
        sa.Column("redirect_uris", sa.Text, nullable=False),
        sa.Column("portal_redirects", sa.Boolean, nullable=False),
        sa.Column("item_id", sa.String(64), nullable=False),
        sa.Column("owner", sa.String(128), nullable=False),
        sa.Column("created", sa.BigInteger, nullable=False),
        sa.Column("modified", sa.BigInteger, nullable=False),
    )
    now = time.time_ns() // 1_000_000
    op.bulk_insert(apps, [{
        "client_id": "pythonapi", "title": "ArcGIS API for Python", "app_type": "native",
        "redirect_uris": json.dumps(PYTHON_API_REDIRECTS), "portal_redirects": True,
        "item_id": "", "owner": "", "created": now, "modified": now}])
    op.create_table(
        "oauth_codes",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("expires", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "sign_in_failures",
        sa.Column("key", sa.String(200), primary_key=True),
        sa.Column("failures", sa.Integer, nullable=False),
        sa.Column("window_start", sa.BigInteger, nullable=False),
        sa.Column("locked_until", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_sign_in_failures_window", "sign_in_failures", ["window_start"])


def downgrade() -> None:
    op.drop_table("sign_in_failures")
    op.drop_table("oauth_codes")
    op.drop_table("oauth_apps")
    with op.batch_alter_table("users") as batch:
        batch.drop_constraint("uq_users_id", type_="unique")
        batch.drop_column("id")
