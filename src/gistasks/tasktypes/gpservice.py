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
import re
import time
from typing import Any
from urllib.parse import urlsplit

from gistasks import jsonsafe
from gistasks.jsonsafe import JsonError
from gistasks.security.tokens import same_origin
from gistasks.store.records import RunStatus
from gistasks.tasktypes.base import Outcome, RunContext, TaskType

POLL_S = 1.0
"""The first polls are a second apart, then slower (up to ``MAX_POLL_S``)."""
MAX_POLL_S = 10.0
LOST_AFTER = 10
"""Consecutive failed polls after which the job is given up as lost."""
TIMEOUT_S = 30.0
MAX_ANSWER_BYTES = 8 * 1024 * 1024
"""The largest answer read from a GP service (a job's JSON is a few kilobytes; a server that
sends more is not one)."""
FINAL = {"esriJobSucceeded", "esriJobFailed", "esriJobTimedOut", "esriJobCancelled"}


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    return json.dumps(value, separators=(",", ":"))


JOB_ID = re.compile(r"[A-Za-z0-9_.-]{1,128}")
"""A job id fit to be put in a URL (ArcGIS's are "j" and 32 hex digits)."""


def _call(client: Any, method: str, url: str, **kwargs: Any) -> tuple[int, Any]:
    """The HTTP status and JSON answer of a request, reading at most ``MAX_ANSWER_BYTES``;
    JsonError for an answer that is larger or not strict JSON."""
    with client.stream(method, url, **kwargs) as answer:
        data = bytearray()
        for chunk in answer.iter_bytes():
            data += chunk
            if len(data) > MAX_ANSWER_BYTES:
                raise JsonError(f"the answer is larger than {MAX_ANSWER_BYTES >> 20} MB")
        status = answer.status_code
    return status, jsonsafe.loads(data.decode("utf-8", "replace"), MAX_ANSWER_BYTES)


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
        hooks: dict[str, list[Any]] = {}
        token_for = d.token_for
        if own and token_for is not None:
            def sign(request: httpx.Request) -> None:
                # A token of its own per request: a run may follow its job for hours,
                # longer than any one token lives.
                request.headers["X-Esri-Authorization"] = f"Bearer {token_for(ctx.owner)}"
            hooks["request"] = [sign]
        verify: Any = (d.ca_file or True) if own else True
        form = {k: _text(v) for k, v in ctx.parameters.items()}
        form["f"] = "json"
        with httpx.Client(event_hooks=hooks, verify=verify, timeout=TIMEOUT_S) as client:
            try:
                status, body = _call(client, "POST", f"{url}/submitJob", data=form)
            except (httpx.HTTPError, JsonError) as exc:
                return Outcome(RunStatus.SUBMITFAILED, f"submitJob to {url} failed: {exc}",
                               url)
            job_id = body.get("jobId") if isinstance(body, dict) else None
            if status >= 400 or not isinstance(job_id, str) or not JOB_ID.fullmatch(job_id):
                error = body.get("error", body) if isinstance(body, dict) else body
                return Outcome(RunStatus.SUBMITFAILED, f"submitJob was refused (HTTP "
                               f"{status}): {json.dumps(error)[:2000]}", url)
            return self._follow(client, f"{url}/jobs/{job_id}", ctx)

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
                _, found = _call(client, "GET", job_url, params={"f": "json"})
            except (httpx.HTTPError, JsonError) as exc:
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
