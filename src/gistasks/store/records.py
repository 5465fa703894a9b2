"""Typed records that flow from the store up to the engine, the services and the API, and the
states and policies they carry (as ``StrEnum``: they compare equal to the strings ArcGIS
shows, and the database stores)."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from enum import StrEnum
from typing import Any


class Scope(StrEnum):
    """Where a task lives: the Sharing API's user tasks or the Administrator API's."""

    USER = "user"
    SYSTEM = "system"


class RunStatus(StrEnum):
    """A run's status, as ArcGIS names them."""

    SCHEDULED = "scheduled"
    EXECUTING = "executing"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED = "skipped"
    SUBMITFAILED = "submitfailed"


MAX_RESULT_CHARS = 64 * 1024
"""A run's ``result`` (and ``url``) holds at most this many characters: an executor's longer
text is cut, a longer one sent by hand refused."""


def bounded(text: str, limit: int = MAX_RESULT_CHARS) -> str:
    """``text`` cut to ``limit`` characters, saying how much was cut."""
    if len(text) <= limit:
        return text
    note = f" … ({len(text) - limit + 64} more characters cut)"
    return text[:limit - 64] + note[:64]


ACTIVE_RUN_STATES = (RunStatus.SCHEDULED, RunStatus.EXECUTING)
"""A run in one of these is queued or executing: it keeps its task busy."""


class TaskState(StrEnum):
    """A task's ``taskState``."""

    ACTIVE = "active"
    PAUSED = "paused"
    COMPLETED = "completed"
    FAILED = "failed"


class OverlapPolicy(StrEnum):
    """What a fire does while the previous run of its task still runs."""

    SKIP = "skip"
    """Record the fire as a ``skipped`` run with the reason."""
    ALLOW = "allow"
    """Queue it: runs of the task may overlap."""


EnumColumns = tuple[tuple[int, type[StrEnum]], ...]


def _enum_columns(cls: type, enums: dict[str, type[StrEnum]]) -> EnumColumns:
    names = [f.name for f in fields(cls)]
    return tuple((names.index(name), enum) for name, enum in enums.items())


def _from_row(cls: Any, row: Any, enum_columns: EnumColumns) -> Any:
    """A record from a row whose columns are in table order (which is field order), with the
    state columns turned into their enums."""
    values = list(row)
    for index, enum in enum_columns:
        values[index] = enum(values[index])
    return cls(*values)


@dataclass(frozen=True, slots=True)
class TaskRecord:
    """One scheduled task, user (Sharing API) or system (admin API)."""

    id: str
    scope: Scope
    owner: str
    type: str
    title: str
    item_id: str | None
    task_url: str | None
    parameters: str
    cron_expression: str
    time_zone: str
    dst_gap: str
    dst_overlap: str
    start_date: int | None
    end_date: int | None
    max_occurrences: int
    occurrences: int
    consecutive_failures: int
    active: bool
    task_state: TaskState
    misfire_grace_ms: int | None
    overlap_policy: OverlapPolicy
    next_fire_at: int | None
    last_start: int | None
    created: int
    updated: int
    generation: int
    state_reason: str = ""
    """Why the task was disabled by the server (its item was deleted), "" otherwise."""

    @classmethod
    def from_row(cls, row: Any) -> TaskRecord:
        """From a row of ``select(tasks)``."""
        record: TaskRecord = _from_row(cls, row, _TASK_ENUMS)
        return record


_TASK_ENUMS = _enum_columns(TaskRecord, {"scope": Scope, "task_state": TaskState,
                                         "overlap_policy": OverlapPolicy})


@dataclass(frozen=True, slots=True)
class RunRecord:
    """One fire of a task (or a manual run), with its outcome."""

    id: str
    task_id: str
    scheduled_for: int
    status: RunStatus
    result: str
    url: str
    node: str | None
    lease_until: int | None
    attempt: int
    created: int
    started: int | None
    ended: int | None
    modified: int

    @classmethod
    def from_row(cls, row: Any) -> RunRecord:
        """From a row of ``select(runs)``."""
        record: RunRecord = _from_row(cls, row, _RUN_ENUMS)
        return record


_RUN_ENUMS = _enum_columns(RunRecord, {"status": RunStatus})


@dataclass(frozen=True, slots=True)
class NewRun:
    """A run the scheduler records for a fire: queued (``scheduled``) or ``skipped``."""

    id: str
    scheduled_for: int
    status: RunStatus
    result: str = ""


@dataclass(slots=True)
class FirePlan:
    """What one claim does to a due task: the runs to insert and the task's new state."""

    runs: list[NewRun] = field(default_factory=list)
    next_fire_at: int | None = None
    occurrences: int = 0
    last_start: int | None = None
    task_state: TaskState = TaskState.ACTIVE
    active: bool = True


@dataclass(frozen=True, slots=True)
class ClaimedRun:
    """A run a worker has leased, with what it needs to execute."""

    run: RunRecord
    task_type: str
    parameters: str
    item_id: str | None
    task_url: str | None
    owner: str


@dataclass(frozen=True, slots=True)
class RunOutcome:
    """How an execution ended, as the store records it: ``(run id, status, result, url,
    when it really started)``; ``started`` None keeps the claim's estimate."""

    run_id: str
    status: RunStatus
    result: str
    url: str
    started: int | None


@dataclass(frozen=True, slots=True)
class UserRecord:
    """A portal user. ``credentials_version`` grows with every password change or disabling,
    which revokes the tokens issued before."""

    username: str
    id: str
    """32 hex digits, as ArcGIS user ids (``ownerId``)."""
    full_name: str
    email: str
    role: str
    password_hash: str
    disabled: bool
    credentials_version: int
    created: int
    modified: int

    @classmethod
    def from_row(cls, row: Any) -> UserRecord:
        """From a row of ``select(users)`` (columns in table order, which is field order)."""
        return cls(*row)


@dataclass(frozen=True, slots=True)
class OAuthAppRecord:
    """A registered OAuth application (ArcGIS registers apps as items; here, as rows)."""

    client_id: str
    title: str
    app_type: str
    redirect_uris: tuple[str, ...]
    portal_redirects: bool
    """The app may also be redirected to the portal itself (the official client offers
    ``https://<portal host>`` first)."""
    item_id: str
    owner: str
    created: int
    modified: int


@dataclass(frozen=True, slots=True)
class SignInFailures:
    """Failed sign-ins counted for one account or one client address."""

    key: str
    failures: int
    window_start: int
    locked_until: int


@dataclass(frozen=True, slots=True)
class WebSessionRecord:
    """A browser session of the directory pages (the cookie's secret is not stored)."""

    id_hash: str
    username: str
    version: int
    """The user's ``credentials_version`` when the session began: a new password ends it."""
    created: int
    expires: int


@dataclass(frozen=True, slots=True)
class NodeRecord:
    """A node of the deployment as it last reported itself."""

    node: str
    host: str
    pid: int
    version: str
    started: int
    heartbeat: int
    stopped: int
    """When it stopped cleanly; 0 while it runs (or died without saying so)."""


class JobStatus(StrEnum):
    """A geoprocessing job's ``jobStatus``, as ArcGIS names them."""

    NEW = "esriJobNew"
    SUBMITTED = "esriJobSubmitted"
    WAITING = "esriJobWaiting"
    """Queued while its service runs as many jobs as it may at once."""
    EXECUTING = "esriJobExecuting"
    SUCCEEDED = "esriJobSucceeded"
    FAILED = "esriJobFailed"
    TIMED_OUT = "esriJobTimedOut"
    CANCELLING = "esriJobCancelling"
    CANCELLED = "esriJobCancelled"

    @property
    def finished(self) -> bool:
        return self in FINISHED_JOB_STATES


QUEUED_JOB_STATES = (JobStatus.NEW, JobStatus.SUBMITTED, JobStatus.WAITING)
RUNNING_JOB_STATES = (JobStatus.EXECUTING, JobStatus.CANCELLING)
FINISHED_JOB_STATES = (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.TIMED_OUT,
                       JobStatus.CANCELLED)


class JobMode(StrEnum):
    """How a job was asked for: ``submitJob`` (asynchronous) or ``execute`` (the caller
    waits)."""

    ASYNC = "async"
    SYNC = "sync"


@dataclass(frozen=True, slots=True)
class JobRecord:
    """One geoprocessing job. ``inputs`` and ``results`` are JSON objects by parameter name
    (normal JSON values), ``messages`` a JSON list of ``{"type", "description"}``,
    ``progress`` a JSON object or None, ``files`` the local sources of file inputs (never
    shown)."""

    id: str
    service: str
    tool: str
    owner: str | None
    status: JobStatus
    mode: JobMode
    inputs: str
    files: str
    results: str | None
    messages: str
    progress: str | None
    node: str | None
    machine: str | None
    lease_until: int | None
    submitted: int
    started: int | None
    ended: int | None
    modified: int
    deleted: bool

    @classmethod
    def from_row(cls, row: Any) -> JobRecord:
        """From a row of ``select(gp_jobs)``."""
        record: JobRecord = _from_row(cls, row, _JOB_ENUMS)
        return record


_JOB_ENUMS = _enum_columns(JobRecord, {"status": JobStatus, "mode": JobMode})


@dataclass(frozen=True, slots=True)
class JobOutcome:
    """How a job's execution ended, as the node that ran it records it."""

    job_id: str
    status: JobStatus
    results: str | None
    messages: str
    ended: int


class ItemStatus(StrEnum):
    """What ``items/<id>/status`` answers: an item being uploaded in parts (``partial``), being
    made (``processing``: a report), done or failed. Most items have none ("")."""

    NONE = ""
    PARTIAL = "partial"
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class FolderRecord:
    """One of a user's folders (the root folder is no row: an item's ``folder_id`` None)."""

    id: str
    owner: str
    title: str
    created: int


@dataclass(frozen=True, slots=True)
class ItemRecord:
    """A portal item. Its data is a file in its folder of the data directory (``data_kind``
    ``file``, named ``name``), a text (``text``), or nothing (a URL item). ``tags`` and
    ``type_keywords`` are JSON lists."""

    id: str
    owner: str
    folder_id: str | None
    type: str
    title: str
    name: str
    data_kind: str
    url: str
    tags: str
    type_keywords: str
    description: str
    snippet: str
    access: str
    size: int
    status: ItemStatus
    status_message: str
    created: int
    modified: int

    @classmethod
    def from_row(cls, row: Any) -> ItemRecord:
        """From a row of ``select(items)``."""
        record: ItemRecord = _from_row(cls, row, _ITEM_ENUMS)
        return record


_ITEM_ENUMS = _enum_columns(ItemRecord, {"status": ItemStatus})


@dataclass(frozen=True, slots=True)
class ActivityRecord:
    """One thing a user did that the activity report lists (signed in, added an item...)."""

    at: int
    username: str
    action: str
    target: str


@dataclass(frozen=True, slots=True)
class Term:
    """One term of an item search: ``field`` (``owner``, ``type``, ``title``, ``id``,
    ``tags``, ``typekeywords``, ``name``, ``access``, ``folder``; "" for any text field)
    holds ``value`` (without regard to case; ``exact``: the whole field, else a word or
    phrase inside it)."""

    field: str
    value: str
    exact: bool = False


@dataclass(frozen=True, slots=True)
class AllOf:
    parts: tuple[Query, ...]


@dataclass(frozen=True, slots=True)
class AnyOf:
    parts: tuple[Query, ...]


@dataclass(frozen=True, slots=True)
class NotOf:
    part: Query


Query = Term | AllOf | AnyOf | NotOf
"""An item search, as the content service parses the portal's ``q`` syntax."""


@dataclass(frozen=True, slots=True)
class NotebookJobRecord:
    """A notebook run asked for on demand (the Notebook Server's ``executeNotebook``):
    ``status`` is ``SUBMITTED``, ``EXECUTING``, ``COMPLETED`` or ``FAILED``."""

    id: str
    owner: str
    item_id: str
    status: str
    parameters: str
    result: str
    url: str
    node: str | None
    created: int
    started: int | None
    ended: int | None


@dataclass(frozen=True, slots=True)
class BackupStoreRecord:
    """A backup store: a directory (local or a mounted network file system) that holds
    backup files; exactly one is the default."""

    name: str
    root_dir: str
    is_default: bool
    settings: str
    created: int


@dataclass(frozen=True, slots=True)
class BackupRecord:
    """A complete backup in a store (``schedule_type`` MANUAL or SCHEDULED; a
    ``retention_date`` of -1 keeps it for ever)."""

    name: str
    store: str
    file: str
    description: str
    schedule_type: str
    retention_date: int
    start_time: int
    complete_time: int
    size: int
    created_by: str
    release: str
    schema_version: str


@dataclass(frozen=True, slots=True)
class AdminJobRecord:
    """An asynchronous operation of the Administrator API (``admin/jobs/<id>``): a backup or
    a restore; ``status`` is SUBMITTED, EXECUTING, COMPLETED or FAILED; ``stages`` and
    ``result`` are JSON text."""

    id: str
    operation: str
    operation_uri: str
    status: str
    username: str
    schedule_type: str
    backup_name: str
    store: str
    message: str
    stages: str
    result: str
    node: str | None
    start_time: int
    end_time: int
    updated: int
