"""``Ping``: a task that only records that the scheduler fired it.

Useful to watch the scheduler itself (a heartbeat task whose run history shows every fire and
its lateness) and as the no-op type of the scheduler benchmark. Allowed as a user task and
as a system task. Idempotent, runs in-process.
"""

from __future__ import annotations

import time

from gistasks.store.records import RunStatus, Scope
from gistasks.tasktypes.base import Outcome, RunContext, TaskType


class Ping(TaskType):
    name = "Ping"
    internal_name = "PING_TASK_TYPE"
    scopes = frozenset({Scope.USER, Scope.SYSTEM})
    idempotent = True

    def execute(self, ctx: RunContext) -> Outcome:
        lateness = int(time.time() * 1000) - ctx.scheduled_for
        return Outcome(RunStatus.SUCCEEDED, f"pong ({lateness} ms after the scheduled time)")
