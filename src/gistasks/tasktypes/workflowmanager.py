"""``ExecuteWorkflowManager``: create jobs from an ArcGIS Workflow Manager job template.

The task's ``itemId`` is the Workflow Manager item (the workflow). Each fire creates jobs with
one call, ``POST <workflowManagerUrl>/workflow/<itemId>/jobTemplates/<jobTemplateId>/job``
with the ``job`` object as its JSON body (Workflow Manager's "Create jobs"; reference
task-types.md §4), and records:

* ``succeeded`` when it answers ``{"jobIds": [...]}``: ``result`` is ``Created jobs: <ids>``
  (the first 20, then how many more) and ``url`` is ``<workflowManagerUrl>/workflow/
  <itemId>/jobs/<first id>``;
* ``submitfailed`` when the server cannot be reached (nothing was sent) or refuses the
  creation (an ``{"error": …}`` answer or an HTTP error status), with its message;
* ``failed`` when the answer is lost or cannot be read after the request went out (jobs may
  have been created: the result says so).

The call is synchronous: there is no job to follow. The parameters (checked at
``createTask``; the task parameters of this type are not documented by Esri, this is
gistasks' choice, as the reference recommends):

``workflowManagerUrl`` (required)
    The Workflow Manager server, an https URL (``https://host/server``; in ArcGIS Enterprise
    the entry of ``portals/self/servers`` whose ``serverFunction`` is ``WorkflowManager``). A
    trailing ``/workflow`` is dropped.
``jobTemplateId`` (required)
    The job template's id (letters, digits, ``_``, ``-``, ``.``).
``job``
    The body of "Create jobs", as an object or its JSON text; default ``{"numberOfJobs": 1}``.
    Its fields are checked: ``numberOfJobs`` an integer from 1 to 10,000 (default 1);
    ``assignedType`` ``User``, ``Group`` or ``Unassigned``; ``startDate`` and ``dueDate``
    ISO 8601 times, the due date not before the start date; ``percentComplete`` 0 to 100;
    ``jobName``, ``priority``, ``description``, ``ownedBy``, ``assignedTo``, ``notes``,
    ``parentJob`` text; ``location`` an object with a ``geometryType`` and a ``geometry``;
    ``extendedProperties`` a list of objects (one object is made a list);
    ``relatedProperties`` an object. ``jobId`` is refused: every fire would create a job with
    the same id. Any other field is refused, naming it.
``token``, or ``portalUrl`` with ``username`` and ``password``
    How to sign in (see ``tasktypes.remote``; the token travels in the
    ``X-Esri-Authorization`` header, never in the body). Creating jobs needs Workflow
    Manager's ``jobCreate`` privilege.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import quote

from gistasks.jsonsafe import JsonError
from gistasks.store.records import RunStatus
from gistasks.tasktypes.base import Outcome, RunContext
from gistasks.tasktypes.remote import (
    AUTH_KEYS,
    SEGMENT,
    Credentials,
    Remote,
    RemoteTaskType,
    auth_parameters,
    choice,
    error_text,
    https_url,
    integer,
    is_unreachable,
    json_value,
    only,
    parse,
    read,
    run_remote,
    segment,
    shown,
    text,
)

MAX_JOBS = 10_000
"""Workflow Manager creates at most this many jobs per request."""
SHOWN_IDS = 20
ASSIGNED_TYPES = ("User", "Group", "Unassigned")
TEXT_FIELDS = ("jobName", "priority", "description", "ownedBy", "assignedTo", "notes",
               "parentJob")
JOB_FIELDS = ("numberOfJobs", *TEXT_FIELDS, "startDate", "dueDate", "assignedType",
              "percentComplete", "location", "extendedProperties", "relatedProperties",
              "jobId")


def _time(value: Any, name: str) -> dt.datetime:
    try:
        moment = dt.datetime.fromisoformat(text(value, name, 64).strip())
    except ValueError:
        raise ValueError(f"'{name}' must be an ISO 8601 time (2025-01-31T08:00:00Z), not "
                         f"{shown(value)}") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def _job(value: Any) -> dict[str, Any]:
    job = json_value({} if value in (None, "") else value, "job")
    if not isinstance(job, dict):
        raise ValueError(f"'job' must be an object (the body of Create jobs), not {shown(value)}")
    only(job, JOB_FIELDS, "a job of Workflow Manager ('job')")
    out: dict[str, Any] = {}
    count = job.get("numberOfJobs")
    out["numberOfJobs"] = 1 if count in (None, "") else integer(
        count, "job.numberOfJobs", 1, MAX_JOBS)
    for key in TEXT_FIELDS:
        if job.get(key) is not None:
            out[key] = text(job[key], f"job.{key}")
    if job.get("assignedType") not in (None, ""):
        out["assignedType"] = choice(job["assignedType"], "job.assignedType", ASSIGNED_TYPES)
    times = {}
    for key in ("startDate", "dueDate"):
        if job.get(key) not in (None, ""):
            times[key] = _time(job[key], f"job.{key}")
            out[key] = job[key].strip()
    if len(times) == 2 and times["dueDate"] < times["startDate"]:
        raise ValueError("'job.dueDate' must not be before 'job.startDate'")
    if job.get("percentComplete") is not None:
        out["percentComplete"] = integer(job["percentComplete"], "job.percentComplete", 0, 100)
    location = job.get("location")
    if location is not None:
        if not (isinstance(location, dict) and isinstance(location.get("geometryType"), str)
                and isinstance(location.get("geometry"), str | dict)):
            raise ValueError("'job.location' must be an object with a 'geometryType' and a "
                             "'geometry'")
        out["location"] = location
    extended = job.get("extendedProperties")
    if extended is not None:
        extended = [extended] if isinstance(extended, dict) else extended
        if not (isinstance(extended, list) and all(isinstance(e, dict) for e in extended)):
            raise ValueError("'job.extendedProperties' must be a list of objects")
        out["extendedProperties"] = extended
    related = job.get("relatedProperties")
    if related is not None:
        if not isinstance(related, dict):
            raise ValueError("'job.relatedProperties' must be an object")
        out["relatedProperties"] = related
    if job.get("jobId") not in (None, ""):
        raise ValueError("'job.jobId' cannot be set in a scheduled task: every fire would "
                         "create a job with the same id")
    return out


class ExecuteWorkflowManager(RemoteTaskType):
    name = "ExecuteWorkflowManager"
    needs_item = True
    idempotent = False
    time_limit_s = 600.0

    def validate(self, parameters: dict[str, Any]) -> dict[str, Any]:
        """The parameters, normalised (``job`` with its ``numberOfJobs``); ValueError naming
        a bad one."""
        only(parameters, ("workflowManagerUrl", "jobTemplateId", "job", *AUTH_KEYS),
             self.name)
        for key in ("workflowManagerUrl", "jobTemplateId"):
            if parameters.get(key) in (None, ""):
                raise ValueError(f"'{key}' is required")
        base = https_url(parameters["workflowManagerUrl"], "workflowManagerUrl")
        out: dict[str, Any] = {
            "workflowManagerUrl": base.removesuffix("/workflow"),
            "jobTemplateId": segment(parameters["jobTemplateId"], "jobTemplateId"),
            "job": _job(parameters.get("job")),
        }
        out.update(auth_parameters(parameters))
        return out

    def run(self, ctx: RunContext, p: dict[str, Any]) -> Outcome:
        if not ctx.item_id or not SEGMENT.fullmatch(ctx.item_id):
            return Outcome(RunStatus.SUBMITFAILED, f"the task's itemId {ctx.item_id!r} is not "
                           "the id of a Workflow Manager item")
        base = f"{p['workflowManagerUrl']}/workflow/{ctx.item_id}"
        url = f"{base}/jobTemplates/{p['jobTemplateId']}/job"
        return run_remote(Credentials.of(p),
                          lambda remote: self._create(remote, base, url, p["job"]))

    @staticmethod
    def _create(remote: Remote, base: str, url: str, job: dict[str, Any]) -> Outcome:
        import httpx

        try:
            status, data = read(remote.client, "POST", url, json=job)
        except (httpx.HTTPError, JsonError) as exc:
            if isinstance(exc, httpx.HTTPError) and is_unreachable(exc):
                return Outcome(RunStatus.SUBMITFAILED, f"Workflow Manager at {url} could not "
                               f"be reached: {exc}", url)
            return Outcome(RunStatus.FAILED, f"the answer of Workflow Manager at {url} was "
                           f"lost ({exc}); jobs may have been created", url)
        try:
            body = parse(data)
        except JsonError as exc:
            if status >= 400:
                return Outcome(RunStatus.SUBMITFAILED, f"Workflow Manager refused to create "
                               f"jobs (HTTP {status}): {data[:500].decode('utf-8', 'replace')}",
                               url)
            return Outcome(RunStatus.FAILED, f"Workflow Manager's answer (HTTP {status}) is "
                           f"not JSON ({exc}); jobs may have been created", url)
        if status >= 400 or (isinstance(body, dict) and "error" in body):
            return Outcome(RunStatus.SUBMITFAILED, f"Workflow Manager refused to create jobs "
                           f"(HTTP {status}): {error_text(body)}", url)
        ids = body.get("jobIds") if isinstance(body, dict) else None
        if not (isinstance(ids, list) and ids and all(isinstance(i, str) and i for i in ids)):
            return Outcome(RunStatus.FAILED, f"Workflow Manager answered without the ids of "
                           f"the jobs it created: {error_text(body, 500)}", url)
        listed = ", ".join(ids[:SHOWN_IDS]) + (f" and {len(ids) - SHOWN_IDS} more"
                                               if len(ids) > SHOWN_IDS else "")
        return Outcome(RunStatus.SUCCEEDED, f"Created jobs: {listed}",
                       f"{base}/jobs/{quote(ids[0], safe='')}")
