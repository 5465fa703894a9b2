"""Scheduled tasks: every rule of creating, changing, pausing, resuming, running and listing
them, for the API and for Python callers alike.

A call here enforces exactly what the HTTP API enforces: the task type and the scope it may be
created in, the privilege and the limits of its owner, the cron fields (and the once-a-minute
limit of user tasks), the dates, the parameters (secrets sealed: the store only ever sees
ciphertext). Creating, changing, pausing and resuming a task all end in a new
``next_fire_at`` computed from now, so a change takes effect from the next fire and resuming
never replays old fires.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import replace
from typing import Any, TypedDict, Unpack

from gistasks.cron import CronExpression, CronSyntaxError
from gistasks.engine import Engine
from gistasks.engine.planner import first_fire_ms, preview_fires, task_schedule
from gistasks.security.secretbox import SecretError
from gistasks.services.errors import (
    InvalidParameterError,
    MissingParameterError,
    NotFoundError,
    RefusedError,
)
from gistasks.services.limits import LimitService
from gistasks.services.users import privileges
from gistasks.store import Store, new_id
from gistasks.store.records import OverlapPolicy, RunRecord, Scope, TaskRecord, TaskState
from gistasks.store.tasks import SORT_COLUMNS
from gistasks.tasktypes import Registry, TaskType

CRON_FIELDS = ("minute", "hour", "dayOfMonth", "month", "dayOfWeek")
"""The cron fields of createTask, in order (ArcGIS names)."""
MIN_INTERVAL_S = 60
"""A user task fires at most once a minute (ArcGIS's limit); a system task may fire more."""
MAX_TITLE = 256
MAX_INT32 = 2**31 - 1
MAX_EPOCH_MS = 253_402_300_799_999
"""9999-12-31T23:59:59.999Z: the last moment a date may name."""
MAX_GRACE_S = 2_000_000
"""About 23 days: the column holds the grace in milliseconds in 32 bits."""
PREVIEW_FIRES = 5
"""How many upcoming fires a task shows (``nextStarts``)."""
SORT_FIELDS = SORT_COLUMNS


class TaskError(RefusedError):
    """A task operation that the state of things does not allow; ``reason`` says why."""

    def __init__(self, reason: str, operation: str = "change the task") -> None:
        super().__init__(operation, reason)


class TaskFields(TypedDict, total=False):
    """What a client sets on a task. On create, absent means the default; on update, keep.

    The schedule is either ``cron`` (the ArcGIS fields ``minute`` … ``dayOfWeek``, optionally
    ``second`` and ``year``; on update any subset, the rest kept) or ``cron_expression`` (a
    whole Quartz expression)."""

    type: str
    title: str
    item_id: str
    task_url: str
    parameters: str | Mapping[str, Any]
    cron: Mapping[str, str]
    cron_expression: str
    time_zone: str
    dst_gap: str
    dst_overlap: str
    start_date: int
    end_date: int
    max_occurrences: int
    overlap_policy: str
    misfire_grace_s: float
    active: bool


class TaskService:
    """Task operations over the store and the engine (the one clock, the wake-ups)."""

    def __init__(self, store: Store, engine: Engine, types: Registry,
                 limits: LimitService) -> None:
        self.store = store
        self.engine = engine
        self.types = types
        self.limits = limits

    # -- reading --------------------------------------------------------------------------------

    def find(self, task_id: str, scope: Scope, owner: str | None = None) -> TaskRecord:
        """The task ``task_id`` of ``scope`` (and of ``owner``, when given); NotFoundError for
        anything else, so that another user's task looks like no task at all."""
        task = self.store.tasks.get(task_id)
        if task is None or task.scope != scope or (owner is not None and task.owner != owner):
            raise NotFoundError(f"Task '{task_id}' was not found.")
        return task

    def page(self, *, scope: Scope, owner: str | None = None, item_id: str | None = None,
             active: bool | None = None, types: list[str] | None = None,
             sort_field: str = "created", descending: bool = False, offset: int = 0,
             limit: int | None = None) -> tuple[int, list[TaskRecord]]:
        """(number of matches, the tasks from ``offset``, at most ``limit``)."""
        if sort_field not in SORT_FIELDS:
            raise InvalidParameterError(
                "sortField", f"'sortField' must be one of {', '.join(SORT_FIELDS)}")
        return self.store.tasks.page(scope=scope, owner=owner, item_id=item_id, active=active,
                                     types=types, sort_field=sort_field,
                                     descending=descending, offset=offset, limit=limit)

    @staticmethod
    def upcoming(task: TaskRecord) -> list[int]:
        """The task's next fires (at most ``PREVIEW_FIRES``), epoch ms."""
        return preview_fires(task, PREVIEW_FIRES)

    def type_of(self, task: TaskRecord) -> TaskType | None:
        return self.types.get(task.type)

    # -- changing -------------------------------------------------------------------------------

    def create(self, *, scope: Scope | str, owner: str,
               **fields: Unpack[TaskFields]) -> TaskRecord:
        """Store a new task and schedule its first fire.

        Raises InvalidParameterError or MissingParameterError naming a bad or absent field,
        and TaskError when the task could not fire (never between its dates) or a limit or
        privilege forbids it."""
        scope = Scope(scope)
        task_type = self._type(fields.get("type"), scope)
        now = self.engine.now_ms()
        task_id = new_id()
        expr = self._schedule(fields, None, scope)
        draft = TaskRecord(
            id=task_id, scope=scope, owner=owner, type=task_type.name, title="", item_id=None,
            task_url=None, parameters="{}", cron_expression=expr.expression,
            time_zone=expr.timezone, dst_gap=expr.dst_gap, dst_overlap=expr.dst_overlap,
            start_date=None, end_date=None, max_occurrences=-1, occurrences=0,
            consecutive_failures=0, active=True, task_state=TaskState.ACTIVE,
            misfire_grace_ms=None, overlap_policy=OverlapPolicy.SKIP, next_fire_at=None,
            last_start=None, created=now, updated=now, generation=0)
        task = replace(draft, **self._columns(fields, task_type, None, now))
        active = fields.get("active", True)
        nxt = first_fire_ms(expr, now, task.start_date, task.end_date)
        if nxt is None:
            raise TaskError("the schedule never fires between its start and end dates",
                            "create the task")
        self._check_owner_may(task_type, owner, scope, "create the task")
        if active:
            self._check_room(task_type.name, owner, None, "create the task")
        task = replace(task, active=active, next_fire_at=nxt if active else None,
                       task_state=TaskState.ACTIVE if active else TaskState.PAUSED)
        self.store.tasks.insert(task)
        self.engine.schedule_changed(task.next_fire_at)
        return task

    def update(self, task_id: str, **fields: Unpack[TaskFields]) -> TaskRecord:
        """Change a task; a new schedule, dates or limits take effect from the next fire.
        ``active`` enables or disables it afterwards. A masked secret in ``parameters``
        keeps the stored one."""
        task = self._require(task_id)
        task_type = self._type(fields.get("type", task.type), task.scope)
        now = self.engine.now_ms()
        expr = self._schedule(fields, task, task.scope)
        changes = self._columns(fields, task_type, task, now)
        changes.update(type=task_type.name, cron_expression=expr.expression,
                       time_zone=expr.timezone, dst_gap=expr.dst_gap,
                       dst_overlap=expr.dst_overlap)
        candidate = replace(task, **changes)
        if candidate.type != task.type:
            self._check_owner_may(task_type, task.owner, task.scope, "update the task")
            if candidate.active:
                self._check_room(candidate.type, task.owner, task.id, "update the task")
        values: dict[str, Any] = dict(changes, updated=now)
        if candidate.active:
            remaining = (candidate.max_occurrences < 0
                         or candidate.occurrences < candidate.max_occurrences)
            nxt = first_fire_ms(expr, now, candidate.start_date, candidate.end_date)
            if nxt is None or not remaining:
                values.update(next_fire_at=None, active=False, task_state=TaskState.COMPLETED)
            else:
                values.update(next_fire_at=nxt, task_state=TaskState.ACTIVE)
        updated = self.store.tasks.update(task_id, **values)
        if updated is None:
            raise NotFoundError(f"Task '{task_id}' was not found.")
        self.engine.schedule_changed(updated.next_fire_at)
        active = fields.get("active")
        if active is True:
            return self.enable(task_id)
        if active is False:
            return self.disable(task_id)
        return updated

    def disable(self, task_id: str) -> TaskRecord:
        """Pause: no fire until enabled again."""
        self._require(task_id)
        updated = self.store.tasks.update(task_id, active=False, task_state=TaskState.PAUSED,
                                          next_fire_at=None, updated=self.engine.now_ms())
        if updated is None:
            raise NotFoundError(f"Task '{task_id}' was not found.")
        return updated

    def enable(self, task_id: str) -> TaskRecord:
        """Resume from now: the next fire after now, without a burst of the fires missed."""
        task = self._require(task_id)
        now = self.engine.now_ms()
        if not task.active:
            task_type = self.types.get(task.type)
            self._check_room(task.type, task.owner, task.id, "enable the task")
            if task_type is not None:
                self._check_owner_may(task_type, task.owner, task.scope, "enable the task")
        if task.max_occurrences >= 0 and task.occurrences >= task.max_occurrences:
            values: dict[str, Any] = dict(active=False, task_state=TaskState.COMPLETED,
                                          next_fire_at=None)
        else:
            nxt = first_fire_ms(task_schedule(task), now, task.start_date, task.end_date)
            values = dict(active=nxt is not None, next_fire_at=nxt, consecutive_failures=0,
                          task_state=TaskState.ACTIVE if nxt is not None
                          else TaskState.COMPLETED)
        updated = self.store.tasks.update(task_id, updated=now, **values)
        if updated is None:
            raise NotFoundError(f"Task '{task_id}' was not found.")
        self.engine.schedule_changed(updated.next_fire_at)
        return updated

    def delete(self, task_id: str) -> None:
        """Delete the task and all its runs."""
        if not self.store.tasks.delete(task_id):
            raise NotFoundError(f"Task '{task_id}' was not found.")

    def run_now(self, task_id: str) -> RunRecord:
        """Queue one run of the task now, outside its schedule (it does not count as a fire)."""
        self._require(task_id)
        now = self.engine.now_ms()
        run = self.store.runs.insert(task_id, now, now)
        if run is None:
            raise TaskError("a run for this instant already exists; try again",
                            "run the task")
        self.engine.wake()
        return run

    # -- rules ----------------------------------------------------------------------------------

    def _require(self, task_id: str) -> TaskRecord:
        task = self.store.tasks.get(task_id)
        if task is None:
            raise NotFoundError(f"Task '{task_id}' was not found.")
        return task

    def _type(self, name: str | None, scope: Scope) -> TaskType:
        """The task type allowed in ``scope`` that ``name`` (or its internal name) names."""
        if not name:
            raise MissingParameterError("type", "The task type is required.")
        task_type = self.types.resolve(name, scope)
        if task_type is None:
            raise InvalidParameterError("type", f"Task types on this server: "
                          f"{', '.join(self.types.names(scope))}.",
                          message=f"Invalid 'type' '{name}'")
        return task_type

    def _schedule(self, fields: TaskFields, current: TaskRecord | None,
                  scope: Scope) -> CronExpression:
        """The task's cron expression from ``cron_expression`` or the cron fields (the
        current task filling gaps on update), in its time zone; a user task may fire at most
        once a minute."""
        zone = fields.get("time_zone") or (current.time_zone if current else "UTC")
        gap = fields.get("dst_gap") or (current.dst_gap if current else "shift")
        overlap = fields.get("dst_overlap") or (current.dst_overlap if current else "earlier")
        try:
            if "cron_expression" in fields:
                expr = CronExpression(fields["cron_expression"], timezone=zone, dst_gap=gap,
                                      dst_overlap=overlap)
            else:
                expr = self._from_fields(fields.get("cron", {}), current, zone, gap, overlap)
        except CronSyntaxError as exc:
            raise InvalidParameterError(exc.field or "cronExpression", str(exc)) from None
        interval = expr.interval_seconds()
        if scope == Scope.USER and 0 < interval < MIN_INTERVAL_S:
            raise InvalidParameterError(
                "schedule", f"A task may fire at most once a minute; this one fires every "
                f"{interval} s.", message="Invalid schedule")
        return expr

    @staticmethod
    def _from_fields(given: Mapping[str, str], current: TaskRecord | None, zone: str,
                     gap: str, overlap: str) -> CronExpression:
        fields: dict[str, str] = dict(task_schedule(current).fields) if current else {}
        for name in (*CRON_FIELDS, "second", "year"):
            if given.get(name, "") != "":
                fields[name] = given[name]
            elif current is None and name in CRON_FIELDS:
                raise MissingParameterError(name, f"The cron field '{name}' is required.")
        return CronExpression.from_fields(
            second=fields.get("second", "0"), minute=fields["minute"], hour=fields["hour"],
            dayOfMonth=fields["dayOfMonth"], month=fields["month"],
            dayOfWeek=fields["dayOfWeek"], year=fields.get("year"), timezone=zone,
            dst_gap=gap, dst_overlap=overlap)

    def _columns(self, fields: TaskFields, task_type: TaskType, current: TaskRecord | None,
                 now: int) -> dict[str, Any]:
        """The columns ``fields`` set, each checked (the schedule aside)."""
        out: dict[str, Any] = {}
        if "title" in fields:
            out["title"] = fields["title"][:MAX_TITLE]
        if fields.get("item_id"):
            out["item_id"] = fields["item_id"]
        if fields.get("task_url"):
            out["task_url"] = fields["task_url"]
        if task_type.needs_item and not (out.get("item_id") or (current and current.item_id)):
            raise MissingParameterError(
                "itemId", f"A {task_type.name} task runs on an item: give its itemId.")
        if task_type.needs_task_url and not (out.get("task_url")
                                             or (current and current.task_url)):
            raise MissingParameterError(
                "taskURL", f"A {task_type.name} task calls a service: give its taskURL.")
        given = fields.get("parameters")
        if isinstance(given, str) and not given.strip():
            given = None  # a blank form field: none given
        if given is not None:
            out["parameters"] = self._parameters(given, task_type, current)
        elif current is None:
            out["parameters"] = self._parameters({}, task_type, None)
        if "max_occurrences" in fields:
            count = fields["max_occurrences"]
            if not -1 <= count <= MAX_INT32:
                raise InvalidParameterError("maxOccurrences",
                              f"'maxOccurrences' must be from -1 (unlimited) to {MAX_INT32}")
            out["max_occurrences"] = count
        out.update(self._dates(fields, current, now))
        if "overlap_policy" in fields:
            try:
                out["overlap_policy"] = OverlapPolicy(fields["overlap_policy"])
            except ValueError:
                raise InvalidParameterError("overlapPolicy",
                                            "'overlapPolicy' is skip or allow") from None
        if "misfire_grace_s" in fields:
            seconds = fields["misfire_grace_s"]
            if not (math.isfinite(seconds) and 0 <= seconds <= MAX_GRACE_S):
                raise InvalidParameterError(
                    "misfireGraceSeconds", f"'misfireGraceSeconds' must be a number of seconds "
                    f"from 0 to {MAX_GRACE_S}")
            out["misfire_grace_ms"] = int(seconds * 1000)
        return out

    @staticmethod
    def _dates(fields: TaskFields, current: TaskRecord | None, now: int) -> dict[str, int]:
        out: dict[str, int] = {}
        for key, name in (("start_date", "startDate"), ("end_date", "endDate")):
            if key in fields:
                value = fields[key]  # type: ignore[literal-required]
                if not 0 <= value <= MAX_EPOCH_MS:
                    raise InvalidParameterError(
                        name, f"'{name}' must be a time in epoch milliseconds")
                out[key] = value
        if "end_date" in out:
            end = out["end_date"]
            if end <= now:
                raise InvalidParameterError("endDate", "'endDate' is in the past")
            start = out.get("start_date", current.start_date if current else None)
            if start is not None and end <= start:
                raise InvalidParameterError("endDate", "'endDate' is before 'startDate'")
        return out

    def _parameters(self, given: str | Mapping[str, Any], task_type: TaskType,
                    current: TaskRecord | None) -> str:
        """The stored JSON of a task's parameters: an object, checked by its type, with every
        secret sealed (a mask keeps the secret stored at the same place)."""
        if isinstance(given, str):
            try:
                given = json.loads(given, parse_constant=_reject_constant)
            except ValueError:
                raise InvalidParameterError(
                    "parameters", "'parameters' must be a JSON object.") from None
        if not isinstance(given, Mapping):
            raise InvalidParameterError("parameters", "'parameters' must be a JSON object.")
        try:
            checked = task_type.validate(dict(given))
        except ValueError as exc:
            raise InvalidParameterError("parameters", str(exc)) from None
        previous = json.loads(current.parameters) if current and current.parameters else None
        try:
            sealed = self.engine.secrets.seal(checked, previous)
        except SecretError as exc:
            raise TaskError(str(exc), "create the task" if current is None
                            else "update the task") from None
        return json.dumps(sealed)

    def _check_owner_may(self, task_type: TaskType, owner: str, scope: Scope,
                         operation: str) -> None:
        """The owner of a user task must hold the privilege its type declares."""
        needed = task_type.privilege
        if scope != Scope.USER or needed is None:
            return
        user = self.store.users.get(owner)
        if user is None or needed not in privileges(user.role):
            raise TaskError(f"{owner} does not have the privilege to schedule "
                            f"{task_type.name} tasks ({needed})", operation)

    def _check_room(self, task_type: str, owner: str, exclude_id: str | None,
                    operation: str) -> None:
        reason = self.limits.room_for(task_type, owner, exclude_id)
        if reason is not None:
            raise TaskError(reason, operation)


def _reject_constant(constant: str) -> Any:
    raise ValueError(f"{constant} is not JSON")
