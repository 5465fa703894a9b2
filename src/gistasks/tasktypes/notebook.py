"""``ExecuteNotebook``: run a Notebook item, every cell in order, in a fresh IPython kernel.

Parameters (ArcGIS's): ``notebookParameters`` (an object, as the official client sends it, or
its JSON text, as the documentation's example has it), injected as a cell after the cell
tagged ``parameters`` or ``injected-parameters`` (at the top if none is); ``updatePortalItem``
(default true: the item's data becomes the executed notebook); ``saveInjectedParameters``
(default false: the injected cell is left out of what is saved).

The kernel has the notebook's item folder as its working directory and the task owner's
identity in its environment: ``NB_AUTH_FILE`` names a private file holding this server's URL
and a short-lived token of the owner, so that ``GIS("home")`` in a cell signs in to this
server as the owner (the ArcGIS notebook convention); ``GISTASKS_URL`` and ``GISTASKS_USER``
say the same for other code. The executed notebook is kept with the run, as ``.ipynb`` and as
a page without scripts; the run's ``url`` is the page, its ``result`` says that every cell
ran, or which cell failed with which error.

A run may take ``GISTASKS_NOTEBOOK_TIME_LIMIT_MINUTES`` (50 by default); its kernel is killed
at the limit, on cancel and on shutdown. At most ``GISTASKS_NOTEBOOK_KERNELS`` notebooks run
at once on a node; a run beyond them waits for a kernel.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from pathlib import Path
from typing import Any

from gistasks.notebooks import (
    Outcome,
    parse_parameters,
    to_html,
)
from gistasks.store.records import RunStatus
from gistasks.tasktypes.base import Outcome as RunOutcome
from gistasks.tasktypes.base import RunContext, TaskType

SCHEDULE_NOTEBOOKS = "premium:publisher:scheduleNotebooks"
WAIT_SLICE_S = 0.25
"""How often a run waiting for a kernel looks at its cancellation."""
NOTEBOOK_FILE = "notebook.ipynb"
PAGE_FILE = "notebook.html"
AUTH_FILE = ".nbauth.json"
TOKEN_MARGIN_MINUTES = 10
"""The owner's token for ``GIS("home")`` lives the run's time limit and this much more."""


def _flag(parameters: dict[str, Any], name: str, default: bool) -> bool:
    value = parameters.get(name, default)
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false", ""):
        return value.strip().lower() == "true" if value.strip() else default
    raise ValueError(f"'{name}' must be true or false")


def run_folder(data_dir: Path, run_id: str) -> Path:
    """Where a run's executed notebook is kept."""
    return data_dir / "runs" / run_id


def job_folder(data_dir: Path, job_id: str) -> Path:
    """Where an on-demand run's (``executeNotebook``'s) executed notebook is kept."""
    return data_dir / "notebook-jobs" / job_id


class ExecuteNotebook(TaskType):
    name = "ExecuteNotebook"
    privilege = SCHEDULE_NOTEBOOKS
    needs_item = True
    item_types = ("Notebook",)
    idempotent = False

    def validate(self, parameters: dict[str, Any]) -> dict[str, Any]:
        out = dict(parameters)
        out["notebookParameters"] = parse_parameters(parameters.get("notebookParameters"))
        out["updatePortalItem"] = _flag(parameters, "updatePortalItem", True)
        out["saveInjectedParameters"] = _flag(parameters, "saveInjectedParameters", False)
        return out

    def start(self) -> None:
        engine = self.deployment.notebooks
        if engine is not None:
            engine.start()

    def close(self) -> None:
        engine = self.deployment.notebooks
        if engine is not None:
            engine.shutdown()

    def execute(self, ctx: RunContext) -> RunOutcome:
        d = self.deployment
        if d.data_dir is None:
            return RunOutcome(RunStatus.FAILED, "this server does not run notebooks")
        page = (f"{d.public_url}/sharing/rest/community/users/{ctx.owner}/tasks/{ctx.task_id}"
                f"/runs/{ctx.run_id}/{PAGE_FILE}")
        return self.run_notebook(ctx, run_folder(d.data_dir, ctx.run_id), page)

    def run_notebook(self, ctx: RunContext, out: Path, page_url: str) -> RunOutcome:
        """Run the notebook of ``ctx`` (its item, its owner, its parameters), keep the
        executed notebook in ``out`` (``notebook.ipynb``, ``notebook.html``), whose page
        ``page_url`` serves; the outcome, with ``page_url`` once there is something to see."""
        d = self.deployment
        engine, items = d.notebooks, d.items
        if engine is None or items is None or d.token_for is None:
            return RunOutcome(RunStatus.FAILED, "this server does not run notebooks")
        item_id = ctx.item_id or ""
        try:
            parameters = self.validate(ctx.parameters)
            before = items.info(ctx.owner, item_id)["modified"]
            notebook = items.data(ctx.owner, item_id, engine.limits.max_notebook_bytes)
            folder = items.folder(ctx.owner, item_id)
        except (LookupError, PermissionError, ValueError) as exc:
            return RunOutcome(RunStatus.FAILED, str(exc))
        slot = None
        while slot is None:
            if ctx.cancelled.is_set():
                return RunOutcome(RunStatus.FAILED, "the run was stopped while it waited for "
                                  "a notebook kernel")
            slot = engine.acquire(WAIT_SLICE_S)
        auth = out / AUTH_FILE
        try:
            out.mkdir(parents=True, exist_ok=True, mode=0o700)
            self._write_auth(auth, ctx.owner)
            result = engine.run(
                notebook, time_limit_s=d.notebook_time_limit_s,
                parameters=parameters["notebookParameters"], cwd=folder, cancel=ctx.cancelled,
                env={"NB_AUTH_FILE": str(auth), "GISTASKS_URL": d.public_url,
                     "GISTASKS_USER": ctx.owner},
                save_injected_parameters=parameters["saveInjectedParameters"], slot=slot)
        except Exception as exc:  # the owner's token refused (disabled), a bad notebook...
            return RunOutcome(RunStatus.FAILED, f"The notebook cannot be run: {exc}")
        finally:
            slot.release()  # the run has released it already; twice is harmless
            with contextlib.suppress(FileNotFoundError):
                auth.unlink()
        executed = result.notebook_bytes()
        (out / NOTEBOOK_FILE).write_bytes(executed)
        (out / PAGE_FILE).write_text(to_html(result.notebook), encoding="utf-8")
        if result.outcome is not Outcome.SUCCEEDED:
            return RunOutcome(RunStatus.FAILED, result.message, page_url)
        if parameters["updatePortalItem"]:
            try:
                items.replace_data(ctx.owner, item_id, executed, if_modified=before)
            except (LookupError, PermissionError, ValueError, OSError) as exc:
                return RunOutcome(RunStatus.FAILED, f"The notebook ran, but its item was not "
                                  f"updated: {exc}", page_url)
        return RunOutcome(RunStatus.SUCCEEDED, result.message, page_url)

    def _write_auth(self, path: Path, owner: str) -> None:
        """The owner's identity for ``GIS("home")``: this server's URL and a short-lived
        token, readable by this user only."""
        d = self.deployment
        assert d.token_for is not None
        minutes = int(d.notebook_time_limit_s // 60) + TOKEN_MARGIN_MINUTES
        token = d.token_for_minutes(owner, minutes) if d.token_for_minutes else \
            d.token_for(owner)
        auth = {"privatePortalUrl": d.public_url, "publicPortalUrl": d.public_url,
                "referer": "", "token": token, "expiration": minutes}
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(auth, f)


def remove_run_output(data_dir: Path, run_id: str) -> None:
    """Remove what a run kept (when the run is deleted)."""
    shutil.rmtree(run_folder(data_dir, run_id), ignore_errors=True)
