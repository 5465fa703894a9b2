"""The Notebook Server's administration, as a Kubernetes deployment has it under
``<context>/admin/notebooks``: ``executeNotebook`` runs a Notebook item on demand, and its job
is followed at ``notebooks/jobs/<jobId>`` (also ``system/jobs/<jobId>``, the stand-alone
Notebook Server's path), as the official client's ``arcgis.notebook.execute_notebook`` does.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.responses import Response

from gistasks.api.deps import Call, CallDep
from gistasks.api.params import Boolean, Integer, Text
from gistasks.api.render import NOTEBOOK_OUTPUTS, notebook_output, render
from gistasks.api.spec import POST, READ, Endpoint, Kind, route
from gistasks.notebooks import CONTENT_SECURITY_POLICY
from gistasks.store.records import NotebookJobRecord

router = APIRouter()
TAG = "Notebooks"
JOB = "/notebooks/jobs/{notebook_job_id}"

ITEM_ID = Text("itemId", "The Notebook item to run.", required=True, max_length=64)
UPDATE = Boolean("updatePortalItem", "`true` (the default): the item's data becomes the "
                 "executed notebook.")
SAVE = Boolean("saveInjectedParameters", "`true`: the injected cell stays in what is saved.")
PARAMETERS = Text("notebookParameters", "The values to inject, a JSON object "
                  "(`{\"x\": 1, \"y\": \"text\"}`).", max_length=1024 * 1024, json_text=True)
TIMEOUT = Integer("executionTimeoutInMinutes", "Accepted for compatibility: the server's "
                  "time limit applies.", minimum=1, maximum=7 * 24 * 60)
INSTANCE = Text("instanceTypeName", "Accepted for compatibility.", max_length=128)
START = Integer("start", "0-based offset of the first job.", minimum=0, maximum=2**31 - 1,
                default=0)
NUM = Integer("num", "Page size (at most 100).", minimum=1, maximum=100, default=100)
DETAIL = Boolean("detail", "Accepted for compatibility: jobs are always shown whole.")
SORT = Boolean("sortByDate", "Accepted for compatibility: newest first.")


def _job_json(c: Call, job: NotebookJobRecord) -> dict[str, Any]:
    parameters = c.services.notebook_jobs.shown_parameters(job)
    out: dict[str, Any] = {
        "jobId": job.id, "id": job.id, "type": "executeNotebook", "status": job.status,
        "inputs": {"itemId": job.item_id, **parameters}, "username": job.owner,
        "created": job.created, "startTime": job.started or -1, "endTime": job.ended or -1,
        "messages": [job.result] if job.result else [],
        "jobUrl": c.services.notebook_jobs.job_url(job.id),
    }
    if job.status in ("COMPLETED", "FAILED"):
        out["results"] = {"itemId": job.item_id, "message": job.result,
                          "executedNotebookUrl": job.url, "notebookUrl": job.url}
    else:
        out["results"] = {}
    return out


@route(router, "/notebooks", READ, Endpoint(
    "Notebook administration", "NotebooksRoot", tag=TAG,
    description="Its operation (`executeNotebook`) and resource (`jobs`)."))
async def notebooks_root(c: CallDep) -> Response:
    c.caller()
    return render({"resources": ["jobs"], "operations": ["executeNotebook"]}, c.f,
                  "Notebooks")


@route(router, "/notebooks/executeNotebook", POST, Endpoint(
    "Run a notebook item now", "NotebookJobStarted",
    (ITEM_ID, UPDATE, SAVE, PARAMETERS, TIMEOUT, INSTANCE), tag=TAG,
    description="Users who may schedule notebooks, on their own items (org admins: "
    "anybody's). The answer has the job's `jobUrl`."))
async def execute_notebook(c: CallDep) -> Response:
    form = c.form
    parameters: dict[str, object] = {
        "updatePortalItem": form.value(UPDATE, True),
        "saveInjectedParameters": form.value(SAVE, False)}
    raw = form.get(PARAMETERS)
    if raw is not None:
        parameters["notebookParameters"] = raw
    job = c.services.notebook_jobs.submit(c.caller(), form.require(ITEM_ID), parameters)
    return render({"status": "success", "itemId": job.item_id, "jobId": job.id,
                   "jobUrl": c.services.notebook_jobs.job_url(job.id)}, c.f, "Submitted")


@route(router, "/notebooks/jobs", READ, Endpoint(
    "Notebook jobs", "NotebookJobList", (START, NUM, DETAIL, SORT), tag=TAG,
    description="The caller's jobs (an org admin's: everyone's), newest first."),
    aliases=["/system/jobs"])
async def list_jobs(c: CallDep) -> Response:
    total, jobs = c.services.notebook_jobs.page(c.caller(), c.form.value(START, 0),
                                                c.form.value(NUM, 100))
    return render({"asyncJobs": [_job_json(c, j) for j in jobs], "total": total}, c.f,
                  "Jobs")


@route(router, JOB, READ, Endpoint("A notebook job", "NotebookJob", tag=TAG),
       aliases=["/system/jobs/{notebook_job_id}"])
async def get_job(c: CallDep, notebook_job_id: str) -> Response:
    job = c.services.notebook_jobs.find(c.caller(), notebook_job_id)
    return render(_job_json(c, job), c.f, job.id)


@route(router, JOB + "/cancel", POST, Endpoint(
    "Stop a notebook job", "NotebookJob", tag=TAG,
    description="Its kernel is killed; the job ends FAILED."),
    aliases=["/system/jobs/{notebook_job_id}/cancel"])
async def cancel_job(c: CallDep, notebook_job_id: str) -> Response:
    job = c.services.notebook_jobs.cancel(c.caller(), notebook_job_id)
    return render(_job_json(c, job), c.f, job.id)


def _output(name: str) -> None:
    @route(router, f"{JOB}/{name}", READ, Endpoint(
        f"A notebook job's {name}", None, kind=Kind.DATA, tag=TAG, extension=True,
        description="The executed notebook, as a page without scripts or as `.ipynb`."))
    async def output(c: CallDep, notebook_job_id: str) -> Response:
        service = c.services.notebook_jobs
        path = service.output(service.find(c.caller(), notebook_job_id), name)
        return notebook_output(path, name, f"{notebook_job_id}.ipynb",
                               CONTENT_SECURITY_POLICY)

    del output


for _name in NOTEBOOK_OUTPUTS:
    _output(_name)
