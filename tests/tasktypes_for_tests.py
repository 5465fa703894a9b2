"""Task types the engine tests use: failing, crashing, slow. Loaded in child processes too,
through ``GISTASKS_TASKTYPES``."""

from __future__ import annotations

import os
import time

from gistasks.tasktypes import Outcome, RunContext, TaskType


class AlwaysFails(TaskType):
    name = "TestAlwaysFails"

    def execute(self, ctx: RunContext) -> Outcome:
        return Outcome("failed", "failed on purpose")


class Raises(TaskType):
    name = "TestRaises"

    def execute(self, ctx: RunContext) -> Outcome:
        raise RuntimeError("boom")


class CrashesChild(TaskType):
    name = "TestCrashesChild"
    isolation = "process"

    def execute(self, ctx: RunContext) -> Outcome:
        os._exit(3)


class SleepsInChild(TaskType):
    name = "TestSleepsInChild"
    isolation = "process"
    time_limit_s = 4.0

    def execute(self, ctx: RunContext) -> Outcome:
        time.sleep(float(ctx.parameters.get("seconds", 0)))
        return Outcome("succeeded", f"slept in pid {os.getpid()}")


class SleepsInThread(TaskType):
    name = "TestSleepsInThread"

    def execute(self, ctx: RunContext) -> Outcome:
        deadline = time.monotonic() + float(ctx.parameters.get("seconds", 0))
        while time.monotonic() < deadline:
            if ctx.cancelled.wait(0.02):
                return Outcome("failed", "noticed the cancellation")
        return Outcome("succeeded", "slept")


class ShowsPasscode(TaskType):
    """Reports the passcode it was given: proves executors get secrets in clear."""

    name = "TestShowsPasscode"
    scopes = frozenset({"user", "system"})

    def execute(self, ctx: RunContext) -> Outcome:
        return Outcome("succeeded", f"passcode={ctx.parameters.get('passcode')}")


class NotebookStandIn(TaskType):
    """Carries the ExecuteNotebook name, privilege and item requirement so that the notebook
    limits (enforced by type name) and the scheduling privilege can be tested before
    notebooks run."""

    name = "ExecuteNotebook"
    privilege = "premium:publisher:scheduleNotebooks"
    needs_item = True

    def execute(self, ctx: RunContext) -> Outcome:
        return Outcome("succeeded", "not a notebook")


SPEC = ",".join(f"tests.tasktypes_for_tests:{c.__name__}" for c in
                (AlwaysFails, Raises, CrashesChild, SleepsInChild, SleepsInThread,
                 ShowsPasscode))
API_SPEC = ",".join(f"tests.tasktypes_for_tests:{c.__name__}" for c in
                    (ShowsPasscode, NotebookStandIn))
