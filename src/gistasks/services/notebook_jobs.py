"""Notebooks run on demand: the Notebook Server's ``notebooks/executeNotebook`` and its jobs.

A job runs a Notebook item as a scheduled ExecuteNotebook run does (the same kernels, the
same limits, the owner's identity for ``GIS("home")``), in a thread of the node that took it;
its status goes ``SUBMITTED`` → ``EXECUTING`` → ``COMPLETED`` or ``FAILED``, and it keeps the
executed notebook (page and ``.ipynb``). Whoever may schedule notebooks may run their own
items (an org admin anybody's). A job cut off by a stop of its node is ``FAILED`` with the
reason when the node starts again.

A job runs as the item's owner (an org admin who runs another user's notebook does not lend
it the admin's identity), its parameters sealed at rest like a task's secrets and masked when
shown. A user may have ``MAX_UNFINISHED`` jobs waiting or running; finished jobs are kept for
``KEEP_DAYS`` days.
"""

from __future__ import annotations

import json
import shutil
import threading
import uuid
from collections.abc import Callable
from pathlib import Path

from gistasks.security.secretbox import SecretBox, mask
from gistasks.services.auth import ORG_ADMIN
from gistasks.services.errors import (
    ForbiddenError,
    InvalidParameterError,
    NotFoundError,
    RefusedError,
)
from gistasks.services.users import privileges
from gistasks.store import Store
from gistasks.store.records import NotebookJobRecord, RunStatus, UserRecord
from gistasks.tasktypes import Registry, RunContext
from gistasks.tasktypes.notebook import SCHEDULE_NOTEBOOKS, ExecuteNotebook, job_folder

FINISHED = ("COMPLETED", "FAILED")
OUTPUTS = ("notebook.html", "notebook.ipynb")
MAX_UNFINISHED = 10
"""Jobs one user may have submitted and not yet seen end."""
KEEP_DAYS = 7
"""Finished jobs (and what they kept) are forgotten after this long."""


class NotebookJobService:
    """On-demand notebook runs, for the API and Python callers."""

    def __init__(self, store: Store, types: Registry, data_dir: Path, node: str,
                 now_ms: Callable[[], int], base_url: Callable[[], str],
                 secrets: SecretBox) -> None:
        self.secrets = secrets
        self.store = store
        self.types = types
        self.data_dir = data_dir
        self.node = node
        self.now_ms = now_ms
        self.base_url = base_url
        self._cancels: dict[str, threading.Event] = {}
        self._lock = threading.Lock()

    def _runner(self) -> ExecuteNotebook:
        found = self.types.get(ExecuteNotebook.name)
        if not isinstance(found, ExecuteNotebook):
            raise ForbiddenError("This server does not run notebooks.")
        return found

    def job_url(self, job_id: str) -> str:
        return f"{self.base_url()}/admin/notebooks/jobs/{job_id}"

    def submit(self, caller: UserRecord, item_id: str, parameters: dict[str, object],
               background: bool = True) -> NotebookJobRecord:
        """Start a run of the Notebook item ``item_id`` for ``caller``: checked as a task's
        parameters are (InvalidParameterError naming the bad one)."""
        if SCHEDULE_NOTEBOOKS not in privileges(caller.role):
            raise ForbiddenError(f"{caller.username} does not have the privilege to run "
                                 f"notebooks ({SCHEDULE_NOTEBOOKS}).")
        item = self.store.items.get(item_id)
        if item is None:
            raise NotFoundError("Item does not exist or is inaccessible.")
        if item.owner != caller.username and caller.role != ORG_ADMIN:
            raise ForbiddenError()
        if item.type != "Notebook":
            raise InvalidParameterError("itemId", f"Item '{item_id}' is a {item.type} item, "
                                        "not a Notebook.")
        runner = self._runner()
        try:  # the flags come checked from the caller: only the values to inject can fail
            checked = runner.validate(dict(parameters))
        except ValueError as exc:
            raise InvalidParameterError("notebookParameters", str(exc)) from None
        unfinished = self.store.notebook_jobs.unfinished(caller.username)
        if unfinished >= MAX_UNFINISHED:
            raise RefusedError("run the notebook", f"{caller.username} has {unfinished} "
                               f"notebook jobs waiting or running, the most one may have")
        now = self.now_ms()
        job_id = uuid.uuid4().hex
        sealed = self.secrets.seal(checked, None, job_id)
        job = NotebookJobRecord(job_id, caller.username, item.id, "SUBMITTED",
                                json.dumps(sealed), "", "", self.node, now, None, None)
        self.store.notebook_jobs.insert(job)
        if background:
            threading.Thread(target=self.run, args=(job,), daemon=True,
                             name=f"notebook-job-{job.id}").start()
        else:
            self.run(job)
        return job

    def run(self, job: NotebookJobRecord) -> NotebookJobRecord:
        """Execute the job (in the caller's thread) and record how it ended."""
        cancel = threading.Event()
        with self._lock:
            self._cancels[job.id] = cancel
        self.store.notebook_jobs.update(job.id, status="EXECUTING", started=self.now_ms())
        try:
            page = f"{self.job_url(job.id)}/notebook.html"
            item = self.store.items.get(job.item_id)
            if item is None:
                raise LookupError("Item does not exist or is inaccessible.")
            parameters = self.secrets.open(json.loads(job.parameters), job.id)
            ctx = RunContext(job.id, "", self.now_ms(), item.owner, parameters, job.item_id,
                             None, cancel)
            outcome = self._runner().run_notebook(ctx, job_folder(self.data_dir, job.id),
                                                  page)
            status = "COMPLETED" if outcome.status == RunStatus.SUCCEEDED else "FAILED"
            result, url = outcome.result, outcome.url
        except Exception as exc:  # a job always ends, with the reason
            status, result, url = "FAILED", f"{type(exc).__name__}: {exc}", ""
        finally:
            with self._lock:
                self._cancels.pop(job.id, None)
        self.store.notebook_jobs.update(job.id, status=status, result=result, url=url,
                                        ended=self.now_ms())
        found = self.store.notebook_jobs.get(job.id)
        assert found is not None
        return found

    def find(self, caller: UserRecord, job_id: str) -> NotebookJobRecord:
        job = self.store.notebook_jobs.get(job_id)
        if job is None or (job.owner != caller.username and caller.role != ORG_ADMIN):
            raise NotFoundError(f"Job '{job_id}' was not found.")
        return job

    def page(self, caller: UserRecord, offset: int, limit: int
             ) -> tuple[int, list[NotebookJobRecord]]:
        return self.store.notebook_jobs.page(
            None if caller.role == ORG_ADMIN else caller.username, offset, limit)

    def cancel(self, caller: UserRecord, job_id: str) -> NotebookJobRecord:
        """Stop a job that runs on this node (its kernel is killed); a finished job stays."""
        job = self.find(caller, job_id)
        with self._lock:
            event = self._cancels.get(job.id)
        if event is not None:
            event.set()
        return job

    def output(self, job: NotebookJobRecord, name: str) -> Path:
        path = job_folder(self.data_dir, job.id) / name
        if name not in OUTPUTS or not path.is_file():
            raise NotFoundError(f"Job '{job.id}' has no {name}.")
        return path

    def shown_parameters(self, job: NotebookJobRecord) -> dict[str, object]:
        """The job's parameters as answers show them: secrets masked."""
        value = mask(json.loads(job.parameters or "{}"))
        return value if isinstance(value, dict) else {}

    def recover(self) -> int:
        """At start: fail the jobs this node was running when it stopped, and forget the
        finished jobs older than ``KEEP_DAYS`` with what they kept; how many failed."""
        failed = self.store.notebook_jobs.end_unfinished(
            self.node, self.now_ms(), "The server stopped before the notebook finished.")
        for job_id in self.store.notebook_jobs.forget(self.now_ms() - KEEP_DAYS * 86_400_000):
            shutil.rmtree(job_folder(self.data_dir, job_id), ignore_errors=True)
        return failed
