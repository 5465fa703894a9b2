"""Task types the tests use: failing, crashing, slow. A test engine registers them in its own
registry (``tests.support.engines``); a test server loads them through
``GISTASKS_TASKTYPES`` (``SPEC``, ``API_SPEC``)."""

from __future__ import annotations

import os
import time

from gistasks.store.records import RunStatus, Scope
from gistasks.tasktypes import Isolation, Outcome, RunContext, TaskType

BOTH = frozenset({Scope.USER, Scope.SYSTEM})


class AlwaysFails(TaskType):
    name = "TestAlwaysFails"
    scopes = BOTH

    def execute(self, ctx: RunContext) -> Outcome:
        return Outcome(RunStatus.FAILED, "failed on purpose")


class Raises(TaskType):
    name = "TestRaises"
    scopes = BOTH

    def execute(self, ctx: RunContext) -> Outcome:
        raise RuntimeError("boom")


class CrashesChild(TaskType):
    name = "TestCrashesChild"
    scopes = BOTH
    isolation = Isolation.PROCESS

    def execute(self, ctx: RunContext) -> Outcome:
        os._exit(3)


class SleepsInChild(TaskType):
    name = "TestSleepsInChild"
    scopes = BOTH
    isolation = Isolation.PROCESS
    time_limit_s = 4.0

    def execute(self, ctx: RunContext) -> Outcome:
        time.sleep(float(ctx.parameters.get("seconds", 0)))
        return Outcome(RunStatus.SUCCEEDED, f"slept in pid {os.getpid()}")


class SleepsInThread(TaskType):
    name = "TestSleepsInThread"
    scopes = BOTH

    def execute(self, ctx: RunContext) -> Outcome:
        deadline = time.monotonic() + float(ctx.parameters.get("seconds", 0))
        while time.monotonic() < deadline:
            if ctx.cancelled.wait(0.02):
                return Outcome(RunStatus.FAILED, "noticed the cancellation")
        return Outcome(RunStatus.SUCCEEDED, "slept")


class ShowsPasscode(TaskType):
    """Reports the passcode it was given: proves executors get secrets in clear."""

    name = "TestShowsPasscode"
    scopes = BOTH

    def execute(self, ctx: RunContext) -> Outcome:
        return Outcome(RunStatus.SUCCEEDED, f"passcode={ctx.parameters.get('passcode')}")


class NotebookStandIn(TaskType):
    """Carries the ExecuteNotebook name, privilege and item requirement so that the notebook
    limits (enforced by type name) and the scheduling privilege can be tested before
    notebooks run."""

    name = "ExecuteNotebook"
    privilege = "premium:publisher:scheduleNotebooks"
    needs_item = True

    def execute(self, ctx: RunContext) -> Outcome:
        return Outcome(RunStatus.SUCCEEDED, "not a notebook")


ENGINE_TYPES: tuple[type[TaskType], ...] = (AlwaysFails, Raises, CrashesChild, SleepsInChild,
                                            SleepsInThread, ShowsPasscode)
"""The test types an engine test registers."""
SPEC = ",".join(f"tests.support.tasktypes:{c.__name__}" for c in ENGINE_TYPES)
"""``GISTASKS_TASKTYPES`` for a server that runs the engine test types."""
API_SPEC = ",".join(f"tests.support.tasktypes:{c.__name__}" for c in
                    (ShowsPasscode, NotebookStandIn))
"""``GISTASKS_TASKTYPES`` for the API tests."""
