"""Administrator API (``/<context>/admin``, also at ``/<context>/portaladmin``).

The Enterprise Administrator API of ArcGIS Enterprise on Kubernetes, where the official client's
``gis.admin`` goes when ``portals/self`` says ``ArcGISEnterpriseOnKubernetes``: system tasks
(``system/tasks``: list, createTask, read, update, enable, disable, delete, runs) and
``system/limits``. Every resource needs the default administrator role (``org_admin``); errors
use the Administrator family's envelope ``{"status": "error", "messages": [...], "code": n}``.

Answers carry the documented shapes plus what the client reads: ``success`` and ``taskId`` on
createTask and update, ``title`` and ``itemId`` in the task, ``runs`` next to ``result``.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from gistasks.api.auth import org_admin
from gistasks.api.render import ApiError, output_format, params, parse_int, render
from gistasks.api.sharing import ORG_ID
from gistasks.api.tasks import (
    create_from,
    edit_run,
    find_run,
    operate,
    run_json,
    task_json,
    update_from,
)
from gistasks.engine import limits as limits_
from gistasks.store import TaskRecord
from gistasks.tasktypes import registry

router = APIRouter()
TASKS = "/system/tasks"
ADMIN_VERSION = "11.3"
ADMIN_FULL_VERSION = "11.3.0"
OK: dict[str, Any] = {"status": "success", "success": True}


async def _admin(request: Request) -> tuple[dict[str, str], str]:
    """(parameters, format) after checking that the caller has the default administrator
    role: 499 without a token, 498 with a bad one, 403 for anybody else."""
    values = await params(request)
    f = output_format(values)
    request.state.caller = org_admin(request, values)
    return values, f


def admin_task_json(task: TaskRecord) -> dict[str, Any]:
    """A system task in the Administrator API shape (with the Sharing aliases the client
    reads, and gistasks' schedule preview)."""
    out = task_json(task)
    implementation = registry.get(task.type)
    out.update({
        "taskId": task.id, "taskType": task.type,
        "type": (implementation.internal_name if implementation is not None
                 and implementation.internal_name else task.type),
        "taskTitle": task.title, "ownerId": task.owner, "orgId": ORG_ID,
        "generation": task.generation,
    })
    return out


def _task(request: Request, task_id: str) -> TaskRecord:
    task: TaskRecord | None = request.app.state.store.get_task(task_id)
    if task is None or task.scope != "system":
        raise ApiError(404, f"Task '{task_id}' was not found.")
    return task


@router.api_route("", methods=["GET", "POST"])
@router.api_route("/", methods=["GET", "POST"], include_in_schema=False)
async def root(request: Request) -> Response:
    _, f = await _admin(request)
    return render({"resources": ["system"], "currentVersion": ADMIN_VERSION,
                   "fullVersion": ADMIN_FULL_VERSION}, f, "Administrator API")


@router.api_route("/system", methods=["GET", "POST"])
async def system(request: Request) -> Response:
    _, f = await _admin(request)
    return render({"resources": ["tasks", "limits"]}, f, "System")


@router.api_route(TASKS, methods=["GET", "POST"])
async def list_tasks(request: Request) -> Response:
    """``{"result": [...], "total", "num", "start", "nextStart"}``; ``start`` is a 0-based
    offset and ``nextStart`` 0 when nothing follows, as the ArcGIS examples show."""
    values, f = await _admin(request)
    start = parse_int(values, "start", 0, 0, 2**31 - 1)
    num = parse_int(values, "num", 1000, 0, 1000)
    total, found = request.app.state.store.page_tasks(scope="system", offset=start, limit=num)
    following = start + len(found)
    return render({"result": [admin_task_json(t) for t in found], "total": total,
                   "num": len(found), "start": start,
                   "nextStart": following if following < total else 0}, f, "System tasks")


@router.post(TASKS + "/createTask")
async def create_task(request: Request) -> Response:
    values, f = await _admin(request)
    task = create_from(request, values, "system", request.state.caller.username)
    return render({**OK, "taskId": task.id}, f, "Task created")


@router.api_route(TASKS + "/{task_id}", methods=["GET", "POST"])
async def get_task(request: Request, task_id: str) -> Response:
    _, f = await _admin(request)
    task = _task(request, task_id)
    return render(admin_task_json(task), f, task.title or task.id)


@router.post(TASKS + "/{task_id}/update")
async def update_task(request: Request, task_id: str) -> Response:
    """Edit Task. A masked secret sent back keeps the stored one; the internal type name the
    client echoes is accepted."""
    values, f = await _admin(request)
    task = _task(request, task_id)
    update_from(request, values, task)
    return render({**OK, "taskId": task.id}, f, "Task updated")


@router.api_route(TASKS + "/{task_id}/runs", methods=["GET", "POST"])
async def list_runs(request: Request, task_id: str) -> Response:
    """The task's runs, newest first, under ``result`` (documented) and ``runs`` (read by the
    client's Sharing ``Task`` class)."""
    _, f = await _admin(request)
    task = _task(request, task_id)
    shown = admin_task_json(task)
    runs = [{**run_json(r), "task": shown} for r in request.app.state.store.runs_of(task.id)]
    return render({"result": runs, "runs": runs, "total": len(runs), "num": len(runs),
                   "start": 0, "nextStart": 0}, f, "Runs")


@router.api_route(TASKS + "/{task_id}/runs/{run_id}", methods=["GET", "POST"])
async def get_run(request: Request, task_id: str, run_id: str) -> Response:
    _, f = await _admin(request)
    task = _task(request, task_id)
    run = find_run(request, task, run_id)
    return render({**run_json(run), "task": admin_task_json(task)}, f, run.id)


@router.post(TASKS + "/{task_id}/runs/{run_id}/update")
async def update_run(request: Request, task_id: str, run_id: str) -> Response:
    values, f = await _admin(request)
    run = find_run(request, _task(request, task_id), run_id)
    edit_run(request, values, run)
    return render({**OK, "taskId": task_id, "runId": run.id}, f, "Run updated")


@router.post(TASKS + "/{task_id}/runs/{run_id}/delete")
async def delete_run(request: Request, task_id: str, run_id: str) -> Response:
    _, f = await _admin(request)
    run = find_run(request, _task(request, task_id), run_id)
    request.app.state.store.delete_run(run.id)
    return render({**OK, "taskId": task_id, "runId": run.id}, f, "Run deleted")


# Declared after the runs routes, which must match before this catch-all of operations.
@router.post(TASKS + "/{task_id}/{operation}")
async def task_operation(request: Request, task_id: str, operation: str) -> Response:
    """delete, enable, disable, and gistasks' runNow."""
    _, f = await _admin(request)
    task = _task(request, task_id)
    return render({**OK, "taskId": task.id, **operate(request, task, operation)}, f, "Done")


@router.api_route("/system/limits", methods=["GET", "POST"])
async def get_limits(request: Request) -> Response:
    """``{"ScheduleTask": [{"limitName": ..., "numLimit": ...}, ...]}``."""
    _, f = await _admin(request)
    engine = request.app.state.engine
    current = limits_.current(request.app.state.store,
                              None if engine is None else engine.settings)
    return render({limits_.CATEGORY: [{"limitName": k, "numLimit": v}
                                       for k, v in current.items()]}, f, "Limits")


@router.post("/system/limits/update")
async def update_limits(request: Request) -> Response:
    """``properties=[{"limitName": ..., "numLimit": n}, ...]`` and ``category=ScheduleTask``;
    every change is checked before any is stored."""
    values, f = await _admin(request)
    category = values.get("category", limits_.CATEGORY).strip() or limits_.CATEGORY
    if category != limits_.CATEGORY:
        raise ApiError(400, "Invalid 'category'",
                       [f"the only category of limits is {limits_.CATEGORY}"])
    try:
        properties = json.loads(values.get("properties", ""))
    except ValueError:
        properties = None
    if isinstance(properties, dict):
        properties = [properties]
    if not isinstance(properties, list) or not all(
            isinstance(p, dict) and "limitName" in p and "numLimit" in p for p in properties):
        raise ApiError(400, "Invalid 'properties'",
                       ['\'properties\' must be a JSON list of {"limitName": ..., '
                        '"numLimit": ...}'])
    try:
        changes = limits_.validate({str(p["limitName"]): p["numLimit"] for p in properties})
    except limits_.LimitError as exc:
        raise ApiError(400, "Invalid 'properties'", [str(exc)]) from None
    store = request.app.state.store
    store.set_limits(changes)
    engine = request.app.state.engine
    if engine is not None:
        engine.refresh_limits()
    return render(dict(OK), f, "Limits updated")
