"""Recording fires: due tasks become run rows, in one short transaction per batch.

For each active task with ``next_fire_at`` due (locked with ``SKIP LOCKED`` on PostgreSQL, so
other nodes take other tasks), a planner decides the runs to insert and the task's new
schedule state; runs are inserted with ``ON CONFLICT DO NOTHING`` on (task, fire time), so a
fire is never recorded twice, and ``occurrences`` grows by the rows actually inserted.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import bindparam, select, update

from gistasks.store._db import Database
from gistasks.store.records import ACTIVE_RUN_STATES, FirePlan, RunStatus, TaskRecord
from gistasks.store.runs import UNIQUE_FIRE, prune
from gistasks.store.schema import runs, tasks

Planner = Callable[[TaskRecord, int, bool], FirePlan]
"""(due task, now in ms, whether a run of it is still queued or executing) -> what to do."""

_ADVANCE = update(tasks).where(tasks.c.id == bindparam("b_id")).values(
    next_fire_at=bindparam("b_next"), occurrences=bindparam("b_occ"),
    last_start=bindparam("b_last"), task_state=bindparam("b_state"),
    active=bindparam("b_active"),
)


class FireStore:
    """The claiming transaction of the firing loop."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def claim_due(self, now: int, limit: int, plan: Planner,
                  history_limit: Callable[[TaskRecord], int],
                  horizon: int | None = None) -> list[TaskRecord]:
        """Record the fires of up to ``limit`` tasks due by ``horizon`` (default ``now``; a
        later horizon records fires ahead of time, to be started on time by the dispatcher).

        Run history beyond ``history_limit(task)`` is pruned in the same transaction. Returns
        the tasks that were due.
        """
        with self.db.write() as conn:
            due_stmt = (
                select(tasks)
                .where(tasks.c.active.is_(True),
                       tasks.c.next_fire_at <= (now if horizon is None else horizon))
                .order_by(tasks.c.next_fire_at)
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
            due = [TaskRecord.from_row(r) for r in conn.execute(due_stmt)]
            if not due:
                return []
            ids = [t.id for t in due]
            busy = set(conn.execute(
                select(runs.c.task_id).where(
                    runs.c.task_id.in_(ids), runs.c.status.in_(ACTIVE_RUN_STATES)
                ).distinct()
            ).scalars())
            plans = [(t, plan(t, now, t.id in busy)) for t in due]
            new_rows = [
                {"id": r.id, "task_id": t.id, "scheduled_for": r.scheduled_for,
                 "status": r.status, "result": r.result, "url": "", "node": None,
                 "lease_until": None, "attempt": 0, "created": now, "started": None,
                 "ended": None if r.status == RunStatus.SCHEDULED else now, "modified": now}
                for t, p in plans for r in p.runs
            ]
            inserted = set(self.db.insert_new(conn, runs, new_rows, UNIQUE_FIRE)
                           if new_rows else ())
            conn.execute(_ADVANCE, [
                {"b_id": t.id, "b_next": p.next_fire_at,
                 "b_occ": t.occurrences + sum(1 for r in p.runs if r.id in inserted),
                 "b_last": p.last_start, "b_state": p.task_state, "b_active": p.active}
                for t, p in plans
            ])
            for t, p in plans:
                keep = history_limit(t)
                if p.runs and t.occurrences + len(p.runs) > keep:
                    prune(conn, t.id, keep)
        return due
