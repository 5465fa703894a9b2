"""What the dashboard shows: the fires of the next hours, the latest runs with their
lateness, the tasks in trouble, the GP job queue, the nodes' heartbeats.

An org admin sees the whole deployment; anyone else sees their own tasks, runs and jobs (and
no nodes). Every list is bounded: a deployment with 100,000 tasks answers as fast as one
with ten.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from gistasks.engine.planner import next_fire_ms, task_schedule
from gistasks.services.auth import ORG_ADMIN
from gistasks.store import Store
from gistasks.store.records import JobStatus, NodeRecord, RunRecord, TaskRecord, UserRecord

HORIZON_MS = 24 * 3600 * 1000
"""How far ahead the timeline looks."""
MAX_FIRES = 500
"""Fires on the timeline, at most (the soonest)."""
MAX_TASKS_ON_TIMELINE = 200
MAX_FIRES_PER_TASK = 96
MAX_RUNS = 30
MAX_TROUBLED = 30
NODE_MEMORY_MS = 24 * 3600 * 1000
"""Nodes that have not beaten for this long are forgotten."""
NODE_SILENT_MS = 60_000
"""A node that has not beaten for this long is shown as silent (its beat is every 15 s)."""


@dataclass(frozen=True, slots=True)
class Fire:
    at: int
    task: TaskRecord


@dataclass(frozen=True, slots=True)
class RecentRun:
    run: RunRecord
    task: TaskRecord

    @property
    def lateness_ms(self) -> int | None:
        """How long after its fire time the run started (None before it started)."""
        return None if self.run.started is None else max(0, self.run.started -
                                                         self.run.scheduled_for)


@dataclass(frozen=True, slots=True)
class NodeView:
    node: NodeRecord
    state: str
    """``running``, ``silent`` (no heartbeat for a minute) or ``stopped``."""


@dataclass(frozen=True, slots=True)
class Overview:
    now: int
    horizon: int
    everyone: bool
    """True for an org admin: the whole deployment; else the viewer's own."""
    fires: list[Fire]
    runs: list[RecentRun]
    troubled: list[TaskRecord]
    jobs: dict[JobStatus, int]
    nodes: list[NodeView]


class DashboardService:
    """The dashboard's figures, read from the store in a few bounded queries."""

    def __init__(self, store: Store, now_ms: Callable[[], int]) -> None:
        self.store = store
        self.now_ms = now_ms

    def overview(self, viewer: UserRecord) -> Overview:
        everyone = viewer.role == ORG_ADMIN
        owner = None if everyone else viewer.username
        now = self.now_ms()
        horizon = now + HORIZON_MS
        fires = self.upcoming(now, horizon, owner)
        runs = [RecentRun(r, t) for r, t in self.store.runs.recent(MAX_RUNS, owner)]
        nodes = []
        if everyone:
            for n in self.store.nodes.all(now - NODE_MEMORY_MS):
                state = ("stopped" if n.stopped else
                         "silent" if now - n.heartbeat > NODE_SILENT_MS else "running")
                nodes.append(NodeView(n, state))
        return Overview(now, horizon, everyone, fires, runs,
                        self.store.tasks.troubled(MAX_TROUBLED, owner),
                        self.store.jobs.counts(owner), nodes)

    def upcoming(self, now: int, until: int, owner: str | None) -> list[Fire]:
        """The fires between ``now`` and ``until``, soonest first, at most
        :data:`MAX_FIRES`, within each task's end date and occurrences left."""
        out: list[Fire] = []
        for task in self.store.tasks.firing_before(until, MAX_TASKS_ON_TIMELINE, owner):
            left = (MAX_FIRES_PER_TASK if task.max_occurrences < 0 else
                    min(MAX_FIRES_PER_TASK, task.max_occurrences - task.occurrences))
            expr = task_schedule(task)
            t = task.next_fire_at
            while t is not None and t <= until and left > 0:
                if t >= now - 60_000:
                    out.append(Fire(t, task))
                    left -= 1
                t = next_fire_ms(expr, t, task.end_date)
        out.sort(key=lambda f: (f.at, f.task.id))
        return out[:MAX_FIRES]
