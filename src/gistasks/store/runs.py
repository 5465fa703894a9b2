"""Runs: manual runs, history reads, edits by hand, deletion, and pruning of old history.
Leasing and finishing runs is in ``leases.py``; recording fires in ``fires.py``."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from sqlalchemy import Connection, bindparam, delete, select, update

from gistasks.store._db import Database, new_id
from gistasks.store.records import ACTIVE_RUN_STATES, RunRecord, RunStatus, TaskRecord
from gistasks.store.schema import runs, tasks

_BY_ID = select(runs).where(runs.c.id == bindparam("id"))


class RunStore:
    """Statements on the ``runs`` table outside firing and leasing."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def insert(self, task_id: str, scheduled_for: int, now: int,
               status: RunStatus = RunStatus.SCHEDULED, result: str = "",
               keep: int | None = None) -> RunRecord | None:
        """Queue one run of a task (a manual run); None if that fire time is already recorded.
        With ``keep``, the task's history is pruned to that many runs in the same
        transaction, as for scheduled fires."""
        record = RunRecord(id=new_id(), task_id=task_id, scheduled_for=scheduled_for,
                           status=status, result=result, url="", node=None, lease_until=None,
                           attempt=0, created=now, started=None, ended=None, modified=now)
        with self.db.write() as conn:
            if not self.db.insert_new(conn, runs, [asdict(record)], UNIQUE_FIRE):
                return None
            if keep is not None:
                prune(conn, task_id, keep)
        return record

    def get(self, run_id: str) -> RunRecord | None:
        row = self.db.one(_BY_ID, {"id": run_id})
        return None if row is None else RunRecord.from_row(row)

    def of_task(self, task_id: str) -> list[RunRecord]:
        """The runs of a task, newest first."""
        with self.db.read() as conn:
            rows = conn.execute(select(runs).where(runs.c.task_id == task_id)
                                .order_by(runs.c.scheduled_for.desc()))
            return [RunRecord.from_row(r) for r in rows]

    def recent(self, limit: int, owner: str | None = None) -> list[tuple[RunRecord, TaskRecord]]:
        """The ``limit`` runs modified last (of ``owner``'s tasks), with their tasks, newest
        first."""
        stmt = (select(*runs.c, *tasks.c).join(tasks, tasks.c.id == runs.c.task_id)
                .order_by(runs.c.modified.desc(), runs.c.id).limit(limit))
        if owner is not None:
            stmt = stmt.where(tasks.c.owner == owner)
        width = len(runs.c)
        with self.db.read() as conn:
            rows = conn.execute(stmt).all()
        return [(RunRecord.from_row(r[:width]), TaskRecord.from_row(r[width:])) for r in rows]

    def all(self) -> list[RunRecord]:
        """Every run, oldest fire first (tools and tests)."""
        with self.db.read() as conn:
            return [RunRecord.from_row(r)
                    for r in conn.execute(select(runs).order_by(runs.c.scheduled_for))]

    def update(self, run_id: str, **values: Any) -> RunRecord | None:
        """Change a run's columns; None if there is no such run."""
        with self.db.write() as conn:
            if conn.execute(update(runs).where(runs.c.id == run_id).values(**values)).rowcount \
                    == 0:
                return None
            row = conn.execute(select(runs).where(runs.c.id == run_id)).one()
        return RunRecord.from_row(row)

    def delete(self, run_id: str) -> bool:
        with self.db.write() as conn:
            return bool(conn.execute(delete(runs).where(runs.c.id == run_id)).rowcount)


UNIQUE_FIRE = ["task_id", "scheduled_for"]
"""A fire is a run unique on (task, fire time): inserting it twice does nothing."""


def prune(conn: Connection, task_id: str, keep: int) -> None:
    """Delete the finished runs of a task beyond its newest ``keep`` (in the caller's
    transaction: the history bound holds at every commit)."""
    newest = (
        select(runs.c.id).where(runs.c.task_id == task_id)
        .order_by(runs.c.scheduled_for.desc()).limit(keep)
    )
    conn.execute(
        delete(runs).where(
            runs.c.task_id == task_id,
            runs.c.status.not_in(ACTIVE_RUN_STATES),
            runs.c.id.not_in(newest.scalar_subquery()),
        )
    )
