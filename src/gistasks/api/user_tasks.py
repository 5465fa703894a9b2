"""Sharing API user tasks: ``community/users/<u>/tasks``, their operations and their runs, and
``portals/self/allScheduledTasks`` for org admins.

A user sees and changes only their own tasks; an org admin sees and changes everyone's
(the task and auth services decide: another user's task is not found under one's own name).
"""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import Response

from gistasks.api.deps import Call, CallDep
from gistasks.api.params import Boolean, Integer, Text
from gistasks.api.render import NOTEBOOK_OUTPUTS, notebook_output, render
from gistasks.api.spec import GET, POST, READ, Endpoint, Kind, needs_post, route
from gistasks.api.tasks import (
    RUN_EDIT,
    TASK_OPERATIONS,
    USER_CREATE,
    USER_UPDATE,
    TaskOperation,
    edit_run,
)
from gistasks.api.views import RUN, latest_runs, task_json
from gistasks.notebooks import CONTENT_SECURITY_POLICY
from gistasks.services.tasks import SORT_FIELDS
from gistasks.store.records import Scope, TaskRecord

router = APIRouter()
TAG = "User tasks"
BASE = "/sharing/rest/community/users/{username}/tasks"
TASK = BASE + "/{task_id}"
MAX_PAGE = 100

START = Integer("start", "1-based index of the first task of the page.", example=1, minimum=1,
                maximum=2**31 - 1, default=1)
NUM = Integer("num", "Page size (at most 100). The official Python client (user agent "
              "`Geosaurus/...`) gets every match in one page, because its paging loop breaks "
              "on a second page.", example=10, minimum=0, maximum=MAX_PAGE, default=10)
ITEM_ID = Text("itemId", "Only the tasks of this item.")
ACTIVE = Boolean("active", "Only active (`true`) or inactive (`false`) tasks.")
TYPES = Text("types", "Only tasks of these types (comma-separated).", example="Ping")
SORT_FIELD = Text("sortField", "Sort key.", example="created", choices=SORT_FIELDS,
                  default="created")
SORT_ORDER = Text("sortOrder", "Sort order.", example="asc", choices=("asc", "desc"),
                  default="asc")
LIST_FILTERS = (START, NUM, ITEM_ID, ACTIVE, TYPES, SORT_FIELD, SORT_ORDER)
USER_FILTER = Text("userFilter", "Only this user's tasks.", example="admin")


def _pages_badly(c: Call) -> bool:
    """The official client (user agent ``Geosaurus/<version>``, through 2.4.4 at least)
    follows ``nextStart`` of a user's task list by re-requesting from the last *task's* URL
    and then fails, so there it gets every match in one page with ``nextStart: -1``."""
    return c.request.headers.get("user-agent", "").startswith("Geosaurus/")


def _task_list(c: Call, owner: str | None, one_page: bool = False) -> Response:
    """The ArcGIS task list, filtered by ``itemId``, ``active`` and ``types``, sorted, paged."""
    form = c.form
    start, num = form.value(START, 1), form.value(NUM, 10)
    types = form.get(TYPES)
    total, tasks = c.services.tasks.page(
        scope=Scope.USER, owner=owner, item_id=form.get(ITEM_ID), active=form.get(ACTIVE),
        types=None if types is None else [x.strip() for x in types.split(",") if x.strip()],
        sort_field=form.value(SORT_FIELD, "created"),
        descending=form.value(SORT_ORDER, "asc") == "desc", offset=start - 1,
        limit=None if one_page else num)
    next_start = start + len(tasks) if start - 1 + len(tasks) < total else -1
    return render({"total": total, "start": start, "num": len(tasks), "nextStart": next_start,
                   "tasks": [task_json(t, c.services) for t in tasks]}, c.f, "Tasks")


def _task(c: Call, username: str, task_id: str) -> TaskRecord:
    owner = c.acting_for(username)
    return c.services.tasks.find(task_id, Scope.USER, owner.username)


@route(router, BASE, READ, Endpoint("A user's tasks", "TaskList", LIST_FILTERS, tag=TAG))
async def list_tasks(c: CallDep, username: str) -> Response:
    owner = c.acting_for(username)
    return _task_list(c, owner.username, one_page=_pages_badly(c))


@route(router, "/sharing/rest/portals/{portal_id}/allScheduledTasks", READ, Endpoint(
    "Every user's tasks (org admins)", "TaskList", (*LIST_FILTERS, USER_FILTER),
    "Org admins only (403 otherwise).", tag="Sharing"))
async def all_scheduled_tasks(c: CallDep, portal_id: str) -> Response:
    """Every user's tasks, for org admins (``portals/self`` or the org id)."""
    c.org_admin()
    wanted = c.form.get(USER_FILTER)
    owner = None
    if wanted is not None:
        user = c.services.users.get(wanted)
        owner = user.username if user is not None else wanted
    return _task_list(c, owner)


@route(router, BASE + "/createTask", POST, Endpoint(
    "Create a task", "TaskDone", USER_CREATE.all,
    "The five cron fields are required; the answer is `{\"success\": true, \"taskId\": "
    "...}`. The createTask page's examples also post to `community/users/<u>/createTask` and "
    "`.../tasks/<id>/createTask`: both are createTask too.", tag=TAG),
    aliases=["/sharing/rest/community/users/{username}/createTask",
             TASK + "/createTask"])
async def create_task(c: CallDep, username: str) -> Response:
    owner = c.acting_for(username)
    task = c.services.tasks.create(scope=Scope.USER, owner=owner.username,
                                   **USER_CREATE.fields(c.form))
    return render({"success": True, "taskId": task.id}, c.f, "Task created")


@route(router, BASE + "/createTask", GET, Endpoint(
    "createTask by GET (refused)", None, (),
    "Always error 405: an operation that changes something is a POST.", tag=TAG))
async def create_task_by_get(c: CallDep, username: str) -> Response:
    raise needs_post("createTask")


@route(router, TASK, READ, Endpoint("A task", "Task", tag=TAG))
async def get_task(c: CallDep, username: str, task_id: str) -> Response:
    task = _task(c, username, task_id)
    return render(task_json(task, c.services), c.f, task.title or task.id,
                  sections=lambda: latest_runs(c.services, task))


@route(router, TASK + "/update", POST, Endpoint(
    "Change a task", "TaskDone", USER_UPDATE.all,
    "Every field optional; the current values fill the gaps.", tag=TAG))
async def update_task(c: CallDep, username: str, task_id: str) -> Response:
    task = _task(c, username, task_id)
    c.services.tasks.update(task.id, **USER_UPDATE.fields(c.form))
    return render({"success": True, "taskId": task.id}, c.f, "Task updated")


def _task_operation(operation: TaskOperation) -> None:
    """``POST .../tasks/<id>/<operation>`` (delete, enable, disable)."""

    @route(router, f"{TASK}/{operation.name}", POST, Endpoint(
        operation.summary, "TaskDone", description=operation.description, tag=TAG))
    async def operate(c: CallDep, username: str, task_id: str) -> Response:
        task = _task(c, username, task_id)
        operation.apply(c.services.tasks, task.id)
        return render({"success": True, "taskId": task.id}, c.f, "Done")


for _operation in TASK_OPERATIONS:
    _task_operation(_operation)


@route(router, TASK + "/runNow", POST, Endpoint(
    "Run a task now", "TaskDone", description="Starts a run at once; the answer has its "
    "`runId`.", tag=TAG, extension=True))
async def run_task_now(c: CallDep, username: str, task_id: str) -> Response:
    task = _task(c, username, task_id)
    run = c.services.tasks.run_now(task.id)
    return render({"success": True, "taskId": task.id, "runId": run.id}, c.f, "Done")


@route(router, TASK + "/runs", READ, Endpoint(
    "A task's runs", "RunList", description="`{\"runs\": [...]}`, newest first.", tag=TAG))
async def list_runs(c: CallDep, username: str, task_id: str) -> Response:
    task = _task(c, username, task_id)
    return render({"runs": [RUN(r) for r in c.services.runs.of(task)]}, c.f, "Runs")


@route(router, TASK + "/runs/{run_id}", READ, Endpoint("A run", "Run", tag=TAG))
async def get_run(c: CallDep, username: str, task_id: str, run_id: str) -> Response:
    run = c.services.runs.find(_task(c, username, task_id), run_id)
    return render(RUN(run), c.f, run.id)


def _run_output(name: str) -> None:
    @route(router, TASK + "/runs/{run_id}/" + name, READ, Endpoint(
        f"A run's {name}", None, kind=Kind.DATA, extension=True, tag=TAG,
        description="What an ExecuteNotebook run executed: the notebook as a page (without "
        "scripts) or as `.ipynb`."))
    async def output(c: CallDep, username: str, task_id: str, run_id: str) -> Response:
        run = c.services.runs.find(_task(c, username, task_id), run_id)
        return notebook_output(c.services.runs.output(run, name), name, f"{run.id}.ipynb",
                               CONTENT_SECURITY_POLICY)

    del output


for _name in NOTEBOOK_OUTPUTS:
    _run_output(_name)


@route(router, TASK + "/runs/{run_id}/update", POST, Endpoint(
    "Change a run", "RunDone", RUN_EDIT, tag=TAG))
async def update_run(c: CallDep, username: str, task_id: str, run_id: str) -> Response:
    run = edit_run(c, _task(c, username, task_id), run_id)
    return render({"success": True, "taskId": task_id, "runId": run.id}, c.f, "Run updated")


@route(router, TASK + "/runs/{run_id}/delete", POST, Endpoint("Delete a run", "RunDone",
                                                               tag=TAG))
async def delete_run(c: CallDep, username: str, task_id: str, run_id: str) -> Response:
    run = c.services.runs.find(_task(c, username, task_id), run_id)
    c.services.runs.delete(run)
    return render({"success": True, "taskId": task_id, "runId": run.id}, c.f, "Run deleted")
