"""The executor interface every task type implements, and the registry of types.

A type declares, next to its ``execute``: its name (the ArcGIS ``type`` value), whether running
it twice is harmless (``idempotent``: a run lost with its node is then re-queued instead of
failed), where it runs (``isolation``: ``"thread"`` in the server process, or ``"process"``, a
child process that can be cancelled and cannot crash the server) and its time limit.

Third parties add types with an entry point in the ``gistasks.tasktypes`` group whose value is
a :class:`TaskType` subclass; ``GISTASKS_TASKTYPES="module:Class,…"`` adds types without
packaging them (development, tests).
"""

from __future__ import annotations

import importlib
import os
import threading
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any, ClassVar

ENTRY_POINT_GROUP = "gistasks.tasktypes"


@dataclass(frozen=True, slots=True)
class RunContext:
    """What an execution gets: the run, its task's settings, and a cancellation flag."""

    run_id: str
    task_id: str
    scheduled_for: int
    owner: str
    parameters: dict[str, Any]
    item_id: str | None = None
    task_url: str | None = None
    cancelled: threading.Event = field(default_factory=threading.Event, compare=False)


@dataclass(frozen=True, slots=True)
class Outcome:
    """How a run ended: ``succeeded`` or ``failed``, a result text, and an optional URL."""

    status: str
    result: str = ""
    url: str = ""

    def __post_init__(self) -> None:
        if self.status not in ("succeeded", "failed"):
            raise ValueError(f"an outcome is succeeded or failed, not {self.status!r}")


class TaskType(ABC):
    """One kind of scheduled work (ExecuteNotebook, CleanGPJobs, …)."""

    name: ClassVar[str]
    internal_name: ClassVar[str] = ""
    """The Administrator API's ``type`` constant (``CREATE_BACKUP_TASK_TYPE``), accepted as an
    alias of ``name`` because the official client echoes it back."""
    scopes: ClassVar[frozenset[str]] = frozenset({"user"})
    """Where tasks of this type may be created: ``user`` (Sharing API), ``system`` (admin)."""
    privilege: ClassVar[str | None] = None
    """The privilege a task's owner needs for tasks of this type (ExecuteNotebook:
    ``premium:publisher:scheduleNotebooks``)."""
    needs_item: ClassVar[bool] = False
    """Tasks of this type run on a portal item: ``itemId`` is required (ExecuteNotebook…)."""
    needs_task_url: ClassVar[bool] = False
    """Tasks of this type call a service: ``taskURL`` is required (GPService)."""
    idempotent: ClassVar[bool] = False
    isolation: ClassVar[str] = "thread"
    time_limit_s: ClassVar[float | None] = None

    def validate(self, parameters: dict[str, Any]) -> dict[str, Any]:
        """Check (and normalise) a task's parameters; raise ``ValueError`` naming the problem."""
        return parameters

    @abstractmethod
    def execute(self, ctx: RunContext) -> Outcome:
        """Do the work of one run. Long work checks ``ctx.cancelled`` and returns early."""


class Registry:
    """Task types by name: the built-in ones, the entry points, and explicit registrations."""

    def __init__(self) -> None:
        self._types: dict[str, TaskType] = {}
        self._loaded = False

    def register(self, task_type: type[TaskType] | TaskType) -> None:
        instance = task_type() if isinstance(task_type, type) else task_type
        self._types[instance.name] = instance

    def _load(self) -> None:
        if self._loaded:
            return
        self._loaded = True
        from gistasks.tasktypes.ping import Ping

        self._types.setdefault(Ping.name, Ping())
        for ep in entry_points(group=ENTRY_POINT_GROUP):
            loaded = ep.load()
            instance = loaded() if isinstance(loaded, type) else loaded
            self._types.setdefault(instance.name, instance)
        for spec in filter(None, os.environ.get("GISTASKS_TASKTYPES", "").split(",")):
            module, _, attr = spec.strip().partition(":")
            loaded = getattr(importlib.import_module(module), attr)
            instance = loaded() if isinstance(loaded, type) else loaded
            self._types.setdefault(instance.name, instance)

    def get(self, name: str) -> TaskType | None:
        self._load()
        return self._types.get(name)

    def names(self, scope: str | None = None) -> list[str]:
        """The type names, of the types allowed in ``scope`` if given."""
        self._load()
        return sorted(n for n, t in self._types.items() if scope is None or scope in t.scopes)

    def resolve(self, name: str, scope: str) -> TaskType | None:
        """The type allowed in ``scope`` whose name or internal name is ``name``."""
        self._load()
        found = self._types.get(name)
        if found is None:
            found = next((t for t in self._types.values()
                          if t.internal_name and t.internal_name == name), None)
        return found if found is not None and scope in found.scopes else None

    def idempotent_names(self) -> set[str]:
        self._load()
        return {n for n, t in self._types.items() if t.idempotent}


registry = Registry()
"""The process-wide registry."""
