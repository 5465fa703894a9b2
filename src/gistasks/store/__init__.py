"""Durable state: every SQL statement of gistasks, one module per aggregate over a shared
database (``_db.py``), with the tables in ``schema.py`` and Alembic migrations in
``migrations/``. Nothing above this package writes SQL.

``Store`` gathers the parts: ``store.tasks``, ``store.runs``, ``store.fires`` (recording due
fires), ``store.leases`` (the execution queue), ``store.users``, ``store.limits``, ``store.oauth``
(registered apps, single-use codes), ``store.sign_ins`` (failed sign-ins), ``store.jobs``
(geoprocessing jobs and their queue), ``store.items`` (folders, items, the activity
record), ``store.recovery`` (backup stores, backups, admin jobs, a copy of the database),
``store.sessions`` (browser sessions), ``store.nodes`` (the nodes' heartbeats). Records
(``store.records``) are what flows upward; the API sees records, never the store.
"""

from __future__ import annotations

from gistasks.store._db import Database, new_id
from gistasks.store.fires import FireStore, Planner
from gistasks.store.items import ItemStore, NotebookJobStore, ReportStore
from gistasks.store.jobs import JobStore
from gistasks.store.leases import LeaseStore
from gistasks.store.limits import LimitStore
from gistasks.store.oauth import OAuthStore
from gistasks.store.recovery import RecoveryStore
from gistasks.store.runs import RunStore
from gistasks.store.sessions import NodeStore, SessionStore
from gistasks.store.signins import SignInStore
from gistasks.store.tasks import TaskStore
from gistasks.store.users import UserStore


class Store:
    """The database of one gistasks deployment (SQLite file or PostgreSQL database)."""

    def __init__(self, url: str) -> None:
        self.db = Database(url)
        self.tasks = TaskStore(self.db)
        self.runs = RunStore(self.db)
        self.fires = FireStore(self.db)
        self.leases = LeaseStore(self.db)
        self.users = UserStore(self.db)
        self.limits = LimitStore(self.db)
        self.oauth = OAuthStore(self.db)
        self.sign_ins = SignInStore(self.db)
        self.jobs = JobStore(self.db)
        self.items = ItemStore(self.db)
        self.reports = ReportStore(self.db)
        self.notebook_jobs = NotebookJobStore(self.db)
        self.recovery = RecoveryStore(self.db)
        self.sessions = SessionStore(self.db)
        self.nodes = NodeStore(self.db)

    @property
    def is_sqlite(self) -> bool:
        return self.db.is_sqlite

    def migrate(self) -> None:
        """Bring the schema to the newest migration (idempotent)."""
        self.db.migrate()

    def close(self) -> None:
        self.db.close()


__all__ = ["Planner", "Store", "new_id"]
