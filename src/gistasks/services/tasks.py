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

import uuid
from dataclasses import dataclass, replace
from typing import Any, Unpack

from gistasks import jsonsafe
from gistasks.engine import Engine
from gistasks.engine.planner import first_fire_ms, next_fire_ms, preview_fires, task_schedule
from gistasks.security.secretbox import SECRET_WORDS, SecretError
from gistasks.services.auth import ORG_ADMIN
from gistasks.services.errors import (
    InvalidParameterError,
    MissingParameterError,
    NotFoundError,
    RefusedError,
)
from gistasks.services.limits import LimitService
from gistasks.services.task_fields import TaskFields, columns, schedule, stored_value
from gistasks.services.users import privileges
from gistasks.store import Store, new_id
from gistasks.store.records import OverlapPolicy, RunRecord, Scope, TaskRecord, TaskState
from gistasks.store.tasks import SORT_COLUMNS
from gistasks.tasktypes import Registry, TaskType

PREVIEW_FIRES = 5
"""How many upcoming fires a task shows (``nextStarts``)."""
SORT_FIELDS = SORT_COLUMNS
TASKS_LIMIT = "ScheduledTasksUserLimit"
MAX_TYPES = 64
"""Task types one list may filter on (each one is a parameter of the query)."""


@dataclass(frozen=True, slots=True)
class SchedulePreview:
    """A schedule as the schedule builder shows it."""

    expression: str
    time_zone: str
    description: str
    interval_seconds: int
    next_fires: list[int]


class TaskError(RefusedError):
    """A task operation that the state of things does not allow; ``reason`` says why."""

    def __init__(self, reason: str, operation: str = "change the task") -> None:
        super().__init__(operation, reason)


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
        if types is not None:
            types = list(dict.fromkeys(types))
            if len(types) > MAX_TYPES:
                raise InvalidParameterError("types", f"'types' may name at most {MAX_TYPES} "
                                            f"task types")
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

    def preview_schedule(self, cron: dict[str, str], time_zone: str, scope: Scope,
                         start_date: int | None = None, end_date: int | None = None,
                         count: int = PREVIEW_FIRES) -> SchedulePreview:
        """What a task with these cron fields would do: its Quartz expression, its English
        description and its next ``count`` fires (epoch ms, from now or ``start_date``),
        checked exactly as createTask checks them (InvalidParameterError naming the field)."""
        expr = schedule(TaskFields(cron=cron, time_zone=time_zone or "UTC"), None, scope)
        fires: list[int] = []
        t = first_fire_ms(expr, self.engine.now_ms(), start_date, end_date)
        while t is not None and len(fires) < count:
            fires.append(t)
            t = next_fire_ms(expr, t, end_date)
        return SchedulePreview(expr.expression, expr.timezone, expr.describe(),
                               expr.interval_seconds(), fires)

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
        if task_type.builtin is not None and self.store.tasks.count_of_type(task_type.name):
            raise TaskError(f"{task_type.builtin.title} ({task_type.name}) is built in and "
                            "exists already; there is only one", "create the task")
        now = self.engine.now_ms()
        task_id = new_id()
        expr = schedule(fields, None, scope)
        draft = TaskRecord(
            id=task_id, scope=scope, owner=owner, type=task_type.name, title="", item_id=None,
            task_url=None, parameters="{}", cron_expression=expr.expression,
            time_zone=expr.timezone, dst_gap=expr.dst_gap, dst_overlap=expr.dst_overlap,
            start_date=None, end_date=None, max_occurrences=-1, occurrences=0,
            consecutive_failures=0, active=True, task_state=TaskState.ACTIVE,
            misfire_grace_ms=None, overlap_policy=OverlapPolicy.SKIP, next_fire_at=None,
            last_start=None, created=now, updated=now, generation=0)
        task = replace(draft, **columns(fields, task_type, None, now, task_id,
                                        self.engine.secrets))
        active = fields.get("active", True)
        nxt = first_fire_ms(expr, now, task.start_date, task.end_date)
        if nxt is None:
            raise TaskError("the schedule never fires between its start and end dates",
                            "create the task")
        self._check_owner_may(task_type, owner, scope, "create the task")
        self._check_item(task_type, task.item_id, owner)
        self._check_quota(owner, scope)
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
        expr = schedule(fields, task, task.scope)
        changes = columns(fields, task_type, task, now, task.id, self.engine.secrets)
        changes.update(type=task_type.name, cron_expression=expr.expression,
                       time_zone=expr.timezone, dst_gap=expr.dst_gap,
                       dst_overlap=expr.dst_overlap)
        candidate = replace(task, **changes)
        if candidate.item_id != task.item_id or candidate.type != task.type:
            self._check_item(task_type, candidate.item_id, task.owner)
            changes["state_reason"] = ""
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
            if task_type is not None:
                self._check_item(task_type, task.item_id, task.owner, "enable the task")
            self._check_room(task.type, task.owner, task.id, "enable the task")
            if task_type is not None:
                self._check_owner_may(task_type, task.owner, task.scope, "enable the task")
        if task.max_occurrences >= 0 and task.occurrences >= task.max_occurrences:
            values: dict[str, Any] = dict(active=False, task_state=TaskState.COMPLETED,
                                          next_fire_at=None)
        else:
            nxt = first_fire_ms(task_schedule(task), now, task.start_date, task.end_date)
            values = dict(active=nxt is not None, next_fire_at=nxt, consecutive_failures=0,
                          state_reason="",
                          task_state=TaskState.ACTIVE if nxt is not None
                          else TaskState.COMPLETED)
        updated = self.store.tasks.update(task_id, updated=now, **values)
        if updated is None:
            raise NotFoundError(f"Task '{task_id}' was not found.")
        self.engine.schedule_changed(updated.next_fire_at)
        return updated

    def item_deleted(self, item_id: str, title: str) -> list[str]:
        """Disable the tasks that run on a deleted item, saying why; their ids."""
        changed = []
        for task_id in self.store.items.tasks_on(item_id):
            reason = f"Its item '{title}' ({item_id}) was deleted."
            if self.store.tasks.update(task_id, active=False, task_state=TaskState.PAUSED,
                                       next_fire_at=None, state_reason=reason,
                                       updated=self.engine.now_ms()) is not None:
                changed.append(task_id)
        return changed

    def delete(self, task_id: str) -> None:
        """Delete the task and all its runs; a built-in task cannot be deleted."""
        task = self._require(task_id)
        task_type = self.types.get(task.type)
        if task_type is not None and task_type.builtin is not None:
            raise TaskError(f"{task.title or task_type.builtin.title} is a built-in task and "
                            "cannot be deleted; disable it to stop it", "delete the task")
        if not self.store.tasks.delete(task_id):
            raise NotFoundError(f"Task '{task_id}' was not found.")

    def ensure_builtins(self, owner: str) -> list[TaskRecord]:
        """Create the built-in system tasks that do not exist yet (at every start: the first
        creates them), owned by ``owner``; returns those created."""
        created = []
        for task_type in self.types.builtins():
            builtin = task_type.builtin
            if builtin is None or self.store.tasks.count_of_type(task_type.name):
                continue
            created.append(self.create(scope=Scope.SYSTEM, owner=owner, type=task_type.name,
                                       title=builtin.title, item_id=str(uuid.uuid4()),
                                       cron_expression=builtin.cron))
        return created

    def upgrade_secrets(self) -> int:
        """Seal anew, bound to their task, the secrets stored before binding existed, and
        seal the secret values stored in clear before whole values were sealed; returns how
        many tasks changed. The server does this at start."""
        changed = 0
        for task_id, text in self.store.tasks.parameters_mentioning(SECRET_WORDS):
            stored = stored_value(text)
            if stored is None:
                continue
            try:
                resealed = jsonsafe.dumps(self.engine.secrets.reseal(stored, task_id))
            except SecretError:
                continue  # not openable here: left as it is, its runs say why
            if resealed != text:
                self.store.tasks.set_parameters(task_id, resealed)
                changed += 1
        return changed

    def run_now(self, task_id: str) -> RunRecord:
        """Queue one run of the task now, outside its schedule (it does not count as a fire);
        the task's run history stays within its bound."""
        now = self.engine.now_ms()
        task = self._require(task_id)
        run = self.store.runs.insert(task_id, now, now,
                                     keep=self.engine.history_limit(task))
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

    def _check_item(self, task_type: TaskType, item_id: str | None, owner: str,
                    operation: str = "") -> None:
        """A type that runs on items runs on an existing item of its kinds that the task's
        owner owns (or, an org admin, anybody's)."""
        if not task_type.item_types or not item_id:
            return
        item = self.store.items.get(item_id)
        user = self.store.users.get(owner)
        if item is None or user is None or (item.owner != owner and user.role != ORG_ADMIN):
            detail = f"Item '{item_id}' does not exist or {owner} may not use it."
            if operation:
                raise TaskError(detail, operation)
            raise InvalidParameterError("itemId", detail)
        if item.type not in task_type.item_types:
            raise InvalidParameterError(
                "itemId", f"Item '{item_id}' is a {item.type} item; a {task_type.name} task "
                f"runs on a {' or '.join(task_type.item_types)} item.")

    def _check_quota(self, owner: str, scope: Scope) -> None:
        """A user may own at most ``ScheduledTasksUserLimit`` user tasks, active or not."""
        limit = self.limits.current()[TASKS_LIMIT]
        if scope == Scope.USER and limit >= 0 and self.store.tasks.count(scope, owner) >= limit:
            raise TaskError(f"{owner} already has {limit} tasks, the limit ({TASKS_LIMIT}); "
                            f"delete one first", "create the task")

    def _check_room(self, task_type: str, owner: str, exclude_id: str | None,
                    operation: str) -> None:
        reason = self.limits.room_for(task_type, owner, exclude_id)
        if reason is not None:
            raise TaskError(reason, operation)

