"""The ArcGIS ``system/limits`` of scheduled tasks: defaults, stored values, enforcement.

Limits are stored in the database (so every node of a cluster sees the same values) and read
through ``system/limits``; a limit never set has its ArcGIS default. ``-1`` means no limit.
"""

from __future__ import annotations

from gistasks.engine.settings import EngineSettings
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
    "FailedRunsToDisableTask": EngineSettings.failed_runs_to_disable,
    "TaskRunHistoryCount": EngineSettings.history_user,
}
"""Every limit, with its default (ArcGIS's where it documents one)."""

ENGINE_SETTINGS: dict[str, str] = {
    "FailedRunsToDisableTask": "failed_runs_to_disable",
    "TaskRunHistoryCount": "history_user",
}
"""Limits that are engine settings: limitName -> EngineSettings field."""

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


class LimitError(ValueError):
    """A limit that cannot be set, or an action a limit forbids; the message says which."""


def current(store: Store, settings: EngineSettings | None = None) -> dict[str, int]:
    """Every limit: the stored value, else the default; for the engine's limits the default
    is ``settings`` (the node's, environment overrides included) when given."""
    engine = {} if settings is None else {name: getattr(settings, field)
                                          for name, field in ENGINE_SETTINGS.items()}
    stored = {k: v for k, v in store.get_limits().items() if k in DEFAULTS}
    return {**DEFAULTS, **engine, **stored}


def validate(changes: dict[str, object]) -> dict[str, int]:
    """Checked new values; raises LimitError naming an unknown limit or a bad value."""
    out: dict[str, int] = {}
    for name, value in changes.items():
        if name not in DEFAULTS:
            raise LimitError(f"unknown limitName {name!r}; limits: {', '.join(DEFAULTS)}")
        if isinstance(value, bool) or not isinstance(value, int):
            raise LimitError(f"numLimit of {name} must be an integer, not {value!r}")
        low = MINIMUMS.get(name, -1)
        if value < low:
            raise LimitError(f"numLimit of {name} must be {low} or more"
                             + ("" if low > -1 else " (-1 for no limit)"))
        if value > MAXIMUM:
            raise LimitError(f"numLimit of {name} must be at most {MAXIMUM}")
        out[name] = value
    return out


def check_active_room(store: Store, task_type: str, owner: str,
                      exclude_id: str | None = None) -> None:
    """Raise LimitError if one more active task of ``task_type`` for ``owner`` would exceed
    the user or the organisation limit of that type."""
    prefix = TYPE_LIMITS.get(task_type)
    if prefix is None:
        return
    values = current(store)
    user_limit, org_limit = values[f"{prefix}UserLimit"], values[f"{prefix}OrgLimit"]
    if user_limit >= 0 and store.count_active(task_type, owner, exclude_id) >= user_limit:
        raise LimitError(f"{owner} already has {user_limit} active {task_type} tasks, the "
                         f"limit ({prefix}UserLimit); disable or delete one first")
    if org_limit >= 0 and store.count_active(task_type, None, exclude_id) >= org_limit:
        raise LimitError(f"the organization already has {org_limit} active {task_type} "
                         f"tasks, the limit ({prefix}OrgLimit)")
