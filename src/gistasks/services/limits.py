"""The ArcGIS ``system/limits`` of scheduled tasks: defaults, stored values, enforcement.

Limits are stored in the database (so every node of a cluster sees the same values) and read
through ``system/limits``; a limit never set has its ArcGIS default. ``-1`` means no limit.
"""

from __future__ import annotations

from collections.abc import Mapping

from gistasks.engine import Engine
from gistasks.engine.settings import ENGINE_LIMITS, EngineSettings
from gistasks.services.errors import InvalidParameterError
from gistasks.store import Store

CATEGORY = "ScheduleTask"

DEFAULTS: dict[str, int] = {
    "ExecuteNotebooksUserLimit": 20,
    "ExecuteNotebooksOrgLimit": 200,
    "UpdateInsightsUserLimit": -1,
    "UpdateInsightsOrgLimit": -1,
    "ExecuteWorkflowManagerUserLimit": -1,
    "ExecuteWorkflowManagerOrgLimit": -1,
    "GPServiceUserLimit": -1,
    "GPServiceOrgLimit": -1,
    "ScheduledTasksUserLimit": 250,
    "FailedRunsToDisableTask": EngineSettings.failed_runs_to_disable,
    "TaskRunHistoryCount": EngineSettings.history_user,
}
"""Every limit, with its default (ArcGIS's where it documents one)."""

MINIMUMS: dict[str, int] = {"FailedRunsToDisableTask": 1, "TaskRunHistoryCount": 1}
"""Limits for which ``-1`` (none) makes no sense, with their smallest value."""

MAXIMUM = 2**31 - 1
"""The largest value of any limit."""

TYPE_LIMITS: dict[str, str] = {
    "ExecuteNotebook": "ExecuteNotebooks",
    "UpdateInsightsWorkbook": "UpdateInsights",
    "ExecuteWorkflowManager": "ExecuteWorkflowManager",
    "GPService": "GPService",
}
"""Task type -> the prefix of its ``<prefix>UserLimit`` / ``<prefix>OrgLimit`` pair."""


class LimitService:
    """Reading, changing and applying the limits."""

    def __init__(self, store: Store, engine: Engine | None = None) -> None:
        self.store = store
        self.engine = engine

    def current(self) -> dict[str, int]:
        """Every limit: the stored value, else the default; for the engine's limits the
        default is the engine's setting (the node's, environment overrides included)."""
        engine = {} if self.engine is None else {
            name: getattr(self.engine.settings, field) for name, field in ENGINE_LIMITS.items()}
        stored = {k: v for k, v in self.store.limits.get().items() if k in DEFAULTS}
        return {**DEFAULTS, **engine, **stored}

    def update(self, changes: Mapping[str, object], category: str = CATEGORY) -> None:
        """Set limits, every change checked before any is stored; InvalidParameterError
        naming an unknown category or limit, or a bad value."""
        if category != CATEGORY:
            raise InvalidParameterError("category", f"the only category of limits is {CATEGORY}")
        checked = {name: _checked(name, value) for name, value in changes.items()}
        self.store.limits.set(checked)
        if self.engine is not None:
            self.engine.refresh_limits()

    def room_for(self, task_type: str, owner: str, exclude_id: str | None = None) -> str | None:
        """Why one more active task of ``task_type`` for ``owner`` would exceed the user or
        the organisation limit of that type, or None if there is room."""
        prefix = TYPE_LIMITS.get(task_type)
        if prefix is None:
            return None
        values = self.current()
        user_limit, org_limit = values[f"{prefix}UserLimit"], values[f"{prefix}OrgLimit"]
        tasks = self.store.tasks
        if user_limit >= 0 and tasks.count_active(task_type, owner, exclude_id) >= user_limit:
            return (f"{owner} already has {user_limit} active {task_type} tasks, the limit "
                    f"({prefix}UserLimit); disable or delete one first")
        if org_limit >= 0 and tasks.count_active(task_type, None, exclude_id) >= org_limit:
            return (f"the organization already has {org_limit} active {task_type} tasks, the "
                    f"limit ({prefix}OrgLimit)")
        return None


def _checked(name: str, value: object) -> int:
    if name not in DEFAULTS:
        raise InvalidParameterError("properties", f"unknown limitName {name!r}; limits: "
                      f"{', '.join(DEFAULTS)}")
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidParameterError("properties",
                                    f"numLimit of {name} must be an integer, not {value!r}")
    low = MINIMUMS.get(name, -1)
    if value < low:
        raise InvalidParameterError("properties", f"numLimit of {name} must be {low} or more"
                      + ("" if low > -1 else " (-1 for no limit)"))
    if value > MAXIMUM:
        raise InvalidParameterError("properties", f"numLimit of {name} must be at most {MAXIMUM}")
    return value
