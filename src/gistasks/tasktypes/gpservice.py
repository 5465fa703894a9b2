"""``GPService``: a scheduled geoprocessing job (ArcGIS's scheduled web tool).

The task's ``taskURL`` is an asynchronous GP task (``https://host/<ctx>/rest/services/
<folder>/<service>/GPServer/<task>``), on this server or on another ArcGIS Server; its
``parameters`` are the task's inputs by name. Each fire submits a job (``submitJob``, each
value a form field, objects as JSON), follows it to its end (polling its status), and records:

* ``succeeded`` or ``failed`` as the job ended, the job's URL in the run's ``url``, and in
  ``result`` the final status and the result URLs, or the job's last error message;
* ``submitfailed`` when the service cannot be reached or refuses the job (the reason in
  ``result``).

The owner's token goes only to this deployment's own origins (a short-lived token minted for
the owner); other servers are called without one (public services). Calls to this server
trust its own certificate; others are verified against the system's authorities.
"""

from __future__ import annotations

import contextlib
import json
import time
from typing import Any
from urllib.parse import urlsplit

from gistasks.security.tokens import same_origin
from gistasks.store.records import RunStatus
from gistasks.tasktypes.base import Outcome, RunContext, TaskType

POLL_S = 1.0
"""The first polls are a second apart, then slower (up to ``MAX_POLL_S``)."""
MAX_POLL_S = 10.0
LOST_AFTER = 10
"""Consecutive failed polls after which the job is given up as lost."""
TIMEOUT_S = 30.0
FINAL = {"esriJobSucceeded", "esriJobFailed", "esriJobTimedOut", "esriJobCancelled"}


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    return json.dumps(value, separators=(",", ":"))


class GPService(TaskType):
    name = "GPService"
    needs_task_url = True
    idempotent = False
    time_limit_s = 24 * 3600.0

    def execute(self, ctx: RunContext) -> Outcome:
        import httpx

        url = (ctx.task_url or "").rstrip("/")
        parts = urlsplit(url)
        if parts.scheme not in ("https", "http") or "/GPServer/" not in parts.path:
            return Outcome(RunStatus.SUBMITFAILED, f"taskURL {url!r} is not the URL of a GP "
                           "task (https://host/.../GPServer/<task>)")
        d = self.deployment
        own = same_origin(url, d.own_origins)
        headers = {}
        if own and d.token_for is not None:
            headers["X-Esri-Authorization"] = f"Bearer {d.token_for(ctx.owner)}"
        verify: Any = (d.ca_file or True) if own else True
        form = {k: _text(v) for k, v in ctx.parameters.items()}
        form["f"] = "json"
        with httpx.Client(headers=headers, verify=verify, timeout=TIMEOUT_S) as client:
            try:
                answer = client.post(f"{url}/submitJob", data=form)
                body = answer.json()
            except (httpx.HTTPError, ValueError) as exc:
                return Outcome(RunStatus.SUBMITFAILED, f"submitJob to {url} failed: {exc}",
                               url)
            if answer.status_code >= 400 or not isinstance(body, dict) or "jobId" not in body:
                error = body.get("error", body) if isinstance(body, dict) else body
                return Outcome(RunStatus.SUBMITFAILED, f"submitJob was refused (HTTP "
                               f"{answer.status_code}): {json.dumps(error)[:2000]}", url)
            job_url = f"{url}/jobs/{body['jobId']}"
            return self._follow(client, job_url, ctx)

    @staticmethod
    def _follow(client: Any, job_url: str, ctx: RunContext) -> Outcome:
        import httpx

        wait, failures, status = POLL_S, 0, ""
        job: dict[str, Any] = {}
        started = time.monotonic()
        while status not in FINAL:
            if ctx.cancelled.wait(wait):
                with contextlib.suppress(httpx.HTTPError):
                    client.get(f"{job_url}/cancel", params={"f": "json"})
                return Outcome(RunStatus.FAILED, "the run was stopped; its job was cancelled",
                               job_url)
            if time.monotonic() - started > 10:
                wait = min(MAX_POLL_S, wait * 1.5)
            try:
                found = client.get(job_url, params={"f": "json"}).json()
            except (httpx.HTTPError, ValueError) as exc:
                failures += 1
                if failures >= LOST_AFTER:
                    return Outcome(RunStatus.FAILED, f"the job was lost: {exc}", job_url)
                continue
            if not isinstance(found, dict) or "jobStatus" not in found:
                failures += 1
                if failures >= LOST_AFTER:
                    return Outcome(RunStatus.FAILED, "the job was lost: "
                                   f"{json.dumps(found)[:500]}", job_url)
                continue
            failures, job, status = 0, found, str(found["jobStatus"])
        if status == "esriJobSucceeded":
            results = job.get("results") or {}
            shown = ", ".join(f"{name}: {job_url}/{r.get('paramUrl', '')}"
                              for name, r in results.items() if isinstance(r, dict))
            return Outcome(RunStatus.SUCCEEDED, f"{status}" + (f"; results {shown}"
                                                              if shown else ""), job_url)
        errors = [m.get("description", "") for m in job.get("messages", [])
                  if isinstance(m, dict) and m.get("type") == "esriJobMessageTypeError"]
        return Outcome(RunStatus.FAILED, f"{status}" + (f": {errors[-1]}" if errors else ""),
                       job_url)
