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

from typing import Any

from fastapi import APIRouter
from starlette.responses import Response

from gistasks import jsonsafe
from gistasks.api.deps import Call, CallDep
from gistasks.api.params import Integer, Text
from gistasks.api.render import render
from gistasks.api.spec import GET, POST, READ, Endpoint, needs_post, route
from gistasks.api.tasks import (
    RUN_EDIT,
    SYSTEM_CREATE,
    SYSTEM_UPDATE,
    TASK_OPERATIONS,
    TaskOperation,
    edit_run,
)
from gistasks.api.views import ADMIN_RUN, AdminRunView, admin_task_json, latest_runs
from gistasks.services.errors import InvalidParameterError
from gistasks.services.limits import CATEGORY, DEFAULTS
from gistasks.store.records import Scope, TaskRecord

router = APIRouter()
TASKS = "/system/tasks"
TASK = TASKS + "/{task_id}"
ADMIN_VERSION = "12.0"
ADMIN_FULL_VERSION = "12.0.0"
"""12: the official client finds the notebook server of a Kubernetes deployment from 12.0.0
on (``KubernetesAdmin.notebooks``)."""
OK: dict[str, Any] = {"status": "success", "success": True}
ADMINS_ONLY = "Org admins only (403 otherwise)."


def _admin(summary: str, answer: str, params: tuple[Any, ...] = (), description: str = "",
           extension: bool = False) -> Endpoint:
    return Endpoint(summary, answer, params, f"{description} {ADMINS_ONLY}".strip(),
                    extension=extension)


def _task(c: Call, task_id: str) -> TaskRecord:
    c.org_admin()
    return c.services.tasks.find(task_id, Scope.SYSTEM)


@route(router, "", READ, _admin("Administrator API root", "AdminRoot",
                                description="Its `resources` and versions; with a trailing "
                                "slash it answers the same."), aliases=["/"])
async def root(c: CallDep) -> Response:
    c.org_admin()
    return render({"resources": ["system", "services"], "currentVersion": ADMIN_VERSION,
                   "fullVersion": ADMIN_FULL_VERSION}, c.f, "Administrator API")


@route(router, "/system", READ, _admin("System resources", "AdminSystem"))
async def system(c: CallDep) -> Response:
    c.org_admin()
    return render({"resources": ["tasks", "limits", "disasterrecovery"]}, c.f, "System")


START = Integer("start", "0-based offset of the first task.", example=0, minimum=0,
                maximum=2**31 - 1, default=0)
NUM = Integer("num", "Page size (at most 1000).", example=100, minimum=0, maximum=1000,
              default=1000)


@route(router, TASKS, READ, _admin(
    "System tasks", "AdminTaskList", (START, NUM),
    "`{\"result\": [...], \"total\", \"num\", \"start\", \"nextStart\"}`, newest "
    "first; `nextStart` is 0 on the last page, as the ArcGIS examples show."))
async def list_tasks(c: CallDep) -> Response:
    """``start`` is a 0-based offset and ``nextStart`` 0 when nothing follows."""
    c.org_admin()
    start, num = c.form.value(START, 0), c.form.value(NUM, 1000)
    total, found = c.services.tasks.page(scope=Scope.SYSTEM, sort_field="created",
                                         descending=True, offset=start, limit=num)
    following = start + len(found)
    return render({"result": [admin_task_json(t, c.services) for t in found], "total": total,
                   "num": len(found), "start": start,
                   "nextStart": following if following < total else 0}, c.f, "System tasks")


@route(router, TASKS + "/createTask", POST, _admin(
    "Create a system task", "AdminTaskDone", SYSTEM_CREATE.all,
    "The five cron fields are required. Answers `{\"status\": \"success\", \"success\": "
    "true, \"taskId\": ...}`."))
async def create_task(c: CallDep) -> Response:
    admin = c.org_admin()
    task = c.services.tasks.create(scope=Scope.SYSTEM, owner=admin.username,
                                   **SYSTEM_CREATE.fields(c.form))
    return render({**OK, "taskId": task.id}, c.f, "Task created")


@route(router, TASKS + "/createTask", GET, _admin(
    "createTask by GET (refused)", "AdminTaskDone",
    description="Always error 405: an operation that changes something is a POST."))
async def create_task_by_get(c: CallDep) -> Response:
    c.org_admin()
    raise needs_post("createTask")


@route(router, TASK, READ, _admin("A system task", "AdminTask"))
async def get_task(c: CallDep, task_id: str) -> Response:
    task = _task(c, task_id)
    return render(admin_task_json(task, c.services), c.f, task.title or task.id,
                  sections=lambda: latest_runs(c.services, task))


@route(router, TASK + "/update", POST, _admin(
    "Change a system task", "AdminTaskDone", SYSTEM_UPDATE.all,
    "Every field optional; the current values fill the gaps, and a masked secret sent back "
    "keeps the stored one."))
async def update_task(c: CallDep, task_id: str) -> Response:
    """Edit Task; the internal type name the client echoes is accepted."""
    task = _task(c, task_id)
    c.services.tasks.update(task.id, **SYSTEM_UPDATE.fields(c.form))
    return render({**OK, "taskId": task.id}, c.f, "Task updated")


def _task_operation(operation: TaskOperation) -> None:
    """``POST system/tasks/<id>/<operation>`` (delete, enable, disable)."""

    @route(router, f"{TASK}/{operation.name}", POST, _admin(
        operation.summary.replace("a task", "a system task"), "AdminTaskDone",
        description=operation.description))
    async def operate(c: CallDep, task_id: str) -> Response:
        task = _task(c, task_id)
        operation.apply(c.services.tasks, task.id)
        return render({**OK, "taskId": task.id}, c.f, "Done")


for _operation in TASK_OPERATIONS:
    _task_operation(_operation)


@route(router, TASK + "/runNow", POST, _admin(
    "Run a system task now", "AdminTaskDone",
    description="Starts a run at once; the answer has its `runId`.", extension=True))
async def run_task_now(c: CallDep, task_id: str) -> Response:
    task = _task(c, task_id)
    run = c.services.tasks.run_now(task.id)
    return render({**OK, "taskId": task.id, "runId": run.id}, c.f, "Done")


@route(router, TASK + "/runs", READ, _admin(
    "A system task's runs", "AdminRunList",
    description="Every run, newest first, each with its task."))
async def list_runs(c: CallDep, task_id: str) -> Response:
    """Under ``result`` (documented) and ``runs`` (read by the client's Sharing ``Task``
    class)."""
    task = _task(c, task_id)
    shown = admin_task_json(task, c.services)
    runs = [ADMIN_RUN(AdminRunView(r, shown)) for r in c.services.runs.of(task)]
    return render({"result": runs, "runs": runs, "total": len(runs), "num": len(runs),
                   "start": 0, "nextStart": 0}, c.f, "Runs")


@route(router, TASK + "/runs/{run_id}", READ, _admin("A run of a system task", "AdminRun"))
async def get_run(c: CallDep, task_id: str, run_id: str) -> Response:
    task = _task(c, task_id)
    run = c.services.runs.find(task, run_id)
    return render(ADMIN_RUN(AdminRunView(run, admin_task_json(task, c.services))), c.f, run.id)


@route(router, TASK + "/runs/{run_id}/update", POST, _admin("Change a run", "AdminRunDone",
                                                            RUN_EDIT))
async def update_run(c: CallDep, task_id: str, run_id: str) -> Response:
    run = edit_run(c, _task(c, task_id), run_id)
    return render({**OK, "taskId": task_id, "runId": run.id}, c.f, "Run updated")


@route(router, TASK + "/runs/{run_id}/delete", POST, _admin("Delete a run", "AdminRunDone"))
async def delete_run(c: CallDep, task_id: str, run_id: str) -> Response:
    run = c.services.runs.find(_task(c, task_id), run_id)
    c.services.runs.delete(run)
    return render({**OK, "taskId": task_id, "runId": run.id}, c.f, "Run deleted")


@route(router, "/system/limits", READ, _admin("Scheduled-task limits", "Limits"))
async def get_limits(c: CallDep) -> Response:
    """``{"ScheduleTask": [{"limitName": ..., "numLimit": ...}, ...]}``."""
    c.org_admin()
    current = c.services.limits.current()
    return render({CATEGORY: [{"limitName": k, "numLimit": v} for k, v in current.items()]},
                  c.f, "Limits")


PROPERTIES_BYTES = 64 * 1024
PROPERTIES = Text("properties", "A JSON list of `{\"limitName\": ..., \"numLimit\": ...}` "
                  "(one such object alone is accepted too); `numLimit` is an integer, -1 for "
                  f"no limit. The names: {', '.join(DEFAULTS)}. Every change is checked "
                  "before any is stored.", True,
                  '[{"limitName": "ExecuteNotebooksUserLimit", "numLimit": 20}]',
                  json_text=True, max_length=PROPERTIES_BYTES)
LIMIT_CATEGORY = Text("category", "The limit category.", example=CATEGORY, choices=(CATEGORY,),
                      default=CATEGORY)


@route(router, "/system/limits/update", POST, _admin(
    "Set scheduled-task limits", "AdminDone", (PROPERTIES, LIMIT_CATEGORY)))
async def update_limits(c: CallDep) -> Response:
    """``properties=[{"limitName": ..., "numLimit": n}, ...]`` and ``category=ScheduleTask``."""
    c.org_admin()
    try:
        properties = jsonsafe.loads(c.form.text(PROPERTIES), PROPERTIES_BYTES)
    except jsonsafe.JsonError:
        properties = None
    if isinstance(properties, dict):
        properties = [properties]
    if not isinstance(properties, list) or not all(
            isinstance(p, dict) and "limitName" in p and "numLimit" in p for p in properties):
        raise InvalidParameterError(
            "properties", '\'properties\' must be a JSON list of {"limitName": ..., '
                          '"numLimit": ...}')
    c.services.limits.update({str(p["limitName"]): p["numLimit"] for p in properties},
                             c.form.text(LIMIT_CATEGORY, CATEGORY).strip() or CATEGORY)
    return render(dict(OK), c.f, "Limits updated")
