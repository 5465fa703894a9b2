"""Task types behind one executor interface; third parties add types by entry point."""

from gistasks.tasktypes.base import Isolation, Outcome, RunContext, TaskType, load_object
from gistasks.tasktypes.registry import ENTRY_POINT_GROUP, Registry

__all__ = ["ENTRY_POINT_GROUP", "Isolation", "Outcome", "Registry", "RunContext", "TaskType",
           "load_object"]
