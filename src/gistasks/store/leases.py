"""Execution: leasing queued runs to a node, heartbeats, outcomes, and recovery of the runs of
nodes that died or shut down.

A leased run is ``executing`` with an owner ``node`` and a ``lease_until``; the node renews the
lease while it works. An outcome from a node that lost its lease is ignored, so a run is
finished once.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import Any

from sqlalchemy import Connection, bindparam, func, select, update

from gistasks.store._db import Database
from gistasks.store.records import ClaimedRun, RunOutcome, RunRecord, RunStatus, TaskState
from gistasks.store.schema import runs, tasks

BATCH = 500
"""Ids per ``IN (...)`` list: well under every driver's parameter limit."""

_FINISH = update(runs).where(runs.c.id == bindparam("b_id")).values(
    status=bindparam("b_status"), result=bindparam("b_result"), url=bindparam("b_url"),
    ended=bindparam("b_now"), modified=bindparam("b_now"), lease_until=None,
    started=func.coalesce(bindparam("b_started"), runs.c.started))


class LeaseStore:
    """The queue of runs and the leases on them."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def claim(self, node: str, now: int, lease_ms: int, limit: int,
              horizon: int | None = None) -> list[ClaimedRun]:
        """Lease up to ``limit`` queued runs due by ``horizon`` (default ``now``) to ``node``.

        They become ``executing``, with a lease until ``now + lease_ms``.
        """
        with self.db.write() as conn:
            rows = conn.execute(
                select(runs.c.id)
                .where(runs.c.status == RunStatus.SCHEDULED,
                       runs.c.scheduled_for <= (now if horizon is None else horizon))
                .order_by(runs.c.scheduled_for)
                .limit(limit)
                .with_for_update(skip_locked=True)
            ).scalars().all()
            if not rows:
                return []
            conn.execute(
                update(runs).where(runs.c.id.in_(rows)).values(
                    status=RunStatus.EXECUTING, node=node, lease_until=now + lease_ms,
                    started=self.db.greatest(runs.c.scheduled_for, now),
                    attempt=runs.c.attempt + 1, modified=now,
                )
            )
            joined = conn.execute(
                select(runs, tasks.c.type.label("t_type"), tasks.c.parameters.label("t_params"),
                       tasks.c.item_id.label("t_item"), tasks.c.task_url.label("t_url"),
                       tasks.c.owner.label("t_owner"))
                .join(tasks, tasks.c.id == runs.c.task_id)
                .where(runs.c.id.in_(rows))
                .order_by(runs.c.scheduled_for)
            ).all()
        width = len(runs.columns)
        return [ClaimedRun(RunRecord.from_row(r[:width]), *r[width:]) for r in joined]

    def heartbeat(self, node: str, run_ids: Collection[str], lease_until: int) -> None:
        """Extend the leases ``node`` holds on ``run_ids``."""
        ids = list(run_ids)
        for k in range(0, len(ids), BATCH):
            with self.db.write() as conn:
                conn.execute(
                    update(runs).where(runs.c.id.in_(ids[k:k + BATCH]), runs.c.node == node,
                                       runs.c.status == RunStatus.EXECUTING)
                    .values(lease_until=lease_until)
                )

    def finish(self, node: str, outcomes: Iterable[RunOutcome], now: int,
               fail_threshold: int) -> int:
        """Record the outcomes of runs ``node`` executed, in one transaction.

        A run whose lease was lost meanwhile (recovered by another node) is left alone.
        Consecutive failures are counted per task in completion order; a task reaching
        ``fail_threshold`` stops with state ``failed``. Returns the number of runs recorded.
        """
        batch = list(outcomes)
        if not batch:
            return 0
        with self.db.write() as conn:
            live: dict[str, str] = {}
            ids = [o.run_id for o in batch]
            for k in range(0, len(ids), BATCH):
                live.update(conn.execute(
                    select(runs.c.id, runs.c.task_id).where(
                        runs.c.id.in_(ids[k:k + BATCH]), runs.c.node == node,
                        runs.c.status == RunStatus.EXECUTING)
                ).all())
            done = [o for o in batch if o.run_id in live]
            if not done:
                return 0
            conn.execute(_FINISH, [
                {"b_id": o.run_id, "b_status": o.status, "b_result": o.result, "b_url": o.url,
                 "b_started": o.started, "b_now": now} for o in done])
            per_task: dict[str, list[RunStatus]] = {}
            for o in done:
                per_task.setdefault(live[o.run_id], []).append(o.status)
            _count_outcomes(conn, per_task, now, fail_threshold)
        return len(done)

    def recover_expired(self, now: int, idempotent_types: Collection[str],
                        fail_threshold: int) -> list[RunRecord]:
        """Finish runs whose lease expired (their node died): re-queue or fail them.

        Runs of idempotent task types go back to ``scheduled``; the others become ``failed``
        with the reason. Returns the runs as they were found.
        """
        with self.db.write() as conn:
            found = conn.execute(
                select(runs, tasks.c.type.label("t_type"))
                .join(tasks, tasks.c.id == runs.c.task_id)
                .where(runs.c.status == RunStatus.EXECUTING, runs.c.lease_until < now)
                .with_for_update(skip_locked=True, of=runs)
            ).all()
            width = len(runs.columns)
            out = []
            for row in found:
                record, task_type = RunRecord.from_row(row[:width]), row[width]
                out.append(record)
                if task_type in idempotent_types:
                    _requeue(conn, record.id, now, f"re-queued: node {record.node} lost")
                else:
                    _fail(conn, record.id, record.task_id, now, fail_threshold,
                          f"node lost: {record.node} stopped renewing its lease")
        return out

    def release(self, node: str, run_ids: Collection[str], now: int,
                idempotent_types: Collection[str], fail_threshold: int,
                started: bool = True) -> None:
        """Give back runs ``node`` could not finish before shutting down.

        Runs that never started (``started=False``) are re-queued; started ones are re-queued
        when their type is idempotent and failed with the reason otherwise.
        """
        if not run_ids:
            return
        with self.db.write() as conn:
            found = conn.execute(
                select(runs.c.id, runs.c.task_id, tasks.c.type)
                .join(tasks, tasks.c.id == runs.c.task_id)
                .where(runs.c.id.in_(list(run_ids)), runs.c.node == node,
                       runs.c.status == RunStatus.EXECUTING)
            ).all()
            for run_id, task_id, task_type in found:
                if not started or task_type in idempotent_types:
                    _requeue(conn, run_id, now, "re-queued: the server shut down during the run")
                else:
                    _fail(conn, run_id, task_id, now, fail_threshold,
                          "the server shut down before the run finished")


def _requeue(conn: Connection, run_id: str, now: int, reason: str) -> None:
    conn.execute(update(runs).where(runs.c.id == run_id).values(
        status=RunStatus.SCHEDULED, node=None, lease_until=None, modified=now, result=reason))


def _fail(conn: Connection, run_id: str, task_id: str, now: int, fail_threshold: int,
          reason: str) -> None:
    conn.execute(update(runs).where(runs.c.id == run_id).values(
        status=RunStatus.FAILED, lease_until=None, ended=now, modified=now, result=reason))
    _count_outcomes(conn, {task_id: [RunStatus.FAILED]}, now, fail_threshold)


def _count_outcomes(conn: Connection, per_task: dict[str, list[RunStatus]], now: int,
                    fail_threshold: int) -> None:
    """Apply outcomes (in completion order, per task) to the consecutive-failure counts."""
    reset: list[str] = []
    set_to: list[dict[str, Any]] = []
    add: list[dict[str, Any]] = []
    for task_id, statuses in per_task.items():
        relevant = [s for s in statuses if s in (RunStatus.SUCCEEDED, RunStatus.FAILED)]
        if not relevant:
            continue
        trailing = 0
        for status in reversed(relevant):
            if status != RunStatus.FAILED:
                break
            trailing += 1
        if trailing == 0:
            reset.append(task_id)
        elif trailing < len(relevant):
            set_to.append({"b_id": task_id, "b_n": trailing})
        else:
            add.append({"b_id": task_id, "b_n": trailing})
    for k in range(0, len(reset), BATCH):
        conn.execute(update(tasks).where(tasks.c.id.in_(reset[k:k + BATCH]),
                                         tasks.c.consecutive_failures != 0)
                     .values(consecutive_failures=0))
    if set_to:
        conn.execute(update(tasks).where(tasks.c.id == bindparam("b_id"))
                     .values(consecutive_failures=bindparam("b_n")), set_to)
    if add:
        conn.execute(update(tasks).where(tasks.c.id == bindparam("b_id"))
                     .values(consecutive_failures=tasks.c.consecutive_failures
                             + bindparam("b_n")), add)
    failing = [d["b_id"] for d in set_to + add]
    for k in range(0, len(failing), BATCH):
        conn.execute(update(tasks).where(
            tasks.c.id.in_(failing[k:k + BATCH]),
            tasks.c.consecutive_failures >= fail_threshold,
            tasks.c.task_state == TaskState.ACTIVE,
        ).values(task_state=TaskState.FAILED, active=False, next_fire_at=None, updated=now))
