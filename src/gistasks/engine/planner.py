"""What happens when a task is due: which runs to record and the task's next state.

Pure logic over a task record and the time; the store calls it inside the claiming transaction.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache

from gistasks.cron import CronExpression
from gistasks.engine.settings import EngineSettings
from gistasks.store import new_id
from gistasks.store.records import (
    FirePlan,
    NewRun,
    OverlapPolicy,
    RunStatus,
    TaskRecord,
    TaskState,
)


@lru_cache(maxsize=8192)
def schedule_of(expression: str, time_zone: str, dst_gap: str,
                dst_overlap: str) -> CronExpression:
    """The (memoised) cron expression of a task."""
    return CronExpression(expression, timezone=time_zone, dst_gap=dst_gap,
                          dst_overlap=dst_overlap)


def task_schedule(task: TaskRecord) -> CronExpression:
    return schedule_of(task.cron_expression, task.time_zone, task.dst_gap, task.dst_overlap)


def next_fire_ms(expr: CronExpression, after_ms: int, end_ms: int | None) -> int | None:
    """The first fire strictly after ``after_ms``, or None past ``end_ms`` or the horizon."""
    nxt = expr.next_after_epoch(after_ms // 1000)
    if nxt is None:
        return None
    nxt_ms = nxt * 1000
    if end_ms is not None and nxt_ms > end_ms:
        return None
    return nxt_ms


def first_fire_ms(expr: CronExpression, now_ms: int, start_ms: int | None,
                  end_ms: int | None) -> int | None:
    """The first fire after now and not before ``start_ms`` (a start in the past is now)."""
    after = now_ms if start_ms is None or start_ms <= now_ms else start_ms - 1
    return next_fire_ms(expr, after, end_ms)


def preview_fires(task: TaskRecord, count: int) -> list[int]:
    """The task's next ``count`` fires from ``next_fire_at`` (epoch ms), within its end date
    and the occurrences it has left."""
    if task.max_occurrences >= 0:
        count = min(count, max(0, task.max_occurrences - task.occurrences))
    expr = task_schedule(task)
    out: list[int] = []
    t = task.next_fire_at
    while t is not None and len(out) < count:
        out.append(t)
        t = next_fire_ms(expr, t, task.end_date)
    return out


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def plan_fires(task: TaskRecord, now: int, busy: bool, settings: EngineSettings) -> FirePlan:
    """The runs to record for a due task and its new schedule state.

    * On time or late within the grace period: one run for the due fire.
    * Later than that (a misfire): the missed fires are coalesced into one run for the latest
      of them, which runs now, and one ``skipped`` run at the first missed fire records how
      many were missed and why.
    * While a previous run is still queued or executing and the overlap policy is ``skip``,
      the run is recorded as ``skipped`` with the reason.
    * ``maxOccurrences`` and ``endDate`` end the schedule exactly: ``completed``, inactive.
    """
    assert task.next_fire_at is not None
    due = task.next_fire_at
    expr = task_schedule(task)
    remaining = (task.max_occurrences - task.occurrences if task.max_occurrences >= 0
                 else settings.misfire_count_limit + 2)
    plan = FirePlan(last_start=task.last_start)
    if remaining <= 0:
        plan.next_fire_at, plan.task_state, plan.active = None, TaskState.COMPLETED, False
        return plan
    grace = settings.misfire_grace_ms if task.misfire_grace_ms is None else task.misfire_grace_ms
    fire_at, missed = due, 0
    if now - due > grace:
        while missed < settings.misfire_count_limit:
            nxt = next_fire_ms(expr, fire_at, task.end_date)
            if nxt is None or nxt > now:
                break
            fire_at, missed = nxt, missed + 1
    if missed and remaining >= 2:
        plan.runs.append(NewRun(
            new_id(), due, RunStatus.SKIPPED,
            f"misfire: {missed} fire(s) from {_iso(due)} were missed (the server was down or "
            f"overloaded); coalesced into the run for {_iso(fire_at)}",
        ))
    if busy and task.overlap_policy == OverlapPolicy.SKIP:
        plan.runs.append(NewRun(new_id(), fire_at, RunStatus.SKIPPED,
                                "overlap: the previous run was still queued or executing"))
    else:
        plan.runs.append(NewRun(new_id(), fire_at, RunStatus.SCHEDULED))
    plan.last_start = max(fire_at, now)  # recorded ahead (look-ahead), started at fire_at
    nxt = next_fire_ms(expr, max(fire_at, now if missed else fire_at), task.end_date)
    if nxt is None or len(plan.runs) >= remaining:
        plan.next_fire_at, plan.task_state, plan.active = None, TaskState.COMPLETED, False
    else:
        plan.next_fire_at, plan.task_state, plan.active = nxt, TaskState.ACTIVE, True
    return plan
