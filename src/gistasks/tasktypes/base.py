"""The executor interface every task type implements.

A type declares, next to its ``execute``: its name (the ArcGIS ``type`` value), whether running
it twice is harmless (``idempotent``: a run lost with its node is then re-queued instead of
failed), where it runs (``isolation``: in a thread of the server process, or in a child process
that can be cancelled and cannot crash the server) and its time limit.

A type that runs in a child process is made anew there from its class (``module:QualName``), so
its class must be importable and constructible without arguments.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from gistasks.plugins import load_object
from gistasks.store.records import RunStatus, Scope

if TYPE_CHECKING:  # the notebook engine (nbclient, zmq) is imported by who runs notebooks
    from gistasks.notebooks import NotebookEngine


class Isolation(StrEnum):
    """Where a run executes."""

    THREAD = "thread"
    """In a worker thread of the server: cheap, for short cooperative work."""
    PROCESS = "process"
    """In a child process: a time limit or a cancellation terminates it, a crash fails only
    the run."""


FINAL_STATUSES = (RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.SUBMITFAILED)


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
    """How a run ended: ``succeeded``, ``failed`` or ``submitfailed`` (the service it calls
    refused the work or could not be reached), a result text, and an optional URL."""

    status: RunStatus
    result: str = ""
    url: str = ""

    def __post_init__(self) -> None:
        if self.status not in FINAL_STATUSES:
            raise ValueError(f"an outcome is succeeded, failed or submitfailed, not "
                             f"{self.status!r}")
        object.__setattr__(self, "status", RunStatus(self.status))  # "succeeded" works too


class ItemAccess(Protocol):
    """The portal items of this deployment, as the task types that work on an item see them
    (the server binds its content service). Every call acts for ``owner``: an item that does
    not exist raises ``LookupError``, another user's item ``PermissionError`` (unless the
    owner is an org admin)."""

    def info(self, owner: str, item_id: str) -> dict[str, Any]:
        """The item's JSON (``id``, ``type``, ``title``, ``owner``, ``name``, ``url`` …)."""

    def data(self, owner: str, item_id: str, max_bytes: int | None = None) -> bytes:
        """The item's data (its file, or its text); ValueError, before reading it, when it
        is larger than ``max_bytes``."""

    def folder(self, owner: str, item_id: str) -> Path:
        """The item's folder in the data directory (its file lives there)."""

    def replace_data(self, owner: str, item_id: str, data: bytes,
                     if_modified: int | None = None) -> None:
        """Write the item's data anew (atomically), keeping its name and type; with
        ``if_modified``, only if the item was not changed since (its ``modified``):
        ValueError otherwise."""


@dataclass(frozen=True)
class Deployment:
    """What the server offers the task types that work on the deployment itself, bound once
    at start (``Registry.bind``); a type run in a child process gets none of it."""

    clean_gp_jobs: Callable[[], str] | None = None
    """Remove the GP jobs past their age; returns the run's result text."""
    create_backup: Callable[[dict[str, Any], int, str], str] | None = None
    """Back the deployment up per a CreateBackup task's parameters, for the fire at the given
    epoch ms, as the given user; returns the run's result text (raises when it failed)."""
    clean_backups: Callable[[], str] | None = None
    """Delete the backups past their retention date; returns the run's result text."""
    backup_stores: Callable[[], list[str]] | None = None
    """The names of the registered backup stores."""
    token_for_minutes: Callable[[str, int], str] | None = None
    """A token of a user that lives the given minutes (a notebook's ``GIS("home")``)."""
    token_for: Callable[[str], str] | None = None
    """A short-lived token of a user, for calls to this deployment's own services."""
    own_origins: tuple[str, ...] = ()
    """The origins (``https://host:port``) of this deployment: only they receive tokens."""
    ca_file: str | None = None
    """The deployment's own certificate, trusted for calls to its own origins."""
    make_report: Callable[[str, dict[str, Any], int], tuple[str, int]] | None = None
    """Make an administrative report for an org admin from a report's parameters, its period
    ending at the given epoch ms when it has no ``startTime``; (its item id, its rows)."""
    items: ItemAccess | None = None
    """The deployment's portal items (ExecuteNotebook, UpdateInsightsWorkbook …)."""
    notebooks: NotebookEngine | None = None
    """The node's notebook kernels (ExecuteNotebook)."""
    notebook_time_limit_s: float = 50 * 60.0
    data_dir: Path | None = None
    """The data directory (where runs keep what they made)."""
    public_url: str = ""
    """This deployment's public base URL (``https://host:port/arcgis``), for the links a run
    records."""


@dataclass(frozen=True)
class Builtin:
    """The one task of a built-in type that exists from the first start (ArcGIS's system
    tasks): it cannot be deleted, and no second one can be created."""

    title: str
    cron: str
    """The Quartz expression it starts with."""


class TaskType(ABC):
    """One kind of scheduled work (ExecuteNotebook, CleanGPJobs, …)."""

    deployment: Deployment = Deployment()
    """Set by ``Registry.bind`` on the server's instances."""
    builtin: ClassVar[Builtin | None] = None

    name: ClassVar[str]
    internal_name: ClassVar[str] = ""
    """The Administrator API's ``type`` constant (``CREATE_BACKUP_TASK_TYPE``), accepted as an
    alias of ``name`` because the official client echoes it back."""
    scopes: ClassVar[frozenset[Scope]] = frozenset({Scope.USER})
    """Where tasks of this type may be created: ``user`` (Sharing API), ``system`` (admin)."""
    privilege: ClassVar[str | None] = None
    """The privilege a task's owner needs for tasks of this type (ExecuteNotebook:
    ``premium:publisher:scheduleNotebooks``)."""
    needs_item: ClassVar[bool] = False
    """Tasks of this type run on a portal item: ``itemId`` is required (ExecuteNotebook…)."""
    item_types: ClassVar[tuple[str, ...]] = ()
    """The portal item types a task of this type may run on: when given, ``itemId`` must
    name an item of one of them that the task's owner may use."""
    needs_task_url: ClassVar[bool] = False
    """Tasks of this type call a service: ``taskURL`` is required (GPService)."""
    idempotent: ClassVar[bool] = False
    isolation: ClassVar[Isolation] = Isolation.THREAD
    time_limit_s: ClassVar[float | None] = None

    def validate(self, parameters: dict[str, Any]) -> dict[str, Any]:
        """Check (and normalise) a task's parameters; raise ``ValueError`` naming the problem."""
        return parameters

    def start(self) -> None:
        """Called once when the server starts, after ``Registry.bind`` (pre-start what runs
        need)."""
        return None

    def close(self) -> None:
        """Called once when the server stops, after the last run (release what ``start``
        took)."""
        return None

    @abstractmethod
    def execute(self, ctx: RunContext) -> Outcome:
        """Do the work of one run. Long work checks ``ctx.cancelled`` and returns early."""

    @classmethod
    def import_path(cls) -> str:
        """``module:QualName`` of the class, for making it anew in a child process."""
        return f"{cls.__module__}:{cls.__qualname__}"


def execute_in_child(type_path: str, context: dict[str, Any]) -> tuple[str, str, str]:
    """The entry point of a run in a child process: make the type anew from its class and
    execute it; ``(status, result, url)`` travel back to the server."""
    cls = load_object(type_path)
    if not (isinstance(cls, type) and issubclass(cls, TaskType)):
        raise TypeError(f"{type_path} is not a TaskType class")
    outcome = cls().execute(RunContext(**context))
    return str(outcome.status), outcome.result, outcome.url
