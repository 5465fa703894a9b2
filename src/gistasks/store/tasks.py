"""Tasks: insert, read, page, count, change and delete. Firing is in ``fires.py``."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import asdict
from typing import Any

from sqlalchemy import bindparam, delete, func, insert, or_, select, update

from gistasks.store._db import Database
from gistasks.store.records import Scope, TaskRecord
from gistasks.store.schema import runs, tasks

SORT_COLUMNS = ("created", "updated", "title", "type")
"""The columns a page of tasks can be sorted by."""

_INSERT = insert(tasks)
_BY_ID = select(tasks).where(tasks.c.id == bindparam("id"))


class TaskStore:
    """Every statement on the ``tasks`` table outside firing."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def insert(self, task: TaskRecord) -> None:
        with self.db.write() as conn:
            conn.execute(_INSERT, asdict(task))

    def insert_many(self, records: Sequence[TaskRecord]) -> None:
        """Insert many tasks in one transaction (bulk loads and benchmarks)."""
        if records:
            with self.db.write() as conn:
                conn.execute(_INSERT, [asdict(r) for r in records])

    def get(self, task_id: str) -> TaskRecord | None:
        row = self.db.one(_BY_ID, {"id": task_id})
        return None if row is None else TaskRecord.from_row(row)

    def all(self, scope: Scope | None = None, owner: str | None = None) -> list[TaskRecord]:
        """Every task (of ``scope``, of ``owner``), in creation order."""
        stmt = select(tasks).order_by(tasks.c.created, tasks.c.id)
        if scope is not None:
            stmt = stmt.where(tasks.c.scope == scope)
        if owner is not None:
            stmt = stmt.where(tasks.c.owner == owner)
        with self.db.read() as conn:
            return [TaskRecord.from_row(r) for r in conn.execute(stmt)]

    def firing_before(self, until: int, limit: int,
                      owner: str | None = None) -> list[TaskRecord]:
        """The active tasks (of ``owner``) whose next fire is at or before ``until``, soonest
        first, at most ``limit``."""
        stmt = (select(tasks).where(tasks.c.active, tasks.c.next_fire_at.is_not(None),
                                    tasks.c.next_fire_at <= until)
                .order_by(tasks.c.next_fire_at, tasks.c.id).limit(limit))
        if owner is not None:
            stmt = stmt.where(tasks.c.owner == owner)
        with self.db.read() as conn:
            return [TaskRecord.from_row(r) for r in conn.execute(stmt)]

    def troubled(self, limit: int, owner: str | None = None) -> list[TaskRecord]:
        """The tasks (of ``owner``) that failed their last run or are not active (paused,
        completed, failed), changed last first, at most ``limit``."""
        stmt = (select(tasks).where(or_(tasks.c.consecutive_failures > 0,
                                        tasks.c.task_state != "active"))
                .order_by(tasks.c.updated.desc(), tasks.c.id).limit(limit))
        if owner is not None:
            stmt = stmt.where(tasks.c.owner == owner)
        with self.db.read() as conn:
            return [TaskRecord.from_row(r) for r in conn.execute(stmt)]

    def count(self, scope: Scope | None = None, owner: str | None = None) -> int:
        """How many tasks there are (of ``scope``, of ``owner``)."""
        stmt = select(func.count()).select_from(tasks)
        if scope is not None:
            stmt = stmt.where(tasks.c.scope == scope)
        if owner is not None:
            stmt = stmt.where(tasks.c.owner == owner)
        with self.db.read() as conn:
            return int(conn.execute(stmt).scalar_one())

    def page(self, *, scope: Scope, owner: str | None = None, item_id: str | None = None,
             active: bool | None = None, types: Collection[str] | None = None,
             sort_field: str = "created", descending: bool = False, offset: int = 0,
             limit: int | None = None) -> tuple[int, list[TaskRecord]]:
        """(number of matching tasks, the page of them from ``offset``), sorted by
        ``sort_field`` (one of ``SORT_COLUMNS``; ties in creation order)."""
        where = [tasks.c.scope == scope]
        if owner is not None:
            where.append(tasks.c.owner == owner)
        if item_id is not None:
            where.append(tasks.c.item_id == item_id)
        if active is not None:
            where.append(tasks.c.active.is_(active))
        if types is not None:
            where.append(tasks.c.type.in_(list(types)))
        column = tasks.c[sort_field]
        order = [column.desc() if descending else column.asc()]
        if sort_field != "created":
            order.append(tasks.c.created.desc() if descending else tasks.c.created.asc())
        order.append(tasks.c.id.desc() if descending else tasks.c.id.asc())
        stmt = select(tasks).where(*where).order_by(*order).offset(offset)
        if limit is not None:
            stmt = stmt.limit(limit)
        with self.db.read() as conn:
            total = int(conn.execute(
                select(func.count()).select_from(tasks).where(*where)).scalar_one())
            return total, [TaskRecord.from_row(r) for r in conn.execute(stmt)]

    def count_of_type(self, task_type: str) -> int:
        """How many tasks of ``task_type`` there are."""
        with self.db.read() as conn:
            return int(conn.execute(select(func.count()).select_from(tasks).where(
                tasks.c.type == task_type)).scalar_one())

    def count_active(self, task_type: str, owner: str | None = None,
                     exclude_id: str | None = None) -> int:
        """Active tasks of ``task_type`` (of ``owner`` if given), not counting ``exclude_id``."""
        stmt = select(func.count()).select_from(tasks).where(
            tasks.c.type == task_type, tasks.c.active.is_(True))
        if owner is not None:
            stmt = stmt.where(tasks.c.owner == owner)
        if exclude_id is not None:
            stmt = stmt.where(tasks.c.id != exclude_id)
        with self.db.read() as conn:
            return int(conn.execute(stmt).scalar_one())

    def update(self, task_id: str, **values: Any) -> TaskRecord | None:
        """Change columns of a task; returns the new record, or None if there is no such task."""
        with self.db.write() as conn:
            values["generation"] = tasks.c.generation + 1
            result = conn.execute(update(tasks).where(tasks.c.id == task_id).values(**values))
            if result.rowcount == 0:
                return None
            row = conn.execute(select(tasks).where(tasks.c.id == task_id)).one()
        return TaskRecord.from_row(row)

    def delete(self, task_id: str) -> bool:
        """Delete a task and all its runs; False if there was no such task."""
        with self.db.write() as conn:
            conn.execute(delete(runs).where(runs.c.task_id == task_id))
            return bool(conn.execute(delete(tasks).where(tasks.c.id == task_id)).rowcount)

    def parameters_mentioning(self, words: Collection[str]) -> list[tuple[str, str]]:
        """(id, parameters) of the tasks whose parameters' text holds one of ``words``
        (without regard to case)."""
        text = func.lower(tasks.c.parameters)
        with self.db.read() as conn:
            rows = conn.execute(select(tasks.c.id, tasks.c.parameters).where(
                or_(*(text.contains(w.lower(), autoescape=True) for w in words)))).all()
        return [(r.id, r.parameters) for r in rows]

    def set_parameters(self, task_id: str, parameters: str) -> None:
        """Replace a task's parameters text as it is (the task's revision is kept)."""
        with self.db.write() as conn:
            conn.execute(update(tasks).where(tasks.c.id == task_id)
                         .values(parameters=parameters))

    def earliest_fire(self) -> int | None:
        """The earliest ``next_fire_at`` of an active task, or None."""
        with self.db.read() as conn:
            value = conn.execute(
                select(func.min(tasks.c.next_fire_at)).where(tasks.c.active.is_(True))
            ).scalar_one()
        return None if value is None else int(value)
