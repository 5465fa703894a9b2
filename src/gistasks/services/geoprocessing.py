"""Geoprocessing services and jobs: every rule of the services directory, ``submitJob`` and
``execute``, a job's status, results and files, cancel and delete, the Administrator API's
job management, and the cleaning of old jobs.

Who may do what:

* A service is used by signed-in users; anonymous callers only where it is ``public``.
* A job belongs to the user who submitted it (anonymous jobs of a public service to whoever
  knows its id). Another user gets 403; an org admin sees and stops every job.
* Inputs are checked against the tool's declaration before anything is queued: a bad value is
  an error naming the parameter, and no job exists.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from gistasks import jsonsafe
from gistasks.engine.jobs import JobRunning
from gistasks.gp import Catalog, Execution, ServiceDef, Tool
from gistasks.gp.datatypes import GPMultiValue
from gistasks.gp.execution import is_file_type
from gistasks.gp.tool import Parameter
from gistasks.security.tokens import same_origin
from gistasks.services.auth import ORG_ADMIN
from gistasks.services.errors import (
    ForbiddenError,
    InvalidParameterError,
    MissingParameterError,
    NotFoundError,
    ServiceError,
    TokenRequiredError,
)
from gistasks.store import Store
from gistasks.store.jobs import messages_list
from gistasks.store.records import (
    JobMode,
    JobRecord,
    JobStatus,
    UserRecord,
)

Json = dict[str, Any]
FILES_PATH = "/rest/directories/arcgisjobs/"
"""Where job files are served, under the context (``<folder>/<service>_gpserver/<job>/...``)."""
_FILE_URL = re.compile(r"/rest/directories/arcgisjobs/(?:[^/]+/)*?(j[0-9a-f]{32})/(.+)$")
SYNC_GRACE_S = 5.0
"""How much longer than its time limit a synchronous ``execute`` waits for its job."""


def new_job_id() -> str:
    """``j`` and 32 hex digits, as ArcGIS job ids."""
    return "j" + uuid.uuid4().hex


def _now_ms() -> int:
    return int(time.time() * 1000)


def messages_of(job: JobRecord) -> list[Json]:
    """A job's messages (an unreadable record gives none)."""
    return messages_list(job.messages)


def values_of(text: str | None) -> Json:
    """A job's inputs or results by parameter name."""
    if not text:
        return {}
    try:
        found = json.loads(text)
    except ValueError:
        return {}
    return found if isinstance(found, dict) else {}


def _no_file(value: Any) -> bool:
    """The official client sends ``{"url": ""}`` for a file input left out."""
    members = value if isinstance(value, list) else [value]
    return all(isinstance(m, dict) and not (m.get("url") or m.get("itemID")) for m in members)


@dataclass(frozen=True, slots=True)
class JobFile:
    """A file of a job's folder that a caller may download."""

    path: Path
    name: str


class GeoprocessingService:
    """The GP services of one deployment and their jobs."""

    def __init__(self, store: Store, catalog: Catalog, runner: JobRunning,
                 own_origins: Callable[[], list[str]],
                 now_ms: Callable[[], int] = _now_ms) -> None:
        self.store = store
        self.catalog = catalog
        self.runner = runner
        self._own_origins = own_origins
        self.now_ms = now_ms

    # -- the directory --------------------------------------------------------------------------

    @staticmethod
    def _may_see(service: ServiceDef, caller: UserRecord | None) -> bool:
        return service.public or caller is not None

    def folders(self, caller: UserRecord | None) -> list[str]:
        """The folders holding services the caller may use."""
        return sorted({s.folder for s in self.catalog.services() if self._may_see(s, caller)},
                      key=str.lower)

    def services_in(self, folder: str, caller: UserRecord | None) -> list[ServiceDef]:
        """The services of ``folder`` the caller may use; NotFoundError for no such folder."""
        found = self.catalog.in_folder(folder)
        if not found:
            raise NotFoundError(f"Folder '{folder}' does not exist.")
        return [s for s in found if self._may_see(s, caller)]

    def service(self, path: str, caller: UserRecord | None) -> ServiceDef:
        """Service ``<folder>/<name>``; NotFoundError, or TokenRequiredError for an anonymous
        caller of a service that is not public."""
        found = self.catalog.get(path)
        if found is None:
            raise NotFoundError(f"Service '{path}' does not exist.")
        if not self._may_see(found, caller):
            raise TokenRequiredError()
        return found

    def tool(self, path: str, name: str, caller: UserRecord | None
             ) -> tuple[ServiceDef, type[Tool]]:
        service = self.service(path, caller)
        tool = service.tool(name)
        if tool is None:
            raise NotFoundError(f"Task '{name}' does not exist in {service.path}.")
        return service, tool

    # -- submitting -----------------------------------------------------------------------------

    def inputs(self, tool: type[Tool], values: Mapping[str, Any], caller: UserRecord | None,
               as_json: bool = False, origins: Sequence[str] = ()
               ) -> tuple[Json, dict[str, list[str]]]:
        """Every input of ``tool`` as its normal JSON value (defaults filled in), and the
        local sources of file inputs; ``values`` are form texts (``as_json``: JSON values).
        InvalidParameterError or MissingParameterError naming the parameter."""
        out: Json = {}
        files: dict[str, list[str]] = {}
        for param in tool.inputs():
            raw = values.get(param.name)
            if raw is None or (isinstance(raw, str) and raw.strip() == ""):
                default = param.default_json()
                if default is None and param.required:
                    raise MissingParameterError(param.name, f"'{param.name}' is required: "
                                                f"{param.description or param.display_name}")
                out[param.name] = default
                continue
            try:
                value = (param.value_of_json(raw) if as_json and not isinstance(raw, str)
                         else param.value_of_text(raw) if isinstance(raw, str)
                         else param.value_of_json(raw))
            except ValueError as exc:
                raise InvalidParameterError(param.name, f"'{param.name}' ({param.data_type}) "
                                            f"{exc}") from None
            if is_file_type(param.data_type):
                if _no_file(value):
                    if param.required:
                        raise MissingParameterError(param.name, f"'{param.name}' is required")
                    out[param.name] = None
                    continue
                files[param.name] = self._sources(param, value, caller, origins)
            out[param.name] = value
        return out, files

    def _sources(self, param: Parameter, value: Any, caller: UserRecord | None,
                 origins: Sequence[str]) -> list[str]:
        """The local files a GPDataFile input names (files this server serves)."""
        members = value if isinstance(param.data_type, GPMultiValue) else [value]
        sources = []
        for member in members:
            url = member.get("url")
            if url is None:
                raise InvalidParameterError(param.name, f"'{param.name}': uploads are not "
                                            "supported; give the URL of a file this server "
                                            "serves (another job's result)")
            sources.append(str(self._local_file(param.name, url, caller, origins)))
        return sources

    def _local_file(self, name: str, url: str, caller: UserRecord | None,
                    origins: Sequence[str]) -> Path:
        parts = urlsplit(url)
        match = _FILE_URL.search(unquote(parts.path))
        if match is None or (parts.netloc and not same_origin(
                url, (*self._own_origins(), *origins))):
            raise InvalidParameterError(name, f"'{name}': only files this server serves can "
                                        "be inputs (the URL of another job's file result)")
        job = self.store.jobs.get(match[1])
        if job is None or job.deleted or not self._may_read(job, caller):
            raise InvalidParameterError(name, f"'{name}': the file {url} does not exist or "
                                        "is not yours")
        return self.job_file(job, match[2]).path

    def submit(self, path: str, tool_name: str, caller: UserRecord | None,
               values: Mapping[str, Any], *, mode: JobMode = JobMode.ASYNC,
               as_json: bool = False, any_execution: bool = False,
               origins: Sequence[str] = ()) -> JobRecord:
        """Queue a job of tool ``tool_name`` of service ``path`` with ``values`` (form texts,
        or JSON values with ``as_json``). ``submitJob`` is for asynchronous services and
        ``execute`` (``mode=sync``) for synchronous ones, unless ``any_execution`` (OGC API -
        Processes lets the caller choose)."""
        service, tool = self.tool(path, tool_name, caller)
        if not any_execution:
            wanted = Execution.SYNCHRONOUS if mode == JobMode.SYNC else Execution.ASYNCHRONOUS
            if service.execution != wanted:
                op = "execute" if mode == JobMode.SYNC else "submitJob"
                other = "submitJob" if mode == JobMode.SYNC else "execute"
                raise ServiceError(f"'{op}' is not supported by {service.path}: it is "
                                   f"{service.execution.value}",
                                   [f"Use '{other}' with this service."])
        inputs, files = self.inputs(tool, values, caller, as_json, origins)
        now = self.now_ms()
        job = JobRecord(
            id=new_job_id(), service=service.path, tool=tool.name,
            owner=None if caller is None else caller.username, status=JobStatus.SUBMITTED,
            mode=mode, inputs=jsonsafe.dumps(inputs), files=json.dumps(files), results=None,
            messages=json.dumps([{"type": "esriJobMessageTypeInformative",
                                  "description": "Submitted."}]),
            progress=None, node=self.runner.node if mode == JobMode.SYNC else None,
            machine=None, lease_until=None, submitted=now, started=None, ended=None,
            modified=now, deleted=False)
        stored = self.store.jobs.submit(job, service.max_concurrent_jobs)
        self.runner.wake()
        return stored

    def execute(self, path: str, tool_name: str, caller: UserRecord | None,
                values: Mapping[str, Any], *, as_json: bool = False,
                any_execution: bool = False, origins: Sequence[str] = ()) -> JobRecord:
        """Run a job and wait for its end (at most its service's time limit and a grace);
        the job as it ended."""
        job = self.submit(path, tool_name, caller, values, mode=JobMode.SYNC,
                          as_json=as_json, any_execution=any_execution, origins=origins)
        service = self.service(path, caller)
        ended = self.runner.wait(job.id, service.time_limit_s + SYNC_GRACE_S)
        return ended or job

    # -- jobs -----------------------------------------------------------------------------------

    @staticmethod
    def _may_read(job: JobRecord, caller: UserRecord | None) -> bool:
        if job.owner is None:
            return True
        if caller is None:
            return False
        return caller.role == ORG_ADMIN or caller.username.lower() == job.owner.lower()

    def job(self, job_id: str, caller: UserRecord | None, path: str | None = None,
            tool_name: str | None = None) -> JobRecord:
        """A job the caller may see, found under its service (and tool) when given;
        NotFoundError, TokenRequiredError or ForbiddenError."""
        if path is not None:
            service = self.service(path, caller)
            if tool_name is not None and service.tool(tool_name) is None:
                raise NotFoundError(f"Task '{tool_name}' does not exist in {service.path}.")
        job = self.store.jobs.get(job_id) if job_id.startswith("j") else None
        if job is None or (path is not None and job.service.lower() != path.lower()) or \
                (tool_name is not None and job.tool.lower() != tool_name.lower()):
            raise NotFoundError(f"Job '{job_id}' does not exist.")
        if not self._may_read(job, caller):
            if caller is None:
                raise TokenRequiredError()
            raise ForbiddenError()
        return job

    def current(self, job: JobRecord) -> JobRecord:
        """The job as it is stored now (``job`` itself if it has gone)."""
        return self.store.jobs.get(job.id) or job

    def jobs_of(self, caller: UserRecord, limit: int) -> tuple[int, list[JobRecord]]:
        """The newest jobs ``caller`` may see (an org admin's: everybody's), for the OGC job
        list."""
        owner = None if caller.role == ORG_ADMIN else caller.username
        return self.store.jobs.query(owner=owner, limit=limit)

    def value(self, job: JobRecord, name: str, results: bool) -> tuple[Parameter, Any]:
        """The declaration and the normal JSON value of one result (or input) of a job;
        NotFoundError when the job has none such (yet)."""
        service = self.catalog.get(job.service)
        tool = service.tool(job.tool) if service is not None else None
        param = tool.parameter(name) if tool is not None else None
        if param is None and tool is not None:
            param = next((p for p in tool.parameters if p.name.lower() == name.lower()), None)
        kind = "result" if results else "input"
        if param is None or param.is_input == results:
            raise NotFoundError(f"Parameter '{name}' is not a{'n' if not results else ''} "
                                f"{kind} of {job.tool}.")
        if job.deleted:
            raise NotFoundError(f"Job '{job.id}' was deleted: its {kind}s are gone.")
        values = values_of(job.results if results else job.inputs)
        if results and job.status != JobStatus.SUCCEEDED:
            raise NotFoundError(f"Job '{job.id}' has no results: it is {job.status}.")
        return param, values.get(param.name)

    def job_file(self, job: JobRecord, relative: str) -> JobFile:
        """A file in the job's folder; NotFoundError for anything else (outside the folder,
        a link, a folder, a deleted job)."""
        if job.deleted:
            raise NotFoundError("The file does not exist.")
        base = self.runner.folder(job.id).resolve()
        clean = relative.strip("/")
        if not clean or any(p in ("..", "") for p in clean.split("/")):
            raise NotFoundError("The file does not exist.")
        target = base.joinpath(*clean.split("/"))
        try:
            resolved = target.resolve(strict=True)
        except (OSError, RuntimeError):
            raise NotFoundError("The file does not exist.") from None
        if not resolved.is_relative_to(base) or not resolved.is_file() or \
                any(p.is_symlink() for p in [target, *target.parents] if p != base and
                    p.is_relative_to(base)):
            raise NotFoundError("The file does not exist.")
        return JobFile(resolved, resolved.name)

    def cancel(self, job: JobRecord, by: str = "") -> JobStatus:
        """Stop a job: a queued one is cancelled at once, a running one is cancelling until its
        node has stopped it. ServiceError when the job has ended."""
        text = "Cancel requested" + (f" by {by}." if by else ".")
        status = self.store.jobs.cancel(job.id, self.now_ms(), text)
        if status is None:
            current = self.store.jobs.get(job.id)
            if current is not None and current.status == JobStatus.CANCELLING:
                return JobStatus.CANCELLING
            state = current.status if current is not None else job.status
            raise ServiceError(f"Unable to cancel job :[{job.id}]",
                               [f"The job has ended ({state}): only queued and executing "
                                "jobs can be cancelled."])
        if status == JobStatus.CANCELLING:
            self.runner.cancel(job.id)
        return status

    def delete(self, job: JobRecord) -> None:
        """Remove a job's inputs, results and files (a running job is stopped first); its id
        keeps answering a final status, so a client still polling it stops."""
        found = self.store.jobs.delete(job.id, self.now_ms())
        if found is None:
            return
        if found.status in (JobStatus.EXECUTING, JobStatus.CANCELLING):
            self.runner.cancel(job.id)  # the runner removes the folder once it has stopped
        else:
            self.runner.remove_folder(job.id)

    # -- administration -------------------------------------------------------------------------

    def admin_service(self, path: str) -> ServiceDef:
        found = self.catalog.get(path)
        if found is None:
            raise NotFoundError(f"Service '{path}' does not exist.")
        return found

    def admin_job(self, path: str, job_id: str) -> JobRecord:
        service = self.admin_service(path)
        job = self.store.jobs.get(job_id) if job_id.startswith("j") else None
        if job is None or job.deleted or job.service.lower() != service.path.lower():
            raise NotFoundError(f"Job '{job_id}' does not exist.")
        return job

    def query(self, path: str, *, statuses: list[str], since: int | None, until: int | None,
              owner: str | None, machine: str | None, offset: int, limit: int
              ) -> tuple[int, list[JobRecord]]:
        """A page of a service's jobs, newest first, filtered as the admin query filters."""
        service = self.admin_service(path)
        known = {s.value.lower(): s for s in JobStatus}
        wanted = []
        for s in statuses:
            status = known.get(s.strip().lower())
            if status is None:
                raise InvalidParameterError("jobStatus", f"'jobStatus' must be one of "
                                            f"{', '.join(known[k] for k in known)}")
            if status.value not in wanted:  # a status repeated a thousand times is one
                wanted.append(status.value)
        null_owner = owner is not None and owner.strip().lower() == "null"
        return self.store.jobs.query(
            service=service.path, statuses=wanted, since=since, until=until,
            owner=None if null_owner else owner, owner_is_null=null_owner, machine=machine,
            offset=offset, limit=limit)

    def statistics(self, path: str) -> dict[JobStatus, int]:
        return self.store.jobs.statistics(self.admin_service(path).path)

    def purge_queue(self, path: str, by: str) -> int:
        """Cancel every queued job of the service; how many."""
        service = self.admin_service(path)
        return self.store.jobs.purge_queue(service.path, self.now_ms(),
                                           f"Cancelled: {by} purged the queue.")

    # -- cleaning -------------------------------------------------------------------------------

    def clean(self) -> str:
        """Remove the finished jobs older than their service's maximum job age, with their
        folders; the text of the CleanGPJobs run."""
        now = self.now_ms()
        ages = {s.path: int(s.max_job_age_minutes * 60_000) for s in self.catalog.services()}
        default = 360 * 60_000
        removed: list[str] = []
        while True:
            batch = self.store.jobs.expired(now, ages, default)
            for job_id in batch:
                self.runner.remove_folder(job_id)
            removed.extend(batch)
            if len(batch) < 500:
                break
        return f"GP Jobs have been cleaned. Removed {len(removed)} job(s) and their files."

