"""Sharing API user tasks: ``community/users/<u>/tasks`` and their runs.

Every parameter is validated and a bad one gets the ArcGIS error naming it. A user sees and
changes only their own tasks; an org admin sees and changes everyone's.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from gistasks.api.auth import acting_for, org_admin
from gistasks.api.render import (
    ApiError,
    finite,
    output_format,
    params,
    parse_bool,
    parse_int,
    render,
)
from gistasks.cron import CronExpression, CronSyntaxError
from gistasks.engine import TaskError, TaskService
from gistasks.engine.planner import task_schedule
from gistasks.secretbox import mask
from gistasks.store import RUN_STATUSES, RunRecord, TaskRecord, UserRecord
from gistasks.tasktypes import registry

router = APIRouter()
BASE = "/sharing/rest/community/users/{username}/tasks"
CRON_FIELDS = ("minute", "hour", "dayOfMonth", "month", "dayOfWeek")
MIN_INTERVAL_S = 60


async def _context(request: Request, username: str) -> tuple[dict[str, str], str, UserRecord]:
    """(parameters, format, owner) after checking that the caller may act for ``username``."""
    values = await params(request)
    f = output_format(values)
    return values, f, acting_for(request, values, username)


def _task(request: Request, owner: UserRecord, task_id: str) -> TaskRecord:
    task: TaskRecord | None = request.app.state.store.get_task(task_id)
    if task is None or task.scope != "user" or task.owner != owner.username:
        raise ApiError(404, f"Task '{task_id}' was not found.")
    return task


def service_for(request: Request) -> TaskService:
    return TaskService(request.app.state.engine)


def task_json(task: TaskRecord) -> dict[str, Any]:
    """A task in the Sharing API shape, plus gistasks' schedule preview."""
    expr = task_schedule(task)
    fields = expr.fields
    preview: list[int] = []
    t = task.next_fire_at
    while t is not None and len(preview) < 5:
        preview.append(t)
        nxt = expr.next_after_epoch(t // 1000)
        t = None if nxt is None or (task.end_date and nxt * 1000 > task.end_date) else nxt * 1000
    return {
        "id": task.id, "itemId": task.item_id or "", "type": task.type, "title": task.title,
        "userId": task.owner,
        "cronSchedule": {k: fields[k] for k in CRON_FIELDS},
        "cronExpression": expr.expression,
        "runIntervalSeconds": expr.interval_seconds(),
        "lastStart": task.last_start or -1, "nextStart": task.next_fire_at or -1,
        "maxOccurrences": task.max_occurrences, "occurrences": task.occurrences,
        "parameters": mask(json.loads(task.parameters or "{}")),
        "taskURL": task.task_url or "",
        "created": task.created, "updated": task.updated,
        "startDate": task.start_date or task.created, "endDate": task.end_date or -1,
        "active": task.active, "taskState": task.task_state,
        "timeZone": task.time_zone, "scheduleDescription": expr.describe(),
        "nextStarts": preview, "overlapPolicy": task.overlap_policy,
        "misfireGraceSeconds": None if task.misfire_grace_ms is None
        else task.misfire_grace_ms // 1000,
    }


def run_json(run: RunRecord) -> dict[str, Any]:
    return {"runId": run.id, "taskId": run.task_id, "status": run.status, "result": run.result,
            "url": run.url, "created": run.created, "modified": run.modified,
            "started": run.started or -1, "ended": run.ended or -1,
            "scheduledTime": run.scheduled_for, "node": run.node or ""}


MAX_EPOCH_MS = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z
MAX_INT32 = 2**31 - 1
MAX_GRACE_S = 2_000_000  # about 23 days: the column holds milliseconds in 32 bits


def _reject_constant(constant: str) -> Any:
    raise ValueError(f"{constant} is not JSON")


def _epoch_ms(values: dict[str, str], name: str) -> int | None:
    raw = values.get(name, "").strip()
    if not raw:
        return None
    number = finite(raw)
    if number is None or not 0 <= number <= MAX_EPOCH_MS:
        raise ApiError(400, f"Invalid '{name}'",
                       [f"'{name}' must be a time in epoch milliseconds"])
    value = int(number)
    return value * 1000 if 0 < value < 100_000_000_000 else value  # seconds accepted too


def schedule_from(values: dict[str, str], current: TaskRecord | None,
                  scope: str = "user") -> tuple[str, str]:
    """(Quartz expression, time zone) from the cron fields, the current task filling gaps.

    A user task may fire at most once a minute (ArcGIS's limit); a system task more often."""
    fields: dict[str, str] = dict(task_schedule(current).fields) if current is not None else {}
    for name in CRON_FIELDS:
        if values.get(name, "") != "":
            fields[name] = values[name]
        elif current is None:
            raise ApiError(400, f"'{name}' must be specified",
                           [f"The cron field '{name}' is required."])
    zone = values.get("timeZone") or (current.time_zone if current else "UTC")
    try:
        expr = CronExpression.from_fields(
            second=fields.get("second", "0"), minute=fields["minute"], hour=fields["hour"],
            dayOfMonth=fields["dayOfMonth"], month=fields["month"],
            dayOfWeek=fields["dayOfWeek"], year=fields.get("year"), timezone=zone)
    except CronSyntaxError as exc:
        raise ApiError(400, f"Invalid '{exc.field}'", [str(exc)]) from None
    interval = expr.interval_seconds() if scope == "user" else 0
    if 0 < interval < MIN_INTERVAL_S:
        raise ApiError(400, "Invalid schedule",
                       [f"A task may fire at most once a minute; this one fires every "
                        f"{interval} s."])
    return expr.expression, expr.timezone


def task_values(values: dict[str, str], current: TaskRecord | None, scope: str,
                now_ms: Callable[[], int]) -> dict[str, Any]:
    """The task columns the request sets, validated (types allowed in ``scope`` only; a type's
    internal name is accepted for its name). ``now_ms`` is the engine's clock, asked only
    when an ``endDate`` must be checked against it."""
    out: dict[str, Any] = {}
    task_type = values.get("type") or (current.type if current else "")
    if not task_type:
        raise ApiError(400, "'type' must be specified", ["The task type is required."])
    implementation = registry.resolve(task_type, scope)
    if implementation is None:
        raise ApiError(400, f"Invalid 'type' '{task_type}'",
                       [f"Task types on this server: {', '.join(registry.names(scope))}."])
    out["type"] = implementation.name
    if "title" in values:
        out["title"] = values["title"][:256]
    if values.get("itemId"):
        out["item_id"] = values["itemId"]
    url = values.get("taskURL") or values.get("taskUrl")
    if url:
        out["task_url"] = url
    if implementation.needs_item and not (out.get("item_id") or (current and current.item_id)):
        raise ApiError(400, "'itemId' must be specified",
                       [f"A {implementation.name} task runs on an item: give its itemId."])
    if implementation.needs_task_url and not (url or (current and current.task_url)):
        raise ApiError(400, "'taskURL' must be specified",
                       [f"A {implementation.name} task calls a service: give its taskURL."])
    if "parameters" in values and values["parameters"].strip():
        try:
            parameters = json.loads(values["parameters"], parse_constant=_reject_constant)
        except ValueError:
            raise ApiError(400, "Invalid 'parameters'",
                           ["'parameters' must be a JSON object."]) from None
        if not isinstance(parameters, dict):
            raise ApiError(400, "Invalid 'parameters'", ["'parameters' must be a JSON object."])
        try:
            parameters = implementation.validate(parameters)
        except ValueError as exc:
            raise ApiError(400, "Invalid 'parameters'", [str(exc)]) from None
        out["parameters"] = parameters
    raw_max = values.get("maxOccurrences", "").strip()
    if raw_max:
        try:
            out["max_occurrences"] = int(raw_max)
        except ValueError:
            raise ApiError(400, "Invalid 'maxOccurrences'",
                           ["'maxOccurrences' must be an integer, -1 for unlimited"]) from None
        if not -1 <= out["max_occurrences"] <= MAX_INT32:
            raise ApiError(400, "Invalid 'maxOccurrences'",
                           [f"'maxOccurrences' must be from -1 (unlimited) to {MAX_INT32}"])
    start, end = _epoch_ms(values, "startDate"), _epoch_ms(values, "endDate")
    if start is not None:
        out["start_date"] = start
    if end is not None:
        if end <= now_ms():
            raise ApiError(400, "Invalid 'endDate'", ["'endDate' is in the past"])
        effective_start = start if start is not None else (current.start_date if current
                                                           else None)
        if effective_start is not None and end <= effective_start:
            raise ApiError(400, "Invalid 'endDate'", ["'endDate' is before 'startDate'"])
        out["end_date"] = end
    policy = values.get("overlapPolicy")
    if policy:
        if policy not in ("skip", "allow"):
            raise ApiError(400, "Invalid 'overlapPolicy'", ["'overlapPolicy' is skip or allow"])
        out["overlap_policy"] = policy
    grace = values.get("misfireGraceSeconds", "").strip()
    if grace:
        seconds = finite(grace)
        if seconds is None or not 0 <= seconds <= MAX_GRACE_S:
            raise ApiError(400, "Invalid 'misfireGraceSeconds'",
                           [f"'misfireGraceSeconds' must be a number of seconds from 0 to "
                            f"{MAX_GRACE_S}"])
        out["misfire_grace_ms"] = int(seconds * 1000)
    return out


def create_from(request: Request, values: dict[str, str], scope: str,
                owner: str) -> TaskRecord:
    """createTask for either API: validate the request and store the task."""
    service = service_for(request)
    cols = task_values(values, None, scope, service.engine.now_ms)
    expression, zone = schedule_from(values, None, scope)
    active = parse_bool(values, "isActive")
    try:
        return service.create(
            scope=scope, owner=owner, type=cols["type"], cron_expression=expression,
            title=cols.get("title", ""), item_id=cols.get("item_id"),
            task_url=cols.get("task_url"), parameters=cols.get("parameters"), time_zone=zone,
            start_date=cols.get("start_date"), end_date=cols.get("end_date"),
            max_occurrences=cols.get("max_occurrences", -1),
            overlap_policy=cols.get("overlap_policy", "skip"),
            misfire_grace_ms=cols.get("misfire_grace_ms"),
            active=True if active is None else active)
    except TaskError as exc:
        raise ApiError(400, "Unable to create the task", [str(exc)]) from None


def update_from(request: Request, values: dict[str, str], task: TaskRecord) -> None:
    """update for either API; ``isActive`` (sent by the official client's ``Task.start`` and
    ``stop``) enables or disables."""
    service = service_for(request)
    cols = task_values(values, task, task.scope, service.engine.now_ms)
    expression, zone = schedule_from(values, task, task.scope)
    cols.update(cron_expression=expression, time_zone=zone)
    try:
        service.update(task.id, **cols)
        active = parse_bool(values, "isActive")
        if active is True:
            service.enable(task.id)
        elif active is False:
            service.disable(task.id)
    except TaskError as exc:
        raise ApiError(400, "Unable to update the task", [str(exc)]) from None


def operate(request: Request, task: TaskRecord, operation: str) -> dict[str, Any]:
    """delete, enable, disable or runNow on a task; what the answer adds (``runId``)."""
    service = service_for(request)
    try:
        if operation == "delete":
            service.delete(task.id)
        elif operation == "enable":
            service.enable(task.id)
        elif operation == "disable":
            service.disable(task.id)
        elif operation == "runNow":
            return {"runId": service.run_now(task.id).id}
        else:
            raise ApiError(404, f"Operation '{operation}' does not exist on a task.")
    except TaskError as exc:
        raise ApiError(400, f"Unable to {operation} the task", [str(exc)]) from None
    return {}


def find_run(request: Request, task: TaskRecord, run_id: str) -> RunRecord:
    run: RunRecord | None = request.app.state.store.get_run(run_id)
    if run is None or run.task_id != task.id:
        raise ApiError(404, f"Run '{run_id}' was not found.")
    return run


def edit_run(request: Request, values: dict[str, str], run: RunRecord) -> None:
    """Run update for either API: ``status`` and ``result`` (or ``results``, which the
    client's admin class sends)."""
    status = values.get("status", "").strip().lower()
    if status not in RUN_STATUSES:
        raise ApiError(400, "Invalid 'status'",
                       [f"'status' must be one of {', '.join(RUN_STATUSES)}"])
    result = values.get("result", values.get("results", run.result))
    service_for(request).edit_run(run.id, status, result)


@router.api_route(BASE, methods=["GET", "POST"])
async def list_tasks(request: Request, username: str) -> Response:
    values, f, owner = await _context(request, username)
    return _task_list(request, values, f, owner=owner.username, client_pages_badly=True)


@router.api_route("/sharing/rest/portals/{portal_id}/allScheduledTasks",
                  methods=["GET", "POST"])
async def all_scheduled_tasks(request: Request, portal_id: str) -> Response:
    """Every user's tasks, for org admins (``portals/self`` or the org id)."""
    values = await params(request)
    f = output_format(values)
    org_admin(request, values)
    owner = None
    if values.get("userFilter"):
        user = request.app.state.store.get_user(values["userFilter"])
        owner = user.username if user is not None else values["userFilter"]
    return _task_list(request, values, f, owner=owner)


SORT_FIELDS = ("created", "updated", "title", "type")
MAX_PAGE = 100


def page_window(request: Request, values: dict[str, str],
                client_pages_badly: bool = False) -> tuple[int, int | None]:
    """(1-based start, page size) from ``start`` and ``num``; size None means every match.

    ``client_pages_badly``: the official client (user agent ``Geosaurus/<version>``, through
    2.4.4 at least) follows ``nextStart`` of a user's task list by re-requesting from the last
    *task's* URL and then fails, so there it gets every match in one page with
    ``nextStart: -1``; everybody else gets real pages.
    """
    start = parse_int(values, "start", 1, 1, 2**31 - 1)
    num = parse_int(values, "num", 10, 0, MAX_PAGE)
    if client_pages_badly and request.headers.get("user-agent", "").startswith("Geosaurus/"):
        return start, None
    return start, num


def _task_list(request: Request, values: dict[str, str], f: str, owner: str | None,
               client_pages_badly: bool = False) -> Response:
    """The ArcGIS task list, filtered by ``itemId``, ``active`` and ``types``, sorted, paged."""
    sort_field = values.get("sortField", "").strip() or "created"
    if sort_field not in SORT_FIELDS:
        raise ApiError(400, "Invalid 'sortField'",
                       [f"'sortField' must be one of {', '.join(SORT_FIELDS)}"])
    order = values.get("sortOrder", "").strip().lower() or "asc"
    if order not in ("asc", "desc"):
        raise ApiError(400, "Invalid 'sortOrder'", ["'sortOrder' must be asc or desc"])
    types = None
    if values.get("types"):
        types = [x.strip() for x in values["types"].split(",") if x.strip()]
    start, num = page_window(request, values, client_pages_badly)
    total, tasks = request.app.state.store.page_tasks(
        scope="user", owner=owner, item_id=values.get("itemId") or None,
        active=parse_bool(values, "active"), types=types, sort_field=sort_field,
        descending=order == "desc", offset=start - 1, limit=num)
    next_start = start + len(tasks) if start - 1 + len(tasks) < total else -1
    return render({"total": total, "start": start, "num": len(tasks), "nextStart": next_start,
                   "tasks": [task_json(t) for t in tasks]}, f, "Tasks")


@router.post(BASE + "/createTask")
async def create_task(request: Request, username: str) -> Response:
    values, f, owner = await _context(request, username)
    task = create_from(request, values, "user", owner.username)
    return render({"success": True, "taskId": task.id}, f, "Task created")


@router.api_route(BASE + "/{task_id}", methods=["GET", "POST"])
async def get_task(request: Request, username: str, task_id: str) -> Response:
    _, f, owner = await _context(request, username)
    task = _task(request, owner, task_id)
    return render(task_json(task), f, task.title or task.id)


@router.post(BASE + "/{task_id}/update")
async def update_task(request: Request, username: str, task_id: str) -> Response:
    values, f, owner = await _context(request, username)
    task = _task(request, owner, task_id)
    update_from(request, values, task)
    return render({"success": True, "taskId": task.id}, f, "Task updated")


@router.api_route(BASE + "/{task_id}/runs", methods=["GET", "POST"])
async def list_runs(request: Request, username: str, task_id: str) -> Response:
    _, f, owner = await _context(request, username)
    task = _task(request, owner, task_id)
    runs = request.app.state.store.runs_of(task.id)
    return render({"runs": [run_json(r) for r in runs]}, f, "Runs")


@router.api_route(BASE + "/{task_id}/runs/{run_id}", methods=["GET", "POST"])
async def get_run(request: Request, username: str, task_id: str, run_id: str) -> Response:
    _, f, owner = await _context(request, username)
    run = find_run(request, _task(request, owner, task_id), run_id)
    return render(run_json(run), f, run.id)


@router.post(BASE + "/{task_id}/runs/{run_id}/update")
async def update_run(request: Request, username: str, task_id: str, run_id: str) -> Response:
    values, f, owner = await _context(request, username)
    run = find_run(request, _task(request, owner, task_id), run_id)
    edit_run(request, values, run)
    return render({"success": True, "taskId": task_id, "runId": run.id}, f, "Run updated")


@router.post(BASE + "/{task_id}/runs/{run_id}/delete")
async def delete_run(request: Request, username: str, task_id: str, run_id: str) -> Response:
    _, f, owner = await _context(request, username)
    run = find_run(request, _task(request, owner, task_id), run_id)
    request.app.state.store.delete_run(run.id)
    return render({"success": True, "taskId": task_id, "runId": run.id}, f, "Run deleted")


# Declared last: the runs routes above must match before this catch-all of operations.
@router.post(BASE + "/{task_id}/{operation}")
async def task_operation(request: Request, username: str, task_id: str,
                         operation: str) -> Response:
    _, f, owner = await _context(request, username)
    task = _task(request, owner, task_id)
    extra = operate(request, task, operation)
    return render({"success": True, "taskId": task.id, **extra}, f, "Done")
