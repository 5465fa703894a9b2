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

import json
from typing import Any
from urllib.parse import urlsplit

from gistasks.jsonsafe import JsonError
from gistasks.security.tokens import same_origin
from gistasks.store.records import RunStatus
from gistasks.tasktypes.base import Outcome, RunContext, TaskType
from gistasks.tasktypes.remote import (
    JOB_ID,
    TIMEOUT_S,
    call,
    follow_job,
    form_text,
    refuse_internal,
)


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
        elif not own:  # another server: not one inside this server's network
            hooks["request"] = [refuse_internal]
        verify: Any = (d.ca_file or True) if own else True
        form = {k: form_text(v) for k, v in ctx.parameters.items()}
        form["f"] = "json"
        with httpx.Client(event_hooks=hooks, verify=verify, timeout=TIMEOUT_S) as client:
            try:
                status, body = call(client, "POST", f"{url}/submitJob", data=form)
            except (httpx.HTTPError, JsonError) as exc:
                return Outcome(RunStatus.SUBMITFAILED, f"submitJob to {url} failed: {exc}",
                               url)
            job_id = body.get("jobId") if isinstance(body, dict) else None
            if status >= 400 or not isinstance(job_id, str) or not JOB_ID.fullmatch(job_id):
                error = body.get("error", body) if isinstance(body, dict) else body
                return Outcome(RunStatus.SUBMITFAILED, f"submitJob was refused (HTTP "
                               f"{status}): {json.dumps(error)[:2000]}", url)
            return follow_job(client, f"{url}/jobs/{job_id}", ctx)
