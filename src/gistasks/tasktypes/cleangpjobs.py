"""``CleanGPJobs``: the system task ``gpCleanerTask`` that removes old geoprocessing jobs.

It exists from the first start (hourly, ``0 0 * * * ?``, as ArcGIS Enterprise on Kubernetes
has it), cannot be deleted and has no twin; disabling it stops the cleaning. Each fire removes
the finished jobs older than their service's maximum job age (default 360 minutes), with their
folders, and records ``GP Jobs have been cleaned.`` and the counts.
"""

from __future__ import annotations

from gistasks.store.records import RunStatus, Scope
from gistasks.tasktypes.base import Builtin, Outcome, RunContext, TaskType


class CleanGPJobs(TaskType):
    name = "CleanGPJobs"
    internal_name = "GP_JOBS_CLEANER_TASK_TYPE"
    scopes = frozenset({Scope.SYSTEM})
    idempotent = True
    builtin = Builtin("gpCleanerTask", "0 0 * * * ?")

    def execute(self, ctx: RunContext) -> Outcome:
        clean = self.deployment.clean_gp_jobs
        if clean is None:
            return Outcome(RunStatus.FAILED, "this node has no GP jobs to clean")
        return Outcome(RunStatus.SUCCEEDED, clean())
