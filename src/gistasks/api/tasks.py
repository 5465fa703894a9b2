"""What both task APIs (the Sharing API's user tasks and the Administrator API's system tasks)
take from a request: the task parameters, declared once, and their translation into the task
service's fields."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gistasks.api.deps import Call
from gistasks.api.params import (
    Boolean,
    EpochMs,
    Form,
    Integer,
    Json,
    Number,
    Param,
    Text,
)
from gistasks.services.task_fields import (
    CRON_FIELDS,
    MAX_GRACE_S,
    MAX_INT32,
    MAX_TITLE,
    TaskFields,
)
from gistasks.services.tasks import TaskService
from gistasks.store.records import OverlapPolicy, RunRecord, RunStatus, Scope, TaskRecord
from gistasks.tasktypes import Registry


@dataclass(frozen=True, slots=True)
class TaskTypeParam(Param[str]):
    """``type``, enumerating the task types this server allows in ``scope``."""

    scope: Scope = Scope.USER

    def parse(self, text: str) -> str:
        return text  # the task service resolves it, with the list of types in its error

    def schema(self, types: Registry) -> Json:
        names = types.names(self.scope)
        aliases = [t.internal_name for t in map(types.get, names) if t and t.internal_name]
        return {"type": "string", "enum": names + aliases, "description": self.description}


@dataclass(frozen=True, slots=True)
class NeededBy(Text):
    """A field some task types require (``itemId``, ``taskURL``): the document names them."""

    flag: str = ""
    scope: Scope = Scope.USER
    create: bool = True

    def describe(self, types: Registry) -> str:
        needing = [name for name in types.names(self.scope)
                   if getattr(types.get(name), self.flag, False)]
        if not needing:
            return f"{self.description} No task type on this server requires it."
        when = "" if self.create else " (kept from the task when left out)"
        return f"{self.description} Required for the types {', '.join(needing)}{when}."


CRON_SYNTAX = {"minute": "0-59 and `, - * /`", "hour": "0-23 and `, - * /`",
               "dayOfMonth": "1-31 and `, - * ? / L W`",
               "month": "1-12 or JAN-DEC and `, - * /`",
               "dayOfWeek": "1-7 (Sunday-Saturday, as ArcGIS numbers them) or SUN-SAT and "
                            "`, - * ? / L #`; a field that uses 0 is Unix numbering throughout "
                            "(0-6 Sunday-Saturday, 7 Sunday)"}
CRON_EXAMPLES = {"minute": "*/5", "hour": "*", "dayOfMonth": "*", "month": "*",
                 "dayOfWeek": "?"}

TITLE = Text("title", "Task title.", example="heartbeat", max_length=MAX_TITLE)
PARAMETERS = Text("parameters", "The type's parameters: a JSON object as text. Secrets in it "
                  "are stored encrypted and shown masked.", example="{}", json_text=True)
TASK_URL_ALIAS = Text("taskUrl", "Alias of `taskURL`, as the Python client spells it on "
                      "update.")
START_DATE = EpochMs("startDate", "First moment the task may fire, epoch ms (epoch seconds "
                     "are accepted too).", example=1700000000000)
END_DATE = EpochMs("endDate", "When the task stops, epoch ms; must be in the future and after "
                   "`startDate`.", example=4102444800000)
MAX_OCCURRENCES = Integer("maxOccurrences", "How many times the task fires; -1 for unlimited "
                          "(the default). 0 is refused: disable a task to keep it from "
                          "firing.", example=10, minimum=-1, maximum=MAX_INT32,
                          hint="unlimited")
IS_ACTIVE = Boolean("isActive", "Whether the task is active (`true`/`false`; `1`/`0` and the "
                    "Python client's `True`/`False` are accepted).", example=True)
TIME_ZONE = Text("timeZone", "IANA time zone the cron fields are read in (ArcGIS reads them in "
                 "UTC).", example="Europe/Berlin", default="UTC", extension=True)
OVERLAP_POLICY = Text("overlapPolicy", "What a fire does while the previous run still runs: "
                      "`skip` records a skipped run, `allow` starts another.", example="skip",
                      choices=tuple(OverlapPolicy), default=OverlapPolicy.SKIP, extension=True)
MISFIRE_GRACE = Number("misfireGraceSeconds", "How late a fire may start after downtime before "
                       "it is skipped, in seconds.", example=300, minimum=0, maximum=MAX_GRACE_S,
                       unit="seconds", extension=True)


@dataclass(frozen=True, slots=True)
class TaskParams:
    """The createTask / update parameters of one scope, for creating or changing."""

    type: TaskTypeParam
    item_id: NeededBy
    task_url: NeededBy
    cron: tuple[Text, ...]

    @classmethod
    def of(cls, scope: Scope, create: bool) -> TaskParams:
        minimum = ("once a minute at most (ArcGIS's limit)" if scope == Scope.USER
                   else "as often as every second")
        when = "Required." if create else "Optional; the current value stays when left out."
        return cls(
            type=TaskTypeParam(
                "type", "The task type: one of the types this server allows here (its "
                "registry, entry points included); a type's internal constant "
                "(`PING_TASK_TYPE`) names it too." + ("" if create else
                                                      " Defaults to the current type."),
                create, "Ping", scope=scope),
            item_id=NeededBy("itemId", "The portal item the task works on.", example="item-a",
                             flag="needs_item", scope=scope, create=create),
            task_url=NeededBy("taskURL", "URL of the service the task calls (GPService "
                              "tasks).", example="https://host/server/rest/services/Tools/"
                              "GPServer/Task", flag="needs_task_url", scope=scope,
                              create=create),
            cron=tuple(Text(name, f"Quartz cron field: {CRON_SYNTAX[name]}. Evaluated in UTC "
                            f"unless `timeZone` says otherwise; the schedule may fire "
                            f"{minimum}. {when}", create, CRON_EXAMPLES[name])
                       for name in CRON_FIELDS),
        )

    @property
    def all(self) -> tuple[Param[Any], ...]:
        return (self.type, TITLE, PARAMETERS, self.item_id, self.task_url, TASK_URL_ALIAS,
                *self.cron, START_DATE, END_DATE, MAX_OCCURRENCES, IS_ACTIVE, TIME_ZONE,
                OVERLAP_POLICY, MISFIRE_GRACE)

    def fields(self, form: Form) -> TaskFields:
        """The task service's fields for what the request sets (absent: not set)."""
        out = TaskFields()
        if form.given(self.type):
            out["type"] = form.text(self.type)
        title = form.exact(TITLE)
        if title is not None:
            out["title"] = title
        if form.given(PARAMETERS):
            out["parameters"] = form.text(PARAMETERS)
        if form.given(self.item_id):
            out["item_id"] = form.text(self.item_id)
        url = form.text(self.task_url) or form.text(TASK_URL_ALIAS)
        if url:
            out["task_url"] = url
        out["cron"] = {p.name: form.text(p) for p in self.cron if form.given(p)}
        for key, param in (("start_date", START_DATE), ("end_date", END_DATE),
                           ("max_occurrences", MAX_OCCURRENCES)):
            value = form.get(param)
            if value is not None:
                out[key] = value  # type: ignore[literal-required]
        active = form.get(IS_ACTIVE)
        if active is not None:
            out["active"] = active
        if form.given(TIME_ZONE):
            out["time_zone"] = form.text(TIME_ZONE)
        if form.given(OVERLAP_POLICY):
            out["overlap_policy"] = form.text(OVERLAP_POLICY)
        grace = form.get(MISFIRE_GRACE)
        if grace is not None:
            out["misfire_grace_s"] = grace
        return out


USER_CREATE, USER_UPDATE = TaskParams.of(Scope.USER, True), TaskParams.of(Scope.USER, False)
SYSTEM_CREATE = TaskParams.of(Scope.SYSTEM, True)
SYSTEM_UPDATE = TaskParams.of(Scope.SYSTEM, False)

@dataclass(frozen=True, slots=True)
class TaskOperation:
    """An operation on a task that both task APIs have and that answers with the task's id."""

    name: str
    summary: str
    description: str
    apply: Callable[[TaskService, str], object]


TASK_OPERATIONS = (
    TaskOperation("delete", "Delete a task", "Deletes the task and its runs.",
                  TaskService.delete),
    TaskOperation("enable", "Enable a task", "`taskState` active, `active` true; the next "
                  "fire is the first after now.", TaskService.enable),
    TaskOperation("disable", "Disable a task", "`taskState` paused, `active` false.",
                  TaskService.disable),
)


RUN_STATUS = Text("status", "The run's new status.", True, "succeeded",
                  choices=tuple(RunStatus))
RUN_RESULT = Text("result", "The run's result text; the current one stays when left out.",
                  example="done")
RUN_RESULTS = Text("results", "Alias of `result` (the official client's admin class sends "
                   "it).")
RUN_EDIT = (RUN_STATUS, RUN_RESULT, RUN_RESULTS)


def edit_run(c: Call, task: TaskRecord, run_id: str) -> RunRecord:
    """A run update of either API: ``status``, and ``result`` (or ``results``)."""
    run = c.services.runs.find(task, run_id)
    result = c.form.exact(RUN_RESULT)
    return c.services.runs.edit(run, c.form.text(RUN_STATUS),
                                c.form.exact(RUN_RESULTS) if result is None else result)
