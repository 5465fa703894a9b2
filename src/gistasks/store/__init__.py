"""Durable state: SQLAlchemy Core tables, Alembic migrations, and every SQL statement."""

from gistasks.store.records import (
    RUN_STATUSES,
    TASK_STATES,
    ClaimedRun,
    FirePlan,
    NewRun,
    RunRecord,
    TaskRecord,
    UserRecord,
)
from gistasks.store.store import Store, new_id

__all__ = [
    "RUN_STATUSES",
    "TASK_STATES",
    "ClaimedRun",
    "FirePlan",
    "NewRun",
    "RunRecord",
    "Store",
    "TaskRecord",
    "UserRecord",
    "new_id",
]
