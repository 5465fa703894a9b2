"""The JSON shapes of tasks, runs and users, each declared once: a shape both renders its
source and describes itself in the OpenAPI document, so the two cannot drift apart."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from gistasks.api.params import EXTENSION
from gistasks.cron import CronExpression
from gistasks.engine.planner import task_schedule
from gistasks.services import Services
from gistasks.services.task_fields import CRON_FIELDS, shown
from gistasks.services.users import privileges
from gistasks.store.records import (
    FolderRecord,
    ItemRecord,
    OverlapPolicy,
    RunRecord,
    RunStatus,
    TaskRecord,
    TaskState,
    UserRecord,
)

S = TypeVar("S")
Json = dict[str, Any]

ORG_ID = "0123456789ABCDEF"
STR: Json = {"type": "string"}
INT: Json = {"type": "integer"}
BOOL: Json = {"type": "boolean"}
EPOCH_MS: Json = {"type": "integer", "description": "Epoch milliseconds (UTC)."}
EPOCH_MS_OR_NONE: Json = {"type": "integer",
                          "description": "Epoch milliseconds (UTC); -1 when there is none."}


def ref(name: str) -> Json:
    """A reference to the component schema ``name``."""
    return {"$ref": f"#/components/schemas/{name}"}


def obj(properties: Json, required: Sequence[str] = (), description: str = "") -> Json:
    """An object schema (extra properties allowed: answers may grow)."""
    schema: Json = {"type": "object", "properties": properties}
    if required:
        schema["required"] = list(required)
    if description:
        schema["description"] = description
    return schema


def ext(schema: Json, text: str = "") -> Json:
    """``schema`` marked as a gistasks extension."""
    return {**schema, "description": f"{text} {EXTENSION}".strip()}


@dataclass(frozen=True, slots=True)
class Out(Generic[S]):
    """One field of an answer: its name, its schema, and how it is read from the source."""

    name: str
    schema: Json
    get: Callable[[S], Any]


class Shape(Generic[S]):
    """An answer made of fields, every one of them always present."""

    def __init__(self, name: str, description: str, fields: Sequence[Out[S]]) -> None:
        self.name = name
        self.description = description
        self.fields = tuple(fields)

    def __call__(self, source: S) -> Json:
        return {f.name: f.get(source) for f in self.fields}

    def schema(self) -> Json:
        return obj({f.name: f.schema for f in self.fields}, [f.name for f in self.fields],
                   self.description)


# -- tasks ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TaskView:
    """A task with what its answer shows beside the record."""

    task: TaskRecord
    schedule: CronExpression
    upcoming: list[int]
    internal_type: str
    owner_id: str

    @classmethod
    def of(cls, task: TaskRecord, services: Services) -> TaskView:
        task_type = services.tasks.type_of(task)
        return cls(task, task_schedule(task), services.tasks.upcoming(task),
                   task_type.internal_name if task_type and task_type.internal_name
                   else task.type, services.users.id_of(task.owner))


def _parameters(view: TaskView) -> Any:
    return shown(view.task.parameters)


def _grace(view: TaskView) -> int | None:
    grace = view.task.misfire_grace_ms
    return None if grace is None else grace // 1000


TASK_FIELDS: tuple[Out[TaskView], ...] = (
    Out("id", STR, lambda v: v.task.id),
    Out("itemId", STR, lambda v: v.task.item_id or ""),
    Out("type", STR, lambda v: v.task.type),
    Out("title", STR, lambda v: v.task.title),
    Out("userId", {"type": "string", "description": "The owner's user name."},
        lambda v: v.task.owner),
    Out("cronSchedule", obj({k: STR for k in CRON_FIELDS}, CRON_FIELDS,
                            "The five cron fields, normalised."),
        lambda v: {k: v.schedule.fields[k] for k in CRON_FIELDS}),
    Out("cronExpression", ext(STR, "The 6-field Quartz expression."),
        lambda v: v.schedule.expression),
    Out("runIntervalSeconds", {"type": "integer", "description": "Interval the schedule "
                               "implies; 0 if irregular."},
        lambda v: v.schedule.interval_seconds()),
    Out("lastStart", EPOCH_MS_OR_NONE, lambda v: v.task.last_start or -1),
    Out("nextStart", EPOCH_MS_OR_NONE, lambda v: v.task.next_fire_at or -1),
    Out("maxOccurrences", {"type": "integer", "minimum": -1},
        lambda v: v.task.max_occurrences),
    Out("occurrences", ext(INT, "How many times the task has fired."),
        lambda v: v.task.occurrences),
    Out("parameters", {"type": "object", "description": "Secrets masked."}, _parameters),
    Out("taskURL", STR, lambda v: v.task.task_url or ""),
    Out("created", EPOCH_MS, lambda v: v.task.created),
    Out("updated", EPOCH_MS, lambda v: v.task.updated),
    Out("startDate", EPOCH_MS, lambda v: v.task.start_date or v.task.created),
    Out("endDate", EPOCH_MS_OR_NONE, lambda v: v.task.end_date or -1),
    Out("active", BOOL, lambda v: v.task.active),
    Out("taskState", {"type": "string", "enum": list(TaskState)},
        lambda v: v.task.task_state),
    Out("stateReason", ext(STR, "Why the server disabled the task (its item was deleted); "
                           "empty otherwise."), lambda v: v.task.state_reason),
    Out("timeZone", ext(STR, "IANA zone of the cron fields."), lambda v: v.task.time_zone),
    Out("scheduleDescription", ext(STR, "The schedule in words."),
        lambda v: v.schedule.describe()),
    Out("nextStarts", ext({"type": "array", "items": INT}, "The next (at most 5) fires, "
                          "epoch ms."), lambda v: v.upcoming),
    Out("overlapPolicy", ext({"type": "string", "enum": list(OverlapPolicy)}),
        lambda v: v.task.overlap_policy),
    Out("misfireGraceSeconds", ext({"type": ["integer", "null"]},
                                   "null: the server's default grace."), _grace),
)
TASK: Shape[TaskView] = Shape("Task", "A user task (Sharing API).", TASK_FIELDS)
ADMIN_TASK: Shape[TaskView] = Shape(
    "AdminTask", "A system task (Administrator API), with the Sharing API's fields the "
    "official client reads too.", (
    *TASK_FIELDS[:2],
    Out("type", {"type": "string", "description": "The type's internal constant "
                 "(`PING_TASK_TYPE`, ...), else its name."}, lambda v: v.internal_type),
    *TASK_FIELDS[3:],
    Out("taskId", {"type": "string", "description": "The same as `id`."},
        lambda v: v.task.id),
    Out("taskType", {"type": "string", "description": "The type name (`Ping`, ...)."},
        lambda v: v.task.type),
    Out("taskTitle", {"type": "string", "description": "The same as `title`."},
        lambda v: v.task.title),
    Out("ownerId", {"type": "string", "description": "The id (32 hex digits) of the creating "
                    "administrator."}, lambda v: v.owner_id),
    Out("orgId", STR, lambda v: ORG_ID),
    Out("generation", {"type": "integer", "description": "Revision counter of the task."},
        lambda v: v.task.generation),
))


# -- runs -------------------------------------------------------------------------------------


RUN_FIELDS: tuple[Out[RunRecord], ...] = (
    Out("runId", STR, lambda r: r.id),
    Out("taskId", ext(STR), lambda r: r.task_id),
    Out("status", {"type": "string", "enum": list(RunStatus)}, lambda r: r.status),
    Out("result", STR, lambda r: r.result),
    Out("url", STR, lambda r: r.url),
    Out("created", EPOCH_MS, lambda r: r.created),
    Out("modified", EPOCH_MS, lambda r: r.modified),
    Out("started", ext(EPOCH_MS_OR_NONE, "When the run started."), lambda r: r.started or -1),
    Out("ended", ext(EPOCH_MS_OR_NONE, "When the run ended."), lambda r: r.ended or -1),
    Out("scheduledTime", ext(EPOCH_MS, "The fire time the run belongs to."),
        lambda r: r.scheduled_for),
    Out("node", ext(STR, "The node that ran it; empty before a node leased it."),
        lambda r: r.node or ""),
)
RUN: Shape[RunRecord] = Shape("Run", "A run of a user task.", RUN_FIELDS)
LATEST_RUNS = 20
"""How many runs a task's page shows."""


def latest_runs(services: Services, task: TaskRecord) -> dict[str, tuple[str, Any]]:
    """The section of a task's page with its latest runs (the page only; the JSON of the
    task is ArcGIS's), each row linking under ``runs``."""
    keep = ("runId", "status", "scheduledTime", "started", "ended", "result", "node")
    rows = [{k: v for k, v in RUN(r).items() if k in keep}
            for r in services.runs.of(task)[:LATEST_RUNS]]
    return {"Latest runs": ("runs", rows)}


@dataclass(frozen=True, slots=True)
class AdminRunView:
    run: RunRecord
    task: Json
    """The run's task, as ``ADMIN_TASK`` shows it."""


def _of_run(get: Callable[[RunRecord], Any]) -> Callable[[AdminRunView], Any]:
    return lambda view: get(view.run)


ADMIN_RUN: Shape[AdminRunView] = Shape("AdminRun", "A run of a system task, with its task.", (
    *(Out(f.name, f.schema, _of_run(f.get)) for f in RUN_FIELDS),
    Out("task", ref("AdminTask"), lambda v: v.task),
))


# -- users ------------------------------------------------------------------------------------


USER: Shape[UserRecord] = Shape(
    "User", "A portal user, as `community/self` and `community/users/<u>` show it.", (
    Out("username", STR, lambda u: u.username),
    Out("fullName", STR, lambda u: u.full_name),
    Out("email", STR, lambda u: u.email),
    Out("role", {"type": "string", "enum": ["org_admin", "org_publisher", "org_user"]},
        lambda u: u.role),
    Out("privileges", {"type": "array", "items": STR}, lambda u: list(privileges(u.role))),
    Out("orgId", STR, lambda u: ORG_ID),
    Out("disabled", BOOL, lambda u: u.disabled),
    Out("level", STR, lambda u: "2"),
    Out("userType", STR, lambda u: "creatorUT"),
    Out("created", EPOCH_MS, lambda u: u.created),
    Out("modified", EPOCH_MS, lambda u: u.modified),
    Out("id", {"type": "string", "description": "32 hex digits."}, lambda u: u.id),
    Out("access", STR, lambda u: "org"),
    Out("provider", STR, lambda u: "arcgis"),
    Out("groups", {"type": "array"}, lambda u: []),
    Out("tags", {"type": "array", "items": STR}, lambda u: []),
    Out("culture", STR, lambda u: "en"),
))

# -- items ------------------------------------------------------------------------------------


def _list(text: str) -> list[str]:
    return list(json.loads(text or "[]"))


NULL: Json = {"type": "null"}
ITEM: Shape[ItemRecord] = Shape("Item", "A portal item, with the fields the official client "
                                "reads.", (
    Out("id", {"type": "string", "description": "32 hex digits."}, lambda i: i.id),
    Out("owner", STR, lambda i: i.owner),
    Out("orgId", STR, lambda i: ORG_ID),
    Out("created", EPOCH_MS, lambda i: i.created),
    Out("modified", EPOCH_MS, lambda i: i.modified),
    Out("guid", NULL, lambda i: None),
    Out("name", {"type": ["string", "null"], "description": "The file's name."},
        lambda i: i.name or None),
    Out("title", STR, lambda i: i.title),
    Out("type", STR, lambda i: i.type),
    Out("typeKeywords", {"type": "array", "items": STR}, lambda i: _list(i.type_keywords)),
    Out("description", {"type": ["string", "null"]}, lambda i: i.description or None),
    Out("tags", {"type": "array", "items": STR}, lambda i: _list(i.tags)),
    Out("snippet", {"type": ["string", "null"]}, lambda i: i.snippet or None),
    Out("thumbnail", NULL, lambda i: None),
    Out("documentation", NULL, lambda i: None),
    Out("extent", {"type": "array"}, lambda i: []),
    Out("categories", {"type": "array"}, lambda i: []),
    Out("spatialReference", NULL, lambda i: None),
    Out("accessInformation", NULL, lambda i: None),
    Out("licenseInfo", NULL, lambda i: None),
    Out("culture", STR, lambda i: "en-us"),
    Out("properties", NULL, lambda i: None),
    Out("advancedSettings", NULL, lambda i: None),
    Out("url", {"type": ["string", "null"]}, lambda i: i.url or None),
    Out("proxyFilter", NULL, lambda i: None),
    Out("access", STR, lambda i: i.access),
    Out("size", {"type": "integer", "description": "Bytes of its data."}, lambda i: i.size),
    Out("subInfo", INT, lambda i: 0),
    Out("appCategories", {"type": "array"}, lambda i: []),
    Out("industries", {"type": "array"}, lambda i: []),
    Out("languages", {"type": "array"}, lambda i: []),
    Out("largeThumbnail", NULL, lambda i: None),
    Out("banner", NULL, lambda i: None),
    Out("screenshots", {"type": "array"}, lambda i: []),
    Out("listed", BOOL, lambda i: False),
    Out("ownerFolder", {"type": ["string", "null"], "description": "The folder's id; null: "
                        "the root."}, lambda i: i.folder_id),
    Out("protected", BOOL, lambda i: False),
    Out("numComments", INT, lambda i: 0),
    Out("numRatings", INT, lambda i: 0),
    Out("avgRating", INT, lambda i: 0),
    Out("numViews", INT, lambda i: 0),
    Out("itemControl", STR, lambda i: "admin"),
    Out("scoreCompleteness", INT, lambda i: 0),
    Out("groupDesignations", NULL, lambda i: None),
    Out("lastViewed", INT, lambda i: -1),
    Out("contentOrigin", STR, lambda i: "self"),
))
FOLDER: Shape[FolderRecord] = Shape("Folder", "A user's folder.", (
    Out("username", STR, lambda f: f.owner),
    Out("id", STR, lambda f: f.id),
    Out("title", STR, lambda f: f.title),
    Out("created", EPOCH_MS, lambda f: f.created),
))

SHAPES: tuple[Shape[Any], ...] = (TASK, ADMIN_TASK, RUN, ADMIN_RUN, USER, ITEM, FOLDER)
"""Every declared shape, for the document's components."""


def user_json(user: UserRecord) -> Json:
    return USER(user)


def task_json(task: TaskRecord, services: Services) -> Json:
    return TASK(TaskView.of(task, services))


def admin_task_json(task: TaskRecord, services: Services) -> Json:
    return ADMIN_TASK(TaskView.of(task, services))
