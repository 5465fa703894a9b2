"""The tables, as SQLAlchemy Core objects. Alembic migrations (``migrations/``) create them.

Times are epoch milliseconds (``BigInteger``), as ArcGIS returns them. A fire is a run row whose
key ``(task_id, scheduled_for)`` is unique: inserting the same fire twice does nothing.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()

tasks = Table(
    "tasks",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("scope", String(8), nullable=False),  # "user" (Sharing API) or "system" (admin API)
    Column("owner", String(128), nullable=False),
    Column("type", String(64), nullable=False),
    Column("title", String(256), nullable=False, default=""),
    Column("item_id", String(64)),
    Column("task_url", Text),
    Column("parameters", Text, nullable=False, default="{}"),
    Column("cron_expression", String(1000), nullable=False),
    Column("time_zone", String(64), nullable=False, default="UTC"),
    Column("dst_gap", String(8), nullable=False, default="shift"),
    Column("dst_overlap", String(8), nullable=False, default="earlier"),
    Column("start_date", BigInteger),
    Column("end_date", BigInteger),
    Column("max_occurrences", Integer, nullable=False, default=-1),
    Column("occurrences", Integer, nullable=False, default=0),
    Column("consecutive_failures", Integer, nullable=False, default=0),
    Column("active", Boolean, nullable=False, default=True),
    Column("task_state", String(16), nullable=False, default="active"),
    Column("misfire_grace_ms", Integer),  # None: the engine's setting
    Column("overlap_policy", String(8), nullable=False, default="skip"),
    Column("next_fire_at", BigInteger),  # None when the task will not fire again
    Column("last_start", BigInteger),
    Column("created", BigInteger, nullable=False),
    Column("updated", BigInteger, nullable=False),
    Column("generation", Integer, nullable=False, default=0),
    Column("state_reason", Text, nullable=False, default=""),  # why it was disabled
)
Index("ix_tasks_next_fire_at", tasks.c.next_fire_at)
Index("ix_tasks_owner_created", tasks.c.scope, tasks.c.owner, tasks.c.created, tasks.c.id)
Index("ix_tasks_type_active", tasks.c.type, tasks.c.active)

runs = Table(
    "runs",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("task_id", String(32), ForeignKey("tasks.id", ondelete="CASCADE"), nullable=False),
    Column("scheduled_for", BigInteger, nullable=False),
    Column("status", String(16), nullable=False),
    Column("result", Text, nullable=False, default=""),
    Column("url", Text, nullable=False, default=""),
    Column("node", String(128)),
    Column("lease_until", BigInteger),
    Column("attempt", Integer, nullable=False, default=0),
    Column("created", BigInteger, nullable=False),
    Column("started", BigInteger),
    Column("ended", BigInteger),
    Column("modified", BigInteger, nullable=False),
    UniqueConstraint("task_id", "scheduled_for", name="uq_runs_task_fire"),
)
Index("ix_runs_queue", runs.c.status, runs.c.scheduled_for)
Index("ix_runs_task", runs.c.task_id, runs.c.scheduled_for)

users = Table(
    "users",
    metadata,
    Column("username", String(128), primary_key=True),
    Column("id", String(32), nullable=False, unique=True),  # 32 hex digits, as ArcGIS ids
    Column("full_name", String(256), nullable=False, default=""),
    Column("email", String(256), nullable=False, default=""),
    Column("role", String(32), nullable=False),
    Column("password_hash", String(256), nullable=False),
    Column("disabled", Boolean, nullable=False, default=False),
    Column("credentials_version", Integer, nullable=False, default=0),
    Column("created", BigInteger, nullable=False),
    Column("modified", BigInteger, nullable=False),
)

limits = Table(
    "limits",
    metadata,
    Column("name", String(64), primary_key=True),  # ArcGIS limitName: ExecuteNotebooksUserLimit…
    Column("value", BigInteger, nullable=False),
)

oauth_apps = Table(
    "oauth_apps",
    metadata,
    Column("client_id", String(64), primary_key=True),
    Column("title", String(256), nullable=False, default=""),
    Column("app_type", String(16), nullable=False, default="browser"),
    Column("redirect_uris", Text, nullable=False, default="[]"),  # a JSON list
    Column("portal_redirects", Boolean, nullable=False, default=False),
    Column("item_id", String(64), nullable=False, default=""),
    Column("owner", String(128), nullable=False, default=""),
    Column("created", BigInteger, nullable=False),
    Column("modified", BigInteger, nullable=False),
)

oauth_codes = Table(
    "oauth_codes",
    metadata,
    Column("id", String(32), primary_key=True),  # a code can be exchanged while its row lives
    Column("expires", BigInteger, nullable=False),
)

sign_in_failures = Table(
    "sign_in_failures",
    metadata,
    Column("key", String(200), primary_key=True),  # "account:<name>" or "address:<ip>"
    Column("failures", Integer, nullable=False),
    Column("window_start", BigInteger, nullable=False),
    Column("locked_until", BigInteger, nullable=False, default=0),
)
Index("ix_sign_in_failures_window", sign_in_failures.c.window_start)

gp_jobs = Table(
    "gp_jobs",
    metadata,
    Column("id", String(40), primary_key=True),  # "j" and 32 hex digits, as ArcGIS
    Column("service", String(160), nullable=False),  # "<folder>/<service>"
    Column("tool", String(128), nullable=False),
    Column("owner", String(128)),  # None: an anonymous caller of a public service
    Column("status", String(24), nullable=False),
    Column("mode", String(8), nullable=False, default="async"),
    Column("inputs", Text, nullable=False, default="{}"),
    Column("files", Text, nullable=False, default="{}"),
    Column("results", Text),
    Column("messages", Text, nullable=False, default="[]"),
    Column("progress", Text),
    Column("node", String(128)),  # the node that holds (or held) the job's lease
    Column("machine", String(256)),  # that node's host: ArcGIS's machinename
    Column("lease_until", BigInteger),
    Column("submitted", BigInteger, nullable=False),
    Column("started", BigInteger),
    Column("ended", BigInteger),
    Column("modified", BigInteger, nullable=False),
    Column("deleted", Boolean, nullable=False, default=False),
)
Index("ix_gp_jobs_queue", gp_jobs.c.status, gp_jobs.c.submitted)
Index("ix_gp_jobs_active", gp_jobs.c.status, gp_jobs.c.service)
Index("ix_gp_jobs_service", gp_jobs.c.service, gp_jobs.c.submitted)
Index("ix_gp_jobs_owner", gp_jobs.c.owner, gp_jobs.c.submitted)
Index("ix_gp_jobs_ended", gp_jobs.c.ended)

folders = Table(
    "folders",
    metadata,
    Column("id", String(32), primary_key=True),  # 32 hex digits, as ArcGIS folder ids
    Column("owner", String(128), nullable=False),
    Column("title", String(256), nullable=False),
    Column("created", BigInteger, nullable=False),
    UniqueConstraint("owner", "title", name="uq_folders_owner_title"),
)

items = Table(
    "items",
    metadata,
    Column("id", String(32), primary_key=True),  # 32 hex digits, as ArcGIS item ids
    Column("owner", String(128), nullable=False),
    Column("folder_id", String(32)),  # None: the owner's root folder
    Column("type", String(64), nullable=False),
    Column("title", String(256), nullable=False, default=""),
    Column("name", String(256), nullable=False, default=""),  # the data file's name
    Column("data_kind", String(8), nullable=False, default=""),  # "file", "text" or ""
    Column("url", Text, nullable=False, default=""),
    Column("tags", Text, nullable=False, default="[]"),  # a JSON list
    Column("type_keywords", Text, nullable=False, default="[]"),  # a JSON list
    Column("description", Text, nullable=False, default=""),
    Column("snippet", String(2048), nullable=False, default=""),
    Column("access", String(16), nullable=False, default="private"),
    Column("size", BigInteger, nullable=False, default=0),
    Column("status", String(16), nullable=False, default=""),  # "" or processing, partial...
    Column("status_message", Text, nullable=False, default=""),
    Column("created", BigInteger, nullable=False),
    Column("modified", BigInteger, nullable=False),
)
Index("ix_items_owner", items.c.owner, items.c.folder_id, items.c.created)
Index("ix_items_type", items.c.type, items.c.created)

activity = Table(
    "activity",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", BigInteger, nullable=False),
    Column("username", String(128), nullable=False),
    Column("action", String(32), nullable=False),  # "signin", "item-add", "item-delete"...
    Column("target", String(256), nullable=False, default=""),
)
Index("ix_activity_at", activity.c.at)

notebook_jobs = Table(
    "notebook_jobs",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("owner", String(128), nullable=False),
    Column("item_id", String(32), nullable=False),
    Column("status", String(16), nullable=False),  # SUBMITTED, EXECUTING, COMPLETED, FAILED
    Column("parameters", Text, nullable=False, default="{}"),
    Column("result", Text, nullable=False, default=""),
    Column("url", Text, nullable=False, default=""),
    Column("node", String(128)),
    Column("created", BigInteger, nullable=False),
    Column("started", BigInteger),
    Column("ended", BigInteger),
)
Index("ix_notebook_jobs_owner", notebook_jobs.c.owner, notebook_jobs.c.created)

# -- disaster recovery: kept as they are by a restore (they describe the backups, not what a
# backup holds) -------------------------------------------------------------------------------

backup_stores = Table(
    "backup_stores",
    metadata,
    Column("name", String(128), primary_key=True),
    Column("root_dir", Text, nullable=False),
    Column("is_default", Boolean, nullable=False, default=False),
    Column("settings", Text, nullable=False, default="{}"),
    Column("created", BigInteger, nullable=False),
)

backups = Table(
    "backups",
    metadata,
    Column("name", String(128), primary_key=True),  # unique across stores (the legacy tree)
    Column("store", String(128), nullable=False),
    Column("file", Text, nullable=False),  # the file's name in its store's directory
    Column("description", Text, nullable=False, default=""),
    Column("schedule_type", String(16), nullable=False),  # MANUAL, SCHEDULED
    Column("retention_date", BigInteger, nullable=False, default=-1),  # -1: kept for ever
    Column("start_time", BigInteger, nullable=False),
    Column("complete_time", BigInteger, nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("created_by", String(128), nullable=False, default=""),
    Column("release", String(32), nullable=False, default=""),
    Column("schema_version", String(32), nullable=False, default=""),
)
Index("ix_backups_store", backups.c.store, backups.c.start_time)

admin_jobs = Table(
    "admin_jobs",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("operation", String(32), nullable=False),  # Backup, Restore, DeleteBackup…
    Column("operation_uri", Text, nullable=False, default=""),
    Column("status", String(16), nullable=False),  # SUBMITTED, EXECUTING, COMPLETED, FAILED
    Column("username", String(128), nullable=False, default=""),
    Column("schedule_type", String(16), nullable=False, default="MANUAL"),
    Column("backup_name", String(128), nullable=False, default=""),
    Column("store", String(128), nullable=False, default=""),
    Column("message", Text, nullable=False, default=""),
    Column("stages", Text, nullable=False, default="[]"),
    Column("result", Text, nullable=False, default="{}"),
    Column("node", String(128)),
    Column("start_time", BigInteger, nullable=False),
    Column("end_time", BigInteger, nullable=False, default=0),
    Column("updated", BigInteger, nullable=False),
)
Index("ix_admin_jobs_start", admin_jobs.c.start_time)

dr_settings = Table(
    "dr_settings",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

web_sessions = Table(
    "web_sessions",
    metadata,
    Column("id_hash", String(64), primary_key=True),  # SHA-256 of the cookie's secret
    Column("username", String(128), nullable=False),
    Column("version", Integer, nullable=False),  # the user's credentials_version then
    Column("created", BigInteger, nullable=False),
    Column("expires", BigInteger, nullable=False),
)
Index("ix_web_sessions_expires", web_sessions.c.expires)

nodes = Table(
    "nodes",
    metadata,
    Column("node", String(128), primary_key=True),
    Column("host", String(255), nullable=False),
    Column("pid", Integer, nullable=False),
    Column("version", String(32), nullable=False),
    Column("started", BigInteger, nullable=False),
    Column("heartbeat", BigInteger, nullable=False),
    Column("stopped", BigInteger, nullable=False, default=0),  # 0: running
)

RECOVERY_TABLES = ("backup_stores", "backups", "admin_jobs", "dr_settings", "web_sessions",
                   "nodes")
"""What a restore keeps of the live database: the stores, the list of backups, the record of
operations and the settings describe the backups themselves, so restoring an older state
must not forget a store or a backup made since (nor the restore's own record); the browser
sessions and the nodes describe the present (a session signed out since the backup must not
come back)."""
