"""Task types behind one executor interface; third parties add types by entry point."""

from gistasks.plugins import load_object
from gistasks.tasktypes.base import (
    Builtin,
    Deployment,
    Isolation,
    ItemAccess,
    Outcome,
    RunContext,
    TaskType,
)
from gistasks.tasktypes.registry import ENTRY_POINT_GROUP, Registry

__all__ = ["ENTRY_POINT_GROUP", "Builtin", "Deployment", "Isolation", "ItemAccess", "Outcome",
           "Registry", "RunContext", "TaskType", "load_object"]
