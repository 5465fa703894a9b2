"""Task operations for the API and the CLI: plain Python, no HTTP.

Creating, changing, pausing and resuming a task all end in a new ``next_fire_at`` computed from
now, so a change takes effect from the next fire and resuming never replays old fires.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from gistasks.cron import CronExpression
from gistasks.engine.engine import Engine
from gistasks.engine.limits import LimitError, check_active_room
from gistasks.engine.planner import first_fire_ms, task_schedule
from gistasks.secretbox import SecretError
from gistasks.store import RunRecord, TaskRecord, new_id
from gistasks.users import privileges


class TaskError(ValueError):
    """A task operation that cannot be done; the message says why."""


class TaskService:
    """Task operations. Secrets in parameters are sealed here (the store only ever sees
    ciphertext) and the ArcGIS limits and privileges are enforced here."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.store = engine.store

    def _seal(self, parameters: dict[str, Any], previous: str | None = None) -> str:
        try:
            sealed = self.engine.secrets.seal(parameters,
                                              json.loads(previous) if previous else None)
        except SecretError as exc:
            raise TaskError(str(exc)) from None
        return json.dumps(sealed)

    def _check_owner_may(self, task_type: str, owner: str, scope: str) -> None:
        """The owner of a user task must hold the privilege its type declares."""
        implementation = self.engine.types.get(task_type)
        needed = implementation.privilege if implementation is not None else None
        if scope != "user" or needed is None:
            return
        user = self.store.get_user(owner)
        if user is None or needed not in privileges(user.role):
            raise TaskError(f"{owner} does not have the privilege to schedule {task_type} "
                            f"tasks ({needed})")

    def _check_room(self, task_type: str, owner: str, exclude_id: str | None = None) -> None:
        try:
            check_active_room(self.store, task_type, owner, exclude_id)
        except LimitError as exc:
            raise TaskError(str(exc)) from None

    def create(self, *, scope: str, owner: str, type: str, cron_expression: str,
               title: str = "", item_id: str | None = None, task_url: str | None = None,
               parameters: dict[str, Any] | None = None, time_zone: str = "UTC",
               dst_gap: str = "shift", dst_overlap: str = "earlier",
               start_date: int | None = None, end_date: int | None = None,
               max_occurrences: int = -1, overlap_policy: str = "skip",
               misfire_grace_ms: int | None = None, active: bool = True) -> TaskRecord:
        """Store a new task and schedule its first fire; raises TaskError if it never fires."""
        expr = CronExpression(cron_expression, timezone=time_zone, dst_gap=dst_gap,
                              dst_overlap=dst_overlap)
        if max_occurrences < -1:
            raise TaskError("maxOccurrences must be -1 (unlimited) or more")
        if overlap_policy not in ("skip", "allow"):
            raise TaskError("overlap policy must be skip or allow")
        now = self.engine.now_ms()
        nxt = first_fire_ms(expr, now, start_date, end_date)
        if nxt is None:
            raise TaskError("the schedule never fires between its start and end dates")
        self._check_owner_may(type, owner, scope)
        if active:
            self._check_room(type, owner)
        task = TaskRecord(
            id=new_id(), scope=scope, owner=owner, type=type, title=title, item_id=item_id,
            task_url=task_url, parameters=self._seal(parameters or {}),
            cron_expression=expr.expression, time_zone=expr.timezone, dst_gap=dst_gap,
            dst_overlap=dst_overlap, start_date=start_date, end_date=end_date,
            max_occurrences=max_occurrences, occurrences=0, consecutive_failures=0,
            active=active, task_state="active" if active else "paused",
            misfire_grace_ms=misfire_grace_ms, overlap_policy=overlap_policy,
            next_fire_at=nxt if active else None, last_start=None, created=now, updated=now,
            generation=0,
        )
        self.store.insert_task(task)
        self.engine.schedule_changed(task.next_fire_at)
        return task

    def _require(self, task_id: str) -> TaskRecord:
        task = self.store.get_task(task_id)
        if task is None:
            raise TaskError(f"task {task_id} does not exist")
        return task

    def update(self, task_id: str, **changes: Any) -> TaskRecord:
        """Change a task; a new schedule, dates or limits take effect from the next fire.

        ``parameters`` is a dict; a masked secret in it keeps the stored one."""
        task = self._require(task_id)
        if isinstance(changes.get("parameters"), dict):
            changes["parameters"] = self._seal(changes["parameters"], task.parameters)
        candidate = replace(task, **changes)
        if candidate.type != task.type:
            self._check_owner_may(candidate.type, task.owner, task.scope)
            if candidate.active:
                self._check_room(candidate.type, task.owner, task.id)
        expr = task_schedule(candidate)
        now = self.engine.now_ms()
        values = dict(changes, updated=now, cron_expression=expr.expression)
        if candidate.active:
            remaining = (candidate.max_occurrences < 0
                         or candidate.occurrences < candidate.max_occurrences)
            nxt = first_fire_ms(expr, now, candidate.start_date, candidate.end_date)
            if nxt is None or not remaining:
                values.update(next_fire_at=None, active=False, task_state="completed")
            else:
                values.update(next_fire_at=nxt, task_state="active")
        updated = self.store.update_task(task_id, **values)
        assert updated is not None
        self.engine.schedule_changed(updated.next_fire_at)
        return updated

    def disable(self, task_id: str) -> TaskRecord:
        """Pause: no fire until enabled again."""
        self._require(task_id)
        now = self.engine.now_ms()
        updated = self.store.update_task(task_id, active=False, task_state="paused",
                                         next_fire_at=None, updated=now)
        assert updated is not None
        return updated

    def enable(self, task_id: str) -> TaskRecord:
        """Resume from now: the next fire after now, without a burst of the fires missed."""
        task = self._require(task_id)
        now = self.engine.now_ms()
        if not task.active:
            self._check_room(task.type, task.owner, task.id)
        if task.max_occurrences >= 0 and task.occurrences >= task.max_occurrences:
            updated = self.store.update_task(task_id, active=False, task_state="completed",
                                             next_fire_at=None, updated=now)
        else:
            nxt = first_fire_ms(task_schedule(task), now, task.start_date, task.end_date)
            updated = self.store.update_task(
                task_id, active=nxt is not None, next_fire_at=nxt, consecutive_failures=0,
                task_state="active" if nxt is not None else "completed", updated=now)
        assert updated is not None
        self.engine.schedule_changed(updated.next_fire_at)
        return updated

    def delete(self, task_id: str) -> None:
        if not self.store.delete_task(task_id):
            raise TaskError(f"task {task_id} does not exist")

    def edit_run(self, run_id: str, status: str, result: str | None) -> None:
        """Set a run's status and result by hand, stamped with the engine's clock (the
        database's in a cluster, like every other time the engine records)."""
        self.store.update_run(run_id, status=status, result=result,
                              modified=self.engine.now_ms())

    def run_now(self, task_id: str) -> RunRecord:
        """Queue one run of the task now, outside its schedule (it does not count as a fire)."""
        self._require(task_id)
        now = self.engine.now_ms()
        run = self.store.insert_run(task_id, now, now)
        if run is None:
            raise TaskError("a run for this instant already exists; try again")
        self.engine.wake()
        return run
