"""The runs of a task: reading them, and editing or deleting one by hand."""

from __future__ import annotations

import shutil
from pathlib import Path

from gistasks.engine import Engine
from gistasks.services.errors import InvalidParameterError, NotFoundError
from gistasks.store import Store
from gistasks.store.records import MAX_RESULT_CHARS, RunRecord, RunStatus, TaskRecord


class RunService:
    """Runs, always through their task: a run of another task is not found."""

    def __init__(self, store: Store, engine: Engine, data_dir: Path | None = None) -> None:
        self.store = store
        self.engine = engine
        self.outputs = None if data_dir is None else data_dir / "runs"
        """Where runs keep what they made (an executed notebook), a folder per run."""

    OUTPUTS = ("notebook.html", "notebook.ipynb")
    """The files a run may keep."""

    def output(self, run: RunRecord, name: str) -> Path:
        """A file the run kept (``OUTPUTS``); NotFoundError when it has none."""
        path = None if self.outputs is None or name not in self.OUTPUTS \
            else self.outputs / run.id / name
        if path is None or not path.is_file():
            raise NotFoundError(f"Run '{run.id}' has no {name}.")
        return path

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
        if self.outputs is not None:
            shutil.rmtree(self.outputs / run.id, ignore_errors=True)

    def forget_outputs(self) -> int:
        """Remove what runs that no longer exist kept (their history was trimmed, their
        task deleted); how many folders went. The server does this at start."""
        if self.outputs is None or not self.outputs.is_dir():
            return 0
        gone = 0
        for folder in self.outputs.iterdir():
            if self.store.runs.get(folder.name) is None:
                shutil.rmtree(folder, ignore_errors=True)
                gone += 1
            else:  # a token a run cut off by a crash left behind
                (folder / ".nbauth.json").unlink(missing_ok=True)
        return gone
