"""``ExecuteSceneCook``: rebuild or update a scene layer's cache on its hosting server.

Each fire submits a job to the hosting server's scene caching controller,
``POST <hosting>/rest/services/System/SceneCachingControllers/GPServer/Manage%20Scene%20Cache/
submitJob``, with the tool's six inputs as form fields and ``f=json``, follows it to its end
(``jobs/<id>``, polled as GPService polls; a stopped run cancels it) and records:

* ``succeeded`` or ``failed`` as the job ended, with the job's URL as the run's ``url`` and,
  in ``result``, the final status and the result URLs, or the job's last error message;
* ``submitfailed`` when the hosting server (or the portal, to sign in) cannot be reached or
  refuses the job (the reason in ``result``).

The parameters (checked at ``createTask``; the inputs are those of the tool, reference
task-types.md §2):

``service_url`` (required)
    The scene service: an https URL ending in ``/SceneServer`` or ``/SceneServer/layers/<n>``.
    Sent as it is.
``num_of_caching_service_instances``
    A positive integer (a GPLong, at most 2³¹-1), as a number or as text; default ``2`` (the
    documentation says two instances are required).
``layer``
    The layers to cook, as JSON text or as a JSON value (an object, or a list of layer ids; a
    single id becomes a list); default and ``{}``: all layers. Sent as compact JSON text. The
    grammar beyond ``{}`` is not documented publicly (UNCONFIRMED).
``update_mode``
    ``RECREATE_ALL_NODES`` (default), ``RECREATE_EMPTY_NODES``, ``PARTIAL_UPDATE_NODES`` or
    ``PARTIAL_UPDATE_ATTRIBUTES`` (any case, stored in capitals).
``update_extent``
    ``DEFAULT`` (default), or an extent (an object with ``xmin``, ``ymin``, ``xmax``,
    ``ymax``), sent as JSON.
``area_of_interest``
    Optional: a polygon feature set (an object, or its JSON text), sent as JSON.
``hostingServerUrl``
    Optional: the hosting server (``https://host/server``). By default it is the part of
    ``service_url`` before ``/rest/services/``.
``token``, or ``portalUrl`` with ``username`` and ``password``
    How to sign in (see ``tasktypes.remote``): the token only ever travels in the
    ``X-Esri-Authorization`` header, never as an input of the tool.

Any other key is refused, naming it. The job is the hosting server's: the run runs in a thread
and may follow it for a day.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from gistasks.jsonsafe import JsonError
from gistasks.store.records import RunStatus
from gistasks.tasktypes.base import Outcome, RunContext
from gistasks.tasktypes.remote import (
    AUTH_KEYS,
    GPLONG_MAX,
    JOB_ID,
    Credentials,
    Remote,
    RemoteTaskType,
    auth_parameters,
    call,
    choice,
    error_text,
    follow_job,
    form_text,
    https_url,
    integer,
    json_value,
    only,
    run_remote,
    shown,
)

UPDATE_MODES = ("RECREATE_ALL_NODES", "RECREATE_EMPTY_NODES", "PARTIAL_UPDATE_NODES",
                "PARTIAL_UPDATE_ATTRIBUTES")
TOOL = "rest/services/System/SceneCachingControllers/GPServer/Manage%20Scene%20Cache"
"""The Manage Scene Cache task, below the hosting server's URL."""
INPUTS = ("service_url", "num_of_caching_service_instances", "layer", "update_mode",
          "update_extent", "area_of_interest")
"""The tool's inputs: the only form fields of ``submitJob`` besides ``f``."""
SCENE_SERVICE = re.compile(r"/SceneServer(/layers/[0-9]{1,9})?$", re.I)
EXTENT_KEYS = ("xmin", "ymin", "xmax", "ymax")


def _hosting(service_url: str, given: Any) -> str:
    if given not in (None, ""):
        url = https_url(given, "hostingServerUrl")
        return url.removesuffix("/rest/services").removesuffix("/rest")
    head, found, _ = service_url.partition("/rest/services/")
    if not found:
        raise ValueError("'hostingServerUrl' is required when 'service_url' has no "
                         "'/rest/services/' in it")
    return head


def _layer(value: Any) -> str:
    if value in (None, ""):
        return "{}"
    layer = json_value(value, "layer")
    if isinstance(layer, int) and not isinstance(layer, bool):
        layer = [layer]
    ids_ok = isinstance(layer, list) and all(
        isinstance(i, int) and not isinstance(i, bool) and i >= 0 for i in layer)
    if not (isinstance(layer, dict) or ids_ok):
        raise ValueError(f"'layer' must be '{{}}' (all layers), an object or a list of layer "
                         f"ids, not {shown(value)}")
    return form_text(layer)


def _extent(value: Any) -> str | dict[str, Any]:
    if value in (None, ""):
        return "DEFAULT"
    if isinstance(value, str) and value.strip().upper() == "DEFAULT":
        return "DEFAULT"
    try:
        extent = json_value(value, "update_extent")
    except ValueError:
        extent = None
    if not (isinstance(extent, dict) and all(
            isinstance(extent.get(k), int | float) and not isinstance(extent.get(k), bool)
            for k in EXTENT_KEYS)):
        raise ValueError(f"'update_extent' must be DEFAULT or an extent (xmin, ymin, xmax, "
                         f"ymax), not {shown(value)}")
    return dict(extent)


def _area(value: Any) -> dict[str, Any]:
    area = json_value(value, "area_of_interest")
    if not isinstance(area, dict) or not isinstance(area.get("features", []), list):
        raise ValueError(f"'area_of_interest' must be a feature set (an object with "
                         f"'features'), not {shown(value)}")
    return dict(area)


class ExecuteSceneCook(RemoteTaskType):
    name = "ExecuteSceneCook"
    idempotent = False
    time_limit_s = 24 * 3600.0

    def validate(self, parameters: dict[str, Any]) -> dict[str, Any]:
        """The parameters with their defaults, normalised; ValueError naming a bad one."""
        only(parameters, (*INPUTS, "hostingServerUrl", *AUTH_KEYS), self.name)
        if parameters.get("service_url") in (None, ""):
            raise ValueError("'service_url' is required: the URL of the scene service "
                             "(https://host/server/rest/services/…/SceneServer)")
        service_url = https_url(parameters["service_url"], "service_url")
        if not SCENE_SERVICE.search(urlsplit(service_url).path):
            raise ValueError(f"'service_url' must be the URL of a scene service, ending in "
                             f"/SceneServer or /SceneServer/layers/<n>, not {shown(service_url)}")
        out: dict[str, Any] = {"service_url": service_url}
        instances = parameters.get("num_of_caching_service_instances")
        out["num_of_caching_service_instances"] = 2 if instances in (None, "") else integer(
            instances, "num_of_caching_service_instances", 1, GPLONG_MAX, "a positive integer")
        out["layer"] = _layer(parameters.get("layer"))
        mode = parameters.get("update_mode")
        out["update_mode"] = "RECREATE_ALL_NODES" if mode in (None, "") else choice(
            mode, "update_mode", UPDATE_MODES)
        out["update_extent"] = _extent(parameters.get("update_extent"))
        if parameters.get("area_of_interest") not in (None, ""):
            out["area_of_interest"] = _area(parameters["area_of_interest"])
        if parameters.get("hostingServerUrl") not in (None, ""):
            out["hostingServerUrl"] = _hosting(service_url, parameters["hostingServerUrl"])
        else:
            _hosting(service_url, None)
        out.update(auth_parameters(parameters))
        return out

    def run(self, ctx: RunContext, p: dict[str, Any]) -> Outcome:
        tool = f"{_hosting(p['service_url'], p.get('hostingServerUrl'))}/{TOOL}"
        form = {k: form_text(p[k]) for k in INPUTS if k in p}
        form["f"] = "json"
        return run_remote(Credentials.of(p), lambda remote: self._cook(remote, tool, form, ctx))

    @staticmethod
    def _cook(remote: Remote, tool: str, form: dict[str, str], ctx: RunContext) -> Outcome:
        import httpx

        try:
            status, body = call(remote.client, "POST", f"{tool}/submitJob", data=form)
        except (httpx.HTTPError, JsonError) as exc:
            return Outcome(RunStatus.SUBMITFAILED, f"submitJob to {tool} failed: {exc}", tool)
        job_id = body.get("jobId") if isinstance(body, dict) else None
        if status >= 400 or not isinstance(job_id, str) or not JOB_ID.fullmatch(job_id) or \
                job_id.strip(".") == "":
            return Outcome(RunStatus.SUBMITFAILED, f"submitJob was refused (HTTP {status}): "
                           f"{error_text(body)}", tool)
        return follow_job(remote.client, f"{tool}/jobs/{job_id}", ctx)
