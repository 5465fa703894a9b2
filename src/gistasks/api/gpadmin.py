"""Geoprocessing job administration (``/<context>/admin/services/<folder>/<name>.GPServer/jobs``),
as the Administrator API of ArcGIS Enterprise on Kubernetes and ArcGIS Server answer it.

The services tree (``services``, a folder, a service), and a service's jobs: the root,
``query`` (``jobStatus`` repeated once per status, or ``status``; ``startTime``/``endTime``
in seconds, milliseconds or ISO 8601; ``userName``, ``machineName``; 1-based ``start`` and
``number``; ``results`` keyed by job id), ``statistics``, ``purgeQueue``, a job in the seed
page's shape, its ``cancel`` and ``delete``. The default administrator role only; errors in the
Administrator envelope.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter
from starlette.responses import Response

from gistasks.api.admin import ADMINS_ONLY, OK
from gistasks.api.deps import Call, CallDep
from gistasks.api.gp import job_url
from gistasks.api.params import EpochMs, Integer, Text
from gistasks.api.render import ApiError, render
from gistasks.api.spec import POST, READ, Endpoint, route
from gistasks.gp import ServiceDef
from gistasks.services.errors import ServiceError
from gistasks.store.records import JobRecord, JobStatus

router = APIRouter()
TAG = "Geoprocessing administration"
SERVICES = "/services"
SERVICE = SERVICES + "/{folder}/{service_type}"
JOBS = SERVICE + "/jobs"
JOB = JOBS + "/{job_id}"
Json = dict[str, Any]


def _admin(summary: str, answer: str, params: tuple[Any, ...] = (),
           description: str = "") -> Endpoint:
    return Endpoint(summary, answer, params, f"{description} {ADMINS_ONLY}".strip(), tag=TAG)


def _service(c: Call, folder: str, service_type: str) -> ServiceDef:
    """The GP service of ``<name>.GPServer``."""
    c.org_admin()
    name, dot, kind = service_type.rpartition(".")
    if not dot or kind.lower() != "gpserver":
        raise ApiError(404, f"Service '{folder}/{service_type}' does not exist.")
    return c.services.geoprocessing.admin_service(f"{folder}/{name}")


def admin_job_json(c: Call, job: JobRecord) -> Json:
    """A job in the shape of the seed page (``jobs/<jobID>``)."""
    return {"jobId": job.id, "submittedTime": job.submitted,
            "endTime": job.ended if job.ended is not None else -1,
            "status": job.status.value, "username": job.owner,
            "machinename": job.machine, "url": job_url(c, job)}


@route(router, SERVICES, READ, _admin("Services", "AdminServices",
                                      description="The folders of the GP services."))
async def services(c: CallDep) -> Response:
    c.org_admin()
    catalog = c.services.geoprocessing.catalog
    return render({"folderName": "/", "description": "Root folder",
                   "folders": catalog.folders(), "services": [],
                   "foldersDetail": [{"folderName": f, "description": ""}
                                     for f in catalog.folders()]}, c.f, "Services")


@route(router, SERVICES + "/{folder}", READ, _admin("A folder of services",
                                                    "AdminServices"))
async def folder(c: CallDep, folder: str) -> Response:
    c.org_admin()
    found = c.services.geoprocessing.catalog.in_folder(folder)
    if not found:
        raise ApiError(404, f"Folder '{folder}' does not exist.")
    return render({"folderName": found[0].folder, "description": "", "folders": [],
                   "services": [{"folderName": s.folder, "serviceName": s.name,
                                 "type": "GPServer", "description": s.description}
                                for s in found]}, c.f, folder)


@route(router, SERVICE, READ, _admin("A GP service", "AdminService",
                                     description="Its settings."))
async def service(c: CallDep, folder: str, service_type: str) -> Response:
    found = _service(c, folder, service_type)
    return render({
        "serviceName": found.name, "folderName": found.folder, "type": "GPServer",
        "description": found.description, "capabilities": "",
        "maxUsageTime": int(found.time_limit_s), "maxInstancesPerNode":
            found.max_concurrent_jobs,
        "properties": {"executionType": found.execution.esri.removeprefix("esriExecutionType"),
                       "maximumRecords": "1000",
                       "maxJobAgeMinutes": found.max_job_age_minutes,
                       "maxConcurrentJobs": found.max_concurrent_jobs,
                       "public": found.public},
        "resources": ["jobs"], "tasks": list(found.tools)}, c.f, found.path)


@route(router, JOBS, READ, _admin("A service's jobs", "AdminJobsRoot"))
async def jobs(c: CallDep, folder: str, service_type: str) -> Response:
    _service(c, folder, service_type)
    return render({"resources": ["statistics"], "operations": ["query", "purgeQueue"]}, c.f,
                  "Jobs")


class Moment(EpochMs):
    """A time: epoch seconds or milliseconds, or ISO 8601 (``yyyy-mm-ddThh:mm:ss``, UTC when
    it names no zone)."""

    def parse(self, text: str) -> int:
        stripped = text.strip()
        if stripped and not stripped.lstrip("-").replace(".", "", 1).isdigit():
            try:
                moment = datetime.fromisoformat(stripped.replace("Z", "+00:00"))
            except ValueError:
                raise self.invalid(f"'{self.name}' must be epoch seconds or milliseconds, "
                                   "or yyyy-mm-ddThh:mm:ss") from None
            aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
            return int(aware.timestamp() * 1000)
        return super().parse(stripped)


JOB_STATUS = Text("jobStatus", "Only jobs in these statuses; repeat the field for several "
                  "(or separate them with commas).", example="esriJobSucceeded")
STATUS = Text("status", "The same as `jobStatus` (the ArcGIS Server client's name).")
START_TIME = Moment("startTime", "Jobs submitted at or after this time (epoch seconds or "
                    "milliseconds, or ISO 8601).", example=0)
END_TIME = Moment("endTime", "Jobs submitted at or before this time (default: now).")
USER_NAME = Text("userName", "Only the jobs of this user (`null`: anonymous ones).",
                 max_length=128)
MACHINE_NAME = Text("machineName", "Only the jobs run on this machine.", max_length=256)
START = Integer("start", "1-based position of the first job.", example=1, minimum=1,
                maximum=2**31 - 1, default=1)
NUMBER = Integer("number", "Page size (at most 1000).", example=10, minimum=1, maximum=1000,
                 default=10)
QUERY = (JOB_STATUS, STATUS, START_TIME, END_TIME, USER_NAME, MACHINE_NAME, START, NUMBER)


@route(router, JOBS + "/query", READ, _admin(
    "Query a service's jobs", "AdminJobQuery", QUERY,
    "Newest first: `{\"total\", \"num\", \"start\", \"nextStart\" (-1 on the last page), "
    "\"query\", \"results\": {jobId: job}}`."))
async def query(c: CallDep, folder: str, service_type: str) -> Response:
    found = _service(c, folder, service_type)
    statuses = [s.strip() for text in (*c.form.every(JOB_STATUS), *c.form.every(STATUS))
                for s in text.split(",") if s.strip()]
    start, number = c.form.value(START, 1), c.form.value(NUMBER, 10)
    since, until = c.form.get(START_TIME), c.form.get(END_TIME)
    owner = c.form.text(USER_NAME).strip() or None
    machine = c.form.text(MACHINE_NAME).strip() or None
    total, page = c.services.geoprocessing.query(
        found.path, statuses=statuses, since=since, until=until, owner=owner,
        machine=machine, offset=start - 1, limit=number)
    following = start + len(page)
    return render({
        "total": total, "num": len(page), "start": start,
        "nextStart": following if following <= total else -1,
        "query": {"serviceName": f"{found.path}.GPServer", "jobStatus": statuses,
                  "startTime": since, "endTime": until, "userName": owner,
                  "machineName": machine},
        "results": {j.id: admin_job_json(c, j) for j in page}}, c.f, "Jobs")


STATISTIC_NAMES = {JobStatus.NEW: "new", JobStatus.SUBMITTED: "submitted",
                   JobStatus.WAITING: "waiting", JobStatus.EXECUTING: "executing",
                   JobStatus.SUCCEEDED: "succeeded", JobStatus.FAILED: "failed",
                   JobStatus.TIMED_OUT: "timedOut", JobStatus.CANCELLING: "cancelling",
                   JobStatus.CANCELLED: "cancelled"}


@route(router, JOBS + "/statistics", READ, _admin(
    "Job statistics", "AdminJobStatistics",
    description="How many jobs the service has in each status, and `total`."))
async def statistics(c: CallDep, folder: str, service_type: str) -> Response:
    found = _service(c, folder, service_type)
    counts = c.services.geoprocessing.statistics(found.path)
    out: Json = {"total": sum(counts.values())}
    out.update({name: counts.get(status, 0) for status, name in STATISTIC_NAMES.items()})
    return render(out, c.f, "Statistics")


@route(router, JOBS + "/purgeQueue", POST, _admin(
    "Purge the queue", "AdminDone", description="Cancels every job not yet executing "
    "(new, submitted, waiting)."))
async def purge_queue(c: CallDep, folder: str, service_type: str) -> Response:
    found = _service(c, folder, service_type)
    count = await c.off_loop(c.services.geoprocessing.purge_queue, found.path,
                             c.caller().username)
    return render({**OK, "cancelled": count}, c.f, "Queue purged")


def _admin_job(c: Call, folder: str, service_type: str, job_id: str) -> JobRecord:
    found = _service(c, folder, service_type)
    return c.services.geoprocessing.admin_job(found.path, job_id)


@route(router, JOB, READ, _admin("A job", "AdminJob",
                                 description="In the seed page's shape."))
async def job(c: CallDep, folder: str, service_type: str, job_id: str) -> Response:
    found = _admin_job(c, folder, service_type, job_id)
    return render(admin_job_json(c, found), c.f, found.id)


@route(router, JOB + "/cancel", POST, _admin(
    "Cancel a job", "AdminDone", description="A queued or executing job; for any other, "
    "`{\"status\": \"error\", \"messages\": [\"Unable to cancel job :[<id>]\"], \"code\": "
    "500}`. The user's client sees `esriJobCancelled` on its next poll."))
async def cancel(c: CallDep, folder: str, service_type: str, job_id: str) -> Response:
    found = _admin_job(c, folder, service_type, job_id)
    try:
        await c.off_loop(c.services.geoprocessing.cancel, found, c.caller().username)
    except ServiceError:
        raise ApiError(500, f"Unable to cancel job :[{found.id}]") from None
    return render(dict(OK), c.f, "Cancelled")


@route(router, JOB + "/delete", POST, _admin(
    "Delete a job", "AdminDone", description="Stops it if it runs, then removes every trace "
    "of it but a tombstone that tells a client still polling it that it was cancelled."))
async def delete(c: CallDep, folder: str, service_type: str, job_id: str) -> Response:
    found = _admin_job(c, folder, service_type, job_id)
    await c.off_loop(c.services.geoprocessing.delete, found)
    return render(dict(OK), c.f, "Deleted")
