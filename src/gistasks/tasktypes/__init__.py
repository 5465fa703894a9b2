"""Task types behind one executor interface; third parties add types by entry point."""

from gistasks.tasktypes.base import (
    ENTRY_POINT_GROUP,
    Outcome,
    Registry,
    RunContext,
    TaskType,
    registry,
)

__all__ = ["ENTRY_POINT_GROUP", "Outcome", "Registry", "RunContext", "TaskType", "registry"]
