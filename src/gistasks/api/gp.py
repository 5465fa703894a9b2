"""Geoprocessing services (``/<context>/rest/services``), as ArcGIS Server answers them.

The services directory (folders, services), a service (``tasks``, ``executionType``,
``resultMapServerName``), a task (its ``parameters``), ``submitJob``, ``execute`` (synchronous
services), a job (``jobStatus``, ``messages``, ``inputs`` and ``results`` with ``paramUrl``,
``progress`` while it runs), one result or input, ``cancel`` (GET and POST: the official
client cancels with GET) and ``delete``; the files of a job's folder under
``/<context>/rest/directories/arcgisjobs``. Errors use the Sharing envelope with HTTP 200.
"""

from __future__ import annotations

import mimetypes
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter
from starlette.responses import FileResponse, Response

from gistasks.api.deps import Call, CallDep
from gistasks.api.params import Boolean
from gistasks.api.render import render
from gistasks.api.sharing import portal_url
from gistasks.api.spec import GET, POST, READ, Auth, Endpoint, Kind, needs_post, route
from gistasks.gp import ServiceDef, Tool
from gistasks.gp.datatypes import GPMultiValue, GPRecordSet, GPString
from gistasks.gp.execution import is_file_type
from gistasks.gp.tool import Parameter
from gistasks.services.errors import InvalidParameterError, ServiceError
from gistasks.services.geoprocessing import messages_of, values_of
from gistasks.store.records import JobRecord, JobStatus

router = APIRouter()
TAG = "Geoprocessing"
REST_VERSION = 11.3
SERVICES = "/rest/services"
SERVICE = SERVICES + "/{folder}/{service}/GPServer"
TASK = SERVICE + "/{task}"
JOB = TASK + "/jobs/{job_id}"
FILES = "/rest/directories/arcgisjobs/{folder}/{service_dir}/{job_id}/{file_path:path}"
Json = dict[str, Any]

RETURN_MESSAGES = Boolean("returnMessages", "Whether the job's messages come with it "
                          "(default true).", example=True)


def _gp(summary: str, answer: str | None, params: tuple[Any, ...] = (), description: str = "",
        **kwargs: Any) -> Endpoint:
    return Endpoint(summary, answer, params, description, auth=Auth.OPTIONAL, tag=TAG,
                    **kwargs)


def _path(folder: str, service: str) -> str:
    return f"{folder}/{service}"


def service_url(c: Call, service: ServiceDef) -> str:
    return f"{portal_url(c)}{SERVICES}/{service.folder}/{service.name}/GPServer"


def job_url(c: Call, job: JobRecord) -> str:
    """The job's page in the services directory."""
    folder, _, name = job.service.partition("/")
    return f"{portal_url(c)}{SERVICES}/{folder}/{name}/GPServer/{job.tool}/jobs/{job.id}"


def file_url(c: Call, job: JobRecord, relative: str) -> str:
    folder, _, name = job.service.partition("/")
    return (f"{portal_url(c)}/rest/directories/arcgisjobs/{folder.lower()}/"
            f"{name.lower()}_gpserver/{job.id}/{quote(relative)}")


# -- shapes ------------------------------------------------------------------------------------


def _default(param: Parameter) -> Any:
    value = param.default_json()
    if value is None and isinstance(param.data_type, GPString):
        return ""
    return value


def parameter_json(param: Parameter) -> Json:
    """One entry of a task's ``parameters``, as the client's ``import_toolbox`` needs it
    (every key present; a choice list only of texts)."""
    out: Json = {
        "name": param.name, "dataType": param.data_type.data_type,
        "displayName": param.display_name or param.name,
        "description": param.description, "direction": param.direction.value,
        "defaultValue": _default(param), "parameterType": param.parameter_type,
        "category": param.category,
    }
    if param.choices and all(isinstance(v, str) for v in param.choices):
        out["choiceList"] = list(param.choices)
    return out


def task_json(service: ServiceDef, tool: type[Tool]) -> Json:
    return {"name": tool.name, "displayName": tool.title(), "description": tool.summary(),
            "category": "", "helpUrl": tool.help_url,
            "executionType": service.execution.esri,
            "parameters": [parameter_json(p) for p in tool.parameters]}


def service_json(service: ServiceDef) -> Json:
    return {"currentVersion": REST_VERSION, "serviceDescription": service.description,
            "tasks": list(service.tools), "executionType": service.execution.esri,
            "resultMapServerName": "", "maximumRecords": 1000,
            "capabilities": "", "supportsOGCAPIProcesses": True}


def rendered_value(c: Call, job: JobRecord, param: Parameter, value: Any) -> Any:
    """A stored value as a client reads it: a file output becomes its URL."""
    if value is None or not is_file_type(param.data_type):
        return value
    members = value if isinstance(param.data_type, GPMultiValue) else [value]
    out = [{"url": file_url(c, job, m["file"])} if isinstance(m, dict) and "file" in m
           else m for m in members]
    return out if isinstance(param.data_type, GPMultiValue) else out[0]


def _tool_of(c: Call, job: JobRecord) -> type[Tool] | None:
    service = c.services.geoprocessing.catalog.get(job.service)
    return service.tool(job.tool) if service is not None else None


def job_json(c: Call, job: JobRecord, with_messages: bool = True) -> Json:
    """A job's status, as the REST job resource answers it."""
    out: Json = {"jobId": job.id, "jobStatus": job.status.value}
    tool = _tool_of(c, job)
    if job.status == JobStatus.SUCCEEDED and tool is not None and not job.deleted:
        out["results"] = {p.name: {"paramUrl": f"results/{p.name}"} for p in tool.outputs()}
    if tool is not None and not job.deleted:
        out["inputs"] = {p.name: {"paramUrl": f"inputs/{p.name}"} for p in tool.inputs()}
    if job.status == JobStatus.EXECUTING and job.progress:
        progress = values_of(job.progress)
        if progress:
            out["progress"] = progress
    if with_messages:
        out["messages"] = messages_of(job)
    return out


def value_json(c: Call, job: JobRecord, param: Parameter, value: Any) -> Json:
    return {"paramName": param.name, "dataType": param.data_type.data_type,
            "value": rendered_value(c, job, param, value)}


# -- the directory -----------------------------------------------------------------------------


@route(router, "/rest/info", READ, _gp(
    "Server information", "RestInfo", description="The version and where tokens come from "
    "(this portal's `generateToken`)."))
async def rest_info(c: CallDep) -> Response:
    base = portal_url(c)
    return render({"currentVersion": REST_VERSION, "fullVersion": "11.3.0",
                   "owningSystemUrl": base,
                   "authInfo": {"isTokenBasedSecurity": True,
                                "tokenServicesUrl": f"{base}/sharing/rest/generateToken",
                                "shortLivedTokenValidity": 60}}, c.f, "Server information")


@route(router, SERVICES, READ, _gp(
    "Services directory", "ServicesDirectory",
    description="The folders holding geoprocessing services (services the caller may use: "
    "anonymous callers see public ones). `rest/services/` answers the same."),
    aliases=[SERVICES + "/"])
async def directory(c: CallDep) -> Response:
    folders = c.services.geoprocessing.folders(c.caller_if_any())
    return render({"currentVersion": REST_VERSION, "folders": folders, "services": []}, c.f,
                  "Services directory")


@route(router, SERVICES + "/{folder}", READ, _gp(
    "A folder of services", "ServicesDirectory"))
async def folder(c: CallDep, folder: str) -> Response:
    found = c.services.geoprocessing.services_in(folder, c.caller_if_any())
    return render({"currentVersion": REST_VERSION, "folders": [],
                   "services": [{"name": s.path, "type": "GPServer"} for s in found]},
                  c.f, folder)


@route(router, SERVICE, READ, _gp("A geoprocessing service", "GPService",
                                  description="Its `tasks` and `executionType`."))
async def service(c: CallDep, folder: str, service: str) -> Response:
    found = c.services.geoprocessing.service(_path(folder, service), c.caller_if_any())
    return render(service_json(found), c.f, found.path)


@route(router, TASK, READ, _gp(
    "A geoprocessing task", "GPTask",
    description="Its `parameters` (name, dataType, direction, defaultValue, parameterType, "
    "choiceList). The official client's `import_toolbox` reads it by POST."))
async def task(c: CallDep, folder: str, service: str, task: str) -> Response:
    found, tool = c.services.geoprocessing.tool(_path(folder, service), task, c.caller_if_any())
    return render(task_json(found, tool), c.f, tool.title())


OPEN = ("One field per input parameter of the task, by its name: text for strings and "
        "numbers, JSON for feature sets, linear units, files and lists. A bad value is an "
        "error naming the parameter, and nothing is queued.")


def _inputs(c: Call, tool: type[Tool]) -> dict[str, Any]:
    """The request's values of ``tool``'s inputs: a feature set the client sends as one
    repeated field per feature is gathered into one, a list as one field per member; any
    other input given more than once is refused, naming it."""
    values: dict[str, Any] = c.form.undeclared()
    for param in tool.inputs():
        repeated = c.form.repeats(param.name)
        if not repeated:
            continue
        if isinstance(param.data_type, GPMultiValue):
            values[param.name] = "[" + ",".join(repeated) + "]"
        elif isinstance(param.data_type, GPRecordSet):
            values[param.name] = "{\"features\":[" + ",".join(repeated) + "]}"
        else:
            raise InvalidParameterError(param.name, f"'{param.name}' was given "
                                        f"{len(repeated)} times; it takes one value.")
    return values


@route(router, TASK + "/submitJob", READ, _gp(
    "Submit a job", "GPJobSubmitted", description="Queues a job of an asynchronous task: "
    "`{\"jobId\", \"jobStatus\"}`.", open_params=OPEN))
async def submit_job(c: CallDep, folder: str, service: str, task: str) -> Response:
    caller = c.caller_if_any()
    gp = c.services.geoprocessing
    _, tool = gp.tool(_path(folder, service), task, caller)
    job = gp.submit(_path(folder, service), tool.name, caller, _inputs(c, tool),
                    origins=[portal_url(c)])
    return render({"jobId": job.id, "jobStatus": job.status.value}, c.f, "Job submitted")


@route(router, TASK + "/execute", READ, _gp(
    "Execute a task", "GPExecuted", description="Runs a task of a synchronous service and "
    "answers its `results` and `messages` when it ends.", open_params=OPEN))
async def execute(c: CallDep, folder: str, service: str, task: str) -> Response:
    caller = c.caller_if_any()
    gp = c.services.geoprocessing
    _, tool = gp.tool(_path(folder, service), task, caller)
    job = await c.waiting_for_a_job(gp.execute, _path(folder, service), tool.name, caller,
                                    _inputs(c, tool), origins=[portal_url(c)])
    if job.status != JobStatus.SUCCEEDED:
        raise ServiceError(f"Error executing tool. {tool.name}: {job.status}",
                           [m.get("description", "") for m in messages_of(job)])
    results = values_of(job.results)
    return render({"results": [value_json(c, job, p, results.get(p.name))
                               for p in tool.outputs()],
                   "messages": messages_of(job)}, c.f, tool.title())


def _job(c: Call, folder: str, service: str, task: str | None, job_id: str) -> JobRecord:
    return c.services.geoprocessing.job(job_id, c.caller_if_any(), _path(folder, service),
                                        task)


@route(router, SERVICE + "/jobs/{job_id}", READ, _gp(
    "A job (by its service)", "GPJob", (RETURN_MESSAGES,),
    description="The same as the job under its task."))
async def service_job(c: CallDep, folder: str, service: str, job_id: str) -> Response:
    job = _job(c, folder, service, None, job_id)
    return render(job_json(c, job, c.form.value(RETURN_MESSAGES, True)), c.f, job.id)


@route(router, JOB, READ, _gp(
    "A job", "GPJob", (RETURN_MESSAGES,),
    description="`jobStatus` (esriJobSubmitted, esriJobWaiting, esriJobExecuting, "
    "esriJobSucceeded, esriJobFailed, esriJobTimedOut, esriJobCancelling, esriJobCancelled), "
    "`messages`, `inputs` and, once succeeded, `results` (each a `paramUrl`); `progress` "
    "while it runs."))
async def job(c: CallDep, folder: str, service: str, task: str, job_id: str) -> Response:
    found = _job(c, folder, service, task, job_id)
    return render(job_json(c, found, c.form.value(RETURN_MESSAGES, True)), c.f, found.id)


@route(router, JOB + "/results/{param}", READ, _gp(
    "A job's result", "GPValue",
    description="`{\"paramName\", \"dataType\", \"value\"}`; a file is `{\"url\"}`."))
async def result(c: CallDep, folder: str, service: str, task: str, job_id: str,
                 param: str) -> Response:
    return _value(c, _job(c, folder, service, task, job_id), param, results=True)


@route(router, JOB + "/inputs/{param}", READ, _gp(
    "A job's input", "GPValue", description="The value the job was given (defaults filled "
    "in)."))
async def job_input(c: CallDep, folder: str, service: str, task: str, job_id: str,
                    param: str) -> Response:
    return _value(c, _job(c, folder, service, task, job_id), param, results=False)


def _value(c: Call, found: JobRecord, param: str, results: bool) -> Response:
    declared, value = c.services.geoprocessing.value(found, param, results=results)
    return render(value_json(c, found, declared, value), c.f, declared.name)


@route(router, JOB + "/cancel", READ, _gp(
    "Cancel a job", "GPJobSubmitted", description="A queued job is cancelled at once; a "
    "running one is `esriJobCancelling` until its process has been stopped. A job that has "
    "ended cannot be cancelled (error 400)."))
async def cancel(c: CallDep, folder: str, service: str, task: str, job_id: str) -> Response:
    found = _job(c, folder, service, task, job_id)
    caller = c.caller_if_any()
    status = await c.off_loop(c.services.geoprocessing.cancel, found,
                              caller.username if caller else "")
    return render({"jobId": found.id, "jobStatus": status.value}, c.f, "Cancel")


@route(router, JOB + "/delete", POST, _gp(
    "Delete a job", "GPJobSubmitted", description="Stops the job if it runs and removes its "
    "inputs, results and files; its id keeps answering a final status."))
async def delete(c: CallDep, folder: str, service: str, task: str, job_id: str) -> Response:
    found = _job(c, folder, service, task, job_id)
    await c.off_loop(c.services.geoprocessing.delete, found)
    return render({"jobId": found.id, "jobStatus": JobStatus.CANCELLED.value,
                   "success": True}, c.f, "Deleted")


@route(router, JOB + "/delete", GET, _gp(
    "delete by GET (refused)", "GPJobSubmitted",
    description="Always error 405: an operation that changes something is a POST."))
async def delete_by_get(c: CallDep, folder: str, service: str, task: str,
                        job_id: str) -> Response:
    raise needs_post("delete")


@route(router, FILES, GET, _gp(
    "A file of a job", None, kind=Kind.FILE,
    description="A file the job wrote (a GPDataFile result's `url`), sent as an attachment."))
async def job_file(c: CallDep, folder: str, service_dir: str, job_id: str,
                   file_path: str) -> Response:
    service = service_dir.removesuffix("_gpserver").removesuffix("_GPServer")
    found = _job(c, folder, service, None, job_id)
    file = c.services.geoprocessing.job_file(found, file_path)
    media = mimetypes.guess_type(file.name)[0] or "application/octet-stream"
    if file.name.endswith(".gpkg"):
        media = "application/geopackage+sqlite3"
    return FileResponse(file.path, media_type=media, filename=file.name,
                        content_disposition_type="attachment")

