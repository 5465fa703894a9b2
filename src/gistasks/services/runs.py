"""The runs of a task: reading them, and editing or deleting one by hand."""

from __future__ import annotations

from gistasks.engine import Engine
from gistasks.services.errors import InvalidParameterError, NotFoundError
from gistasks.store import Store
from gistasks.store.records import MAX_RESULT_CHARS, RunRecord, RunStatus, TaskRecord


class RunService:
    """Runs, always through their task: a run of another task is not found."""

    def __init__(self, store: Store, engine: Engine) -> None:
        self.store = store
        self.engine = engine

    def of(self, task: TaskRecord) -> list[RunRecord]:
        """The task's runs, newest first."""
        return self.store.runs.of_task(task.id)

    def find(self, task: TaskRecord, run_id: str) -> RunRecord:
        run = self.store.runs.get(run_id)
        if run is None or run.task_id != task.id:
            raise NotFoundError(f"Run '{run_id}' was not found.")
        return run

    def edit(self, run: RunRecord, status: str, result: str | None = None) -> RunRecord:
        """Set a run's status (and result, if given) by hand, stamped with the engine's clock
        (the database's in a cluster, like every other time the engine records)."""
        try:
            checked = RunStatus(status.strip().lower())
        except ValueError:
            raise InvalidParameterError("status", f"'status' must be one of "
                                        f"{', '.join(RunStatus)}") from None
        if result is not None and len(result) > MAX_RESULT_CHARS:
            raise InvalidParameterError("result", f"'result' must have at most "
                                        f"{MAX_RESULT_CHARS} characters")
        updated = self.store.runs.update(run.id, status=checked,
                                         result=run.result if result is None else result,
                                         modified=self.engine.now_ms())
        if updated is None:
            raise NotFoundError(f"Run '{run.id}' was not found.")
        return updated

    def delete(self, run: RunRecord) -> None:
        if not self.store.runs.delete(run.id):
            raise NotFoundError(f"Run '{run.id}' was not found.")
