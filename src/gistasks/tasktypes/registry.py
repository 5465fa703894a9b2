"""The registry of task types: the built-in ones, entry points, and explicit registrations.

Third parties add types with an entry point in the ``gistasks.tasktypes`` group whose value is
a :class:`TaskType` subclass; ``GISTASKS_TASKTYPES="module:Class,…"`` adds types without
packaging them (development, tests). Each server builds one registry at start and hands it to
the engine and the services; nothing looks types up in a global.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from importlib.metadata import entry_points

from gistasks.plugins import load_object
from gistasks.store.records import Scope
from gistasks.tasktypes.base import Deployment, TaskType

ENTRY_POINT_GROUP = "gistasks.tasktypes"


def _instance(loaded: object) -> TaskType:
    instance = loaded() if isinstance(loaded, type) else loaded
    if not isinstance(instance, TaskType):
        raise TypeError(f"{loaded!r} is not a TaskType")
    return instance


class Registry:
    """Task types by name."""

    def __init__(self, types: Iterable[type[TaskType] | TaskType] = ()) -> None:
        self._types: dict[str, TaskType] = {}
        for t in types:
            self.register(t)

    @classmethod
    def default(cls, environ: Mapping[str, str] | None = None) -> Registry:
        """The built-in types, then the entry points, then ``GISTASKS_TASKTYPES``; a name
        already taken keeps its first type."""
        from gistasks.tasktypes.backups import BackupRetentionCleaner, CreateBackup
        from gistasks.tasktypes.cleangpjobs import CleanGPJobs
        from gistasks.tasktypes.gpservice import GPService
        from gistasks.tasktypes.insights import UpdateInsightsWorkbook
        from gistasks.tasktypes.notebook import ExecuteNotebook
        from gistasks.tasktypes.ping import Ping
        from gistasks.tasktypes.report import ExecuteReport
        from gistasks.tasktypes.scenecook import ExecuteSceneCook
        from gistasks.tasktypes.workflowmanager import ExecuteWorkflowManager

        env = os.environ if environ is None else environ
        registry = cls([Ping, CleanGPJobs, GPService, ExecuteNotebook, ExecuteReport,
                        ExecuteSceneCook, ExecuteWorkflowManager, UpdateInsightsWorkbook,
                        CreateBackup, BackupRetentionCleaner])
        for ep in entry_points(group=ENTRY_POINT_GROUP):
            registry.register(ep.load(), replace=False)
        for spec in filter(None, env.get("GISTASKS_TASKTYPES", "").split(",")):
            registry.register(load_object(spec), replace=False)  # type: ignore[arg-type]
        return registry

    def register(self, task_type: type[TaskType] | TaskType, replace: bool = True) -> None:
        instance = _instance(task_type)
        if replace or instance.name not in self._types:
            self._types[instance.name] = instance

    def bind(self, deployment: Deployment) -> None:
        """Give every type what the deployment offers (the server does this once, at
        start)."""
        for task_type in self._types.values():
            task_type.deployment = deployment

    def start(self) -> None:
        """Start every type (``TaskType.start``), once, when the server starts."""
        for task_type in self._types.values():
            task_type.start()

    def close(self) -> None:
        """Close every type (``TaskType.close``), once, when the server stops."""
        for task_type in self._types.values():
            task_type.close()

    def builtins(self) -> list[TaskType]:
        """The types whose one task exists from the first start."""
        return [t for t in self._types.values() if t.builtin is not None]

    def get(self, name: str) -> TaskType | None:
        return self._types.get(name)

    def names(self, scope: Scope | None = None) -> list[str]:
        """The type names, of the types allowed in ``scope`` if given."""
        return sorted(n for n, t in self._types.items() if scope is None or scope in t.scopes)

    def resolve(self, name: str, scope: Scope) -> TaskType | None:
        """The type allowed in ``scope`` whose name or internal name is ``name``."""
        found = self._types.get(name)
        if found is None:
            found = next((t for t in self._types.values()
                          if t.internal_name and t.internal_name == name), None)
        return found if found is not None and scope in found.scopes else None

    def idempotent_names(self) -> set[str]:
        return {n for n, t in self._types.items() if t.idempotent}
