"""OGC API - Processes 1.0 (``/<context>/ogcapi``): the same tools and the same jobs as the
GP services, for OGC clients (OWSLib and others).

The landing page and conformance, ``processes`` (one per GP task, id
``<Folder>.<Service>.<Task>``), a process description (inputs and outputs keyed by id, each
with a JSON schema), ``execution`` (synchronous by default, asynchronous with ``Prefer:
respond-async``: 201, ``Location`` and the status), ``jobs`` (the caller's, newest first), a
job's status and results, and dismissal (``DELETE``: stops a job that runs, removes one that
ended). A job submitted here is a GP job like any other, and the reverse. Answers are JSON;
errors are RFC 7807 problem details with real HTTP statuses, as the standard has them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter
from starlette.responses import JSONResponse, Response

from gistasks import jsonsafe
from gistasks.api.deps import Call, CallDep
from gistasks.api.gp import rendered_value
from gistasks.api.params import Integer
from gistasks.api.render import ApiError
from gistasks.api.sharing import portal_url
from gistasks.api.spec import GET, POST, Auth, Endpoint, Kind, route
from gistasks.gp import ServiceDef, Tool
from gistasks.gp.datatypes import GPDataFile, GPMultiValue
from gistasks.gp.tool import Parameter
from gistasks.services.errors import NotFoundError
from gistasks.services.geoprocessing import messages_of, values_of
from gistasks.store.records import JobMode, JobRecord, JobStatus

router = APIRouter()
TAG = "OGC API - Processes"
BASE = "/ogcapi"
Json = dict[str, Any]
CONF = "http://www.opengis.net/spec/ogcapi-processes-1/1.0/conf/"
REL = "http://www.opengis.net/def/rel/ogc/1.0/"
EXCEPTIONS = "http://www.opengis.net/def/exceptions/ogcapi-processes-1/1.0/"
CONFORMANCE = [CONF + c for c in ("core", "ogc-process-description", "json", "job-list",
                                  "dismiss")]
STATUS = {JobStatus.NEW: "accepted", JobStatus.SUBMITTED: "accepted",
          JobStatus.WAITING: "accepted", JobStatus.EXECUTING: "running",
          JobStatus.CANCELLING: "running", JobStatus.SUCCEEDED: "successful",
          JobStatus.FAILED: "failed", JobStatus.TIMED_OUT: "failed",
          JobStatus.CANCELLED: "dismissed"}
LIMIT = Integer("limit", "At most this many (1 to 10000; default every process, 100 jobs).",
                minimum=1, maximum=10_000)


def _ogc(summary: str, description: str = "", params: tuple[Any, ...] = ()) -> Endpoint:
    return Endpoint(summary, None, params, description, auth=Auth.OPTIONAL, tag=TAG,
                    kind=Kind.OGC, default_format="json", extension=True)


def _json(payload: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return JSONResponse(payload, status_code=status, headers=headers)


def _base(c: Call) -> str:
    return f"{portal_url(c)}{BASE}"


def process_id(service: ServiceDef, tool: type[Tool]) -> str:
    return f"{service.folder}.{service.name}.{tool.name}"


def _find(c: Call, pid: str) -> tuple[ServiceDef, type[Tool]]:
    folder, _, rest = pid.partition(".")
    name, _, task = rest.partition(".")
    try:
        return c.services.geoprocessing.tool(f"{folder}/{name}", task, c.caller_if_any())
    except NotFoundError:
        raise ApiError(404, f"Process '{pid}' does not exist.",
                       [EXCEPTIONS + "no-such-process"]) from None


def _time(ms: int | None) -> str | None:
    if ms is None:
        return None
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat().replace("+00:00", "Z")


def _summary(c: Call, service: ServiceDef, tool: type[Tool]) -> Json:
    pid = process_id(service, tool)
    return {"id": pid, "title": tool.title(), "description": tool.summary(),
            "version": "1.0.0", "keywords": [service.path],
            "jobControlOptions": ["sync-execute", "async-execute", "dismiss"],
            "outputTransmission": ["value"],
            "links": [{"href": f"{_base(c)}/processes/{pid}", "rel": "self",
                       "type": "application/json", "title": "Process description"}]}


def _schema(param: Parameter) -> Json:
    schema = dict(param.data_type.schema())
    if param.choices:
        schema["enum"] = list(param.choices)
    default = param.default_json()
    if default is not None:
        schema["default"] = default
    return schema


def _description(c: Call, service: ServiceDef, tool: type[Tool]) -> Json:
    out = _summary(c, service, tool)
    out["inputs"] = {p.name: {"title": p.display_name or p.name, "description": p.description,
                              "schema": _schema(p),
                              "minOccurs": 1 if p.required and p.default is None else 0,
                              "maxOccurs": 1} for p in tool.inputs()}
    out["outputs"] = {p.name: {"title": p.display_name or p.name,
                               "description": p.description, "schema": _schema(p)}
                      for p in tool.outputs()}
    return out


def status_info(c: Call, job: JobRecord) -> Json:
    """A job as OGC API - Processes describes it."""
    pid = f"{job.service.replace('/', '.')}.{job.tool}"
    texts = [m.get("description", "") for m in messages_of(job)]
    out: Json = {"jobID": job.id, "processID": pid, "type": "process",
                 "status": STATUS.get(job.status, "failed"),
                 "message": texts[-1] if texts else "", "created": _time(job.submitted),
                 "updated": _time(job.modified)}
    if job.started is not None:
        out["started"] = _time(job.started)
    if job.ended is not None:
        out["finished"] = _time(job.ended)
    progress = values_of(job.progress)
    if isinstance(progress.get("percent"), int | float):
        out["progress"] = int(progress["percent"])
    elif job.status == JobStatus.SUCCEEDED:
        out["progress"] = 100
    href = f"{_base(c)}/jobs/{job.id}"
    out["links"] = [{"href": href, "rel": "self", "type": "application/json"},
                    {"href": f"{href}/results", "rel": REL + "results",
                     "type": "application/json"}]
    return out


def _results(c: Call, job: JobRecord) -> Json:
    service = c.services.geoprocessing.catalog.get(job.service)
    tool = service.tool(job.tool) if service is not None else None
    values = values_of(job.results)
    if tool is None:
        return values
    return {p.name: rendered_value(c, job, p, values.get(p.name)) for p in tool.outputs()}


# -- routes ------------------------------------------------------------------------------------


@route(router, BASE, GET, _ogc("Landing page", "Links to the API's parts."),
       aliases=[BASE + "/"])
async def landing(c: CallDep) -> Response:
    base = _base(c)
    return _json({
        "title": "gistasks", "description": "Geoprocessing tools and jobs (OGC API - "
        "Processes 1.0; the same jobs as the ArcGIS GP services).",
        "links": [
            {"href": base, "rel": "self", "type": "application/json", "title": "This page"},
            {"href": f"{portal_url(c)}/openapi.json", "rel": "service-desc",
             "type": "application/vnd.oai.openapi+json;version=3.0", "title": "The API"},
            {"href": f"{base}/conformance", "rel": REL + "conformance",
             "type": "application/json", "title": "Conformance"},
            {"href": f"{base}/processes", "rel": REL + "processes",
             "type": "application/json", "title": "Processes"},
            {"href": f"{base}/jobs", "rel": REL + "job-list", "type": "application/json",
             "title": "Jobs"}]})


@route(router, BASE + "/conformance", GET, _ogc("Conformance classes"))
async def conformance(c: CallDep) -> Response:
    return _json({"conformsTo": CONFORMANCE})


@route(router, BASE + "/processes", GET, _ogc("Processes", "Every GP task the caller may "
                                              "use.", (LIMIT,)))
async def processes(c: CallDep) -> Response:
    caller = c.caller_if_any()
    gp = c.services.geoprocessing
    limit = c.form.value(LIMIT, 10_000)
    found = [_summary(c, s, t) for folder in gp.folders(caller)
             for s in gp.services_in(folder, caller) for t in s.tools.values()][:limit]
    return _json({"processes": found, "links": [
        {"href": f"{_base(c)}/processes", "rel": "self", "type": "application/json"}]})


@route(router, BASE + "/processes/{process_id}", GET, _ogc("A process"))
async def process(c: CallDep, process_id: str) -> Response:
    service, tool = _find(c, process_id)
    return _json(_description(c, service, tool))


def _input_values(tool: type[Tool], body: Json) -> Json:
    """The OGC inputs as GP JSON values: qualified values unwrapped, links to files as
    ``{"url"}``."""
    inputs = body.get("inputs") or {}
    if not isinstance(inputs, dict):
        raise ApiError(400, "Invalid 'inputs'", ["'inputs' must be an object keyed by input "
                                                 "id."])
    known = [p.name for p in tool.inputs()]
    unknown = [k for k in inputs if k not in known]
    if unknown:
        raise ApiError(400, "Invalid 'inputs'", [
            f"{unknown[0][:100]!r} is not an input of this process; it takes "
            + (", ".join(repr(k) for k in known) or "none")])
    out: Json = {}
    for param in tool.inputs():
        if param.name not in inputs:
            continue
        value = inputs[param.name]
        file_input = isinstance(param.data_type, GPDataFile) or (
            isinstance(param.data_type, GPMultiValue) and
            isinstance(param.data_type.member, GPDataFile))
        members = value if isinstance(value, list) and file_input else [value]
        unwrapped = []
        for member in members:
            if isinstance(member, dict) and "href" in member and file_input:
                member = {"url": member["href"]}
            elif isinstance(member, dict) and "value" in member and set(member) <= {
                    "value", "mediaType", "encoding", "schema"}:
                member = member["value"]
            unwrapped.append(member)
        out[param.name] = unwrapped if isinstance(value, list) and file_input else unwrapped[0]
    return out


@route(router, BASE + "/processes/{process_id}/execution", POST, _ogc(
    "Execute a process", "A JSON body `{\"inputs\": {...}, \"response\": \"document\"|\"raw\"}`. "
    "Synchronous unless `Prefer: respond-async` (then 201 with `Location`)."))
async def execution(c: CallDep, process_id: str) -> Response:
    service, tool = _find(c, process_id)
    text = getattr(c.request.state, "json_text", None)
    if text is None:
        raise ApiError(400, "Invalid request body", ["Send the execute request as JSON "
                                                     "(Content-Type: application/json)."])
    try:
        body = jsonsafe.loads(text, c.settings.http.max_body_bytes)
    except jsonsafe.JsonError as exc:
        raise ApiError(400, "Invalid request body", [f"The body {exc}."]) from None
    if not isinstance(body, dict):
        raise ApiError(400, "Invalid request body", ["The body must be a JSON object."])
    values = _input_values(tool, body)
    caller = c.caller_if_any()
    gp = c.services.geoprocessing
    prefer = c.request.headers.get("prefer", "").lower()
    origins = [portal_url(c)]
    if "respond-async" in prefer and "wait=" not in prefer:
        job = await c.off_loop(gp.submit, service.path, tool.name, caller, values,
                               mode=JobMode.ASYNC, as_json=True, any_execution=True,
                               origins=origins)
        location = f"{_base(c)}/jobs/{job.id}"
        return _json(status_info(c, job), 201, {"Location": location,
                                                "Preference-Applied": "respond-async"})
    job = await c.waiting_for_a_job(gp.execute, service.path, tool.name, caller, values,
                                    as_json=True, any_execution=True, origins=origins)
    headers = {"Link": f"<{_base(c)}/jobs/{job.id}>; rel=\"monitor\""}
    if job.status != JobStatus.SUCCEEDED:
        texts = [m.get("description", "") for m in messages_of(job)]
        raise ApiError(500, f"The process failed ({job.status}).", texts[-3:])
    results = _results(c, job)
    if body.get("response") == "raw" and len(results) == 1:
        return _json(next(iter(results.values())), 200, headers)
    return _json(results, 200, headers)


@route(router, BASE + "/jobs", GET, _ogc("Jobs", "The caller's jobs (an org admin's: "
                                         "everybody's), newest first.", (LIMIT,)))
async def jobs(c: CallDep) -> Response:
    caller = c.caller()
    limit = c.form.value(LIMIT, 100)
    _, found = c.services.geoprocessing.jobs_of(caller, limit)
    return _json({"jobs": [status_info(c, j) for j in found], "links": [
        {"href": f"{_base(c)}/jobs", "rel": "self", "type": "application/json"}]})


def _job(c: Call, job_id: str) -> JobRecord:
    try:
        return c.services.geoprocessing.job(job_id, c.caller_if_any())
    except NotFoundError:
        raise ApiError(404, f"Job '{job_id}' does not exist.",
                       [EXCEPTIONS + "no-such-job"]) from None


@route(router, BASE + "/jobs/{job_id}", GET, _ogc("A job's status"))
async def job(c: CallDep, job_id: str) -> Response:
    return _json(status_info(c, _job(c, job_id)))


@route(router, BASE + "/jobs/{job_id}", ("DELETE",), _ogc(
    "Dismiss a job", "A job that runs is stopped; one that ended is removed."))
async def dismiss(c: CallDep, job_id: str) -> Response:
    found = _job(c, job_id)
    gp = c.services.geoprocessing
    await c.off_loop(gp.delete, found)
    shown = status_info(c, gp.current(found))
    shown["status"] = "dismissed"
    shown["links"] = [{"href": f"{_base(c)}/jobs", "rel": "up", "type": "application/json"}]
    return _json(shown)


@route(router, BASE + "/jobs/{job_id}/results", GET, _ogc("A job's results"))
async def results(c: CallDep, job_id: str) -> Response:
    found = _job(c, job_id)
    if found.status == JobStatus.SUCCEEDED and not found.deleted:
        return _json(_results(c, found))
    if found.status.finished:
        texts = [m.get("description", "") for m in messages_of(found)]
        raise ApiError(500, f"The job ended {STATUS.get(found.status, 'failed')}: it has no "
                       "results.", texts[-3:])
    raise ApiError(404, "The job has not finished yet.", [EXCEPTIONS + "result-not-ready"])
