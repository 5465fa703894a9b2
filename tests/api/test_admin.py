"""Administrator API over HTTPS against a real server: system tasks, runs, limits, secrets."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator

import httpx
import pytest

from gistasks.store import Store
from tests.support.server import (
    ERIN,
    EVERY_MINUTE,
    FRANK,
    Server,
    from_tomorrow,
    start_with_users,
    stop,
    token,
)
from tests.support.tasktypes import API_SPEC


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = start_with_users(tmp_path_factory.mktemp("admin"), ERIN, FRANK,
                           env={"GISTASKS_TASKTYPES": API_SPEC})
    yield srv
    stop(srv)


@pytest.fixture(scope="module")
def admin(server: Server) -> str:
    return token(server, "admin", "admin pass 1")


def adm(server: Server, path: str, tok: str | None, root: str = "admin",
        **form: str) -> dict[str, object]:
    headers = {} if tok is None else {"X-Esri-Authorization": f"Bearer {tok}"}
    answer: dict[str, object] = httpx.post(f"{server.url}/{root}{path}", verify=False,
                                           data={"f": "json", **form}, headers=headers).json()
    return answer


def create_system(server: Server, tok: str, **form: str) -> str:
    body = adm(server, "/system/tasks/createTask", tok,
               **{"type": "Ping", "title": "heartbeat", **EVERY_MINUTE, **form})
    assert body.get("success") is True and body.get("status") == "success", body
    return str(body["taskId"])


def wait_for_runs(server: Server, tok: str, task_id: str, count: int = 1) -> list[dict[str, str]]:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        body = adm(server, f"/system/tasks/{task_id}/runs", tok)
        runs = body["result"]
        assert isinstance(runs, list)
        if len(runs) >= count and all(r["status"] == "succeeded" for r in runs):
            return runs
        time.sleep(0.2)
    raise AssertionError(f"no {count} finished runs of {task_id}")


def test_admin_root_answers_admins_in_both_places(server: Server, admin: str) -> None:
    for root in ("admin", "portaladmin"):
        body = adm(server, "", admin, root=root)
        assert body["fullVersion"] == "12.0.0" and "system" in body["resources"]  # type: ignore[operator]
    assert adm(server, "/system", admin)["resources"] == ["tasks", "limits", "disasterrecovery"]


@pytest.mark.parametrize("path", ["", "/system", "/system/tasks", "/system/limits",
                                  "/system/tasks/createTask"])
def test_the_admin_api_is_for_the_administrator_role_only(server: Server, path: str) -> None:
    anonymous = adm(server, path, None)
    assert anonymous == {"status": "error", "messages": ["Token Required"], "code": 499}
    for user, password in (("erin", "erins pass 1"), ("frank", "franks pass 1")):
        denied = adm(server, path, token(server, user, password))
        assert denied["status"] == "error" and denied["code"] == 403


def test_a_system_task_reads_in_the_admin_shape(server: Server, admin: str) -> None:
    task_id = create_system(server, admin, maxOccurrences="-1")
    task = adm(server, f"/system/tasks/{task_id}", admin)
    assert task["id"] == task["taskId"] == task_id
    assert task["taskType"] == "Ping" and task["type"] == "PING_TASK_TYPE"
    assert task["title"] == task["taskTitle"] == "heartbeat" and task["itemId"] == ""
    assert task["taskState"] == "active" and task["active"] is True
    # ownerId is the creator's user id (32 hex digits), as in the seed page
    me = httpx.get(f"{server.url}/sharing/rest/community/users/admin", verify=False,
                   params={"f": "json", "token": admin}).json()
    assert re.fullmatch(r"[0-9a-f]{32}", str(task["ownerId"])) and task["ownerId"] == me["id"]
    assert task["cronExpression"] == "0 */1 * * * ?"
    assert task["runIntervalSeconds"] == 60 and task["maxOccurrences"] == -1
    listed = adm(server, "/system/tasks", admin)
    assert task_id in [t["id"] for t in listed["result"]]  # type: ignore[attr-defined]
    assert listed["start"] == 0 and listed["nextStart"] == 0
    assert listed["total"] == listed["num"] == len(listed["result"])  # type: ignore[arg-type]


def test_system_and_user_tasks_do_not_mix(server: Server, admin: str) -> None:
    system_id = create_system(server, admin)
    user = httpx.post(f"{server.url}/sharing/rest/community/users/admin/tasks/createTask",
                      verify=False, data={"f": "json", "type": "Ping", **EVERY_MINUTE},
                      headers={"X-Esri-Authorization": f"Bearer {admin}"}).json()
    listed = adm(server, "/system/tasks", admin)
    ids = [t["id"] for t in listed["result"]]  # type: ignore[attr-defined]
    assert system_id in ids and user["taskId"] not in ids
    missing = adm(server, f"/system/tasks/{user['taskId']}", admin)
    assert missing["code"] == 404 and missing["status"] == "error"
    via_sharing = httpx.get(
        f"{server.url}/sharing/rest/community/users/admin/tasks/{system_id}", verify=False,
        params={"f": "json", "token": admin}).json()
    assert via_sharing["error"]["code"] == 404


def test_passcodes_are_stored_encrypted_and_shown_masked(server: Server, admin: str) -> None:
    task_id = create_system(server, admin, type="TestShowsPasscode", parameters=json.dumps(
        {"passcode": "s3cret-pass", "nested": {"apiKey": "k-123"}, "name": "nightly"}),
        **from_tomorrow())
    shown = adm(server, f"/system/tasks/{task_id}", admin)
    assert shown["parameters"] == {"passcode": "********", "nested": {"apiKey": "********"},
                                   "name": "nightly"}
    store = Store(f"sqlite:///{server.data_dir / 'gistasks.db'}")
    try:
        record = store.tasks.get(task_id)
        assert record is not None
        assert "s3cret-pass" not in record.parameters and "k-123" not in record.parameters
        stored = json.loads(record.parameters)
        assert stored["passcode"].startswith("{crypt2}") and stored["name"] == "nightly"
        # The official client sends back what it read: the mask keeps the stored secret.
        answer = adm(server, f"/system/tasks/{task_id}/update", admin,
                     type="TestShowsPasscode", parameters=json.dumps(shown["parameters"]))
        assert answer["success"] is True and answer["taskId"] == task_id
        after = store.tasks.get(task_id)
        assert after is not None and json.loads(after.parameters)["passcode"] == stored["passcode"]
    finally:
        store.close()
    # The executor gets the secret in clear.
    adm(server, f"/system/tasks/{task_id}/runNow", admin)
    runs = wait_for_runs(server, admin, task_id)
    assert runs[0]["result"] == "passcode=s3cret-pass"


def test_a_new_passcode_replaces_the_old_one(server: Server, admin: str) -> None:
    task_id = create_system(server, admin, type="TestShowsPasscode",
                            parameters=json.dumps({"passcode": "first-pass"}),
                            **from_tomorrow())
    adm(server, f"/system/tasks/{task_id}/update", admin,
        parameters=json.dumps({"passcode": "second-pass"}))
    adm(server, f"/system/tasks/{task_id}/runNow", admin)
    assert wait_for_runs(server, admin, task_id)[0]["result"] == "passcode=second-pass"


def test_a_mask_with_no_stored_secret_is_refused(server: Server, admin: str) -> None:
    body = adm(server, "/system/tasks/createTask", admin, type="Ping", **EVERY_MINUTE,
               parameters=json.dumps({"passcode": "********"}))
    assert body["status"] == "error" and "no secret is stored" in str(body["messages"])


def test_update_accepts_the_internal_type_name_the_client_echoes(server: Server,
                                                                  admin: str) -> None:
    task_id = create_system(server, admin)
    body = adm(server, f"/system/tasks/{task_id}/update", admin, type="PING_TASK_TYPE",
               itemId="", title="renamed", minute="30", hour="3", maxOccurrences="10")
    assert body["success"] is True
    task = adm(server, f"/system/tasks/{task_id}", admin)
    assert task["taskType"] == "Ping" and task["title"] == "renamed"
    assert task["cronSchedule"]["hour"] == "3" and task["maxOccurrences"] == 10  # type: ignore[index]


def test_update_with_is_active_pauses_and_resumes(server: Server, admin: str) -> None:
    task_id = create_system(server, admin)
    adm(server, f"/system/tasks/{task_id}/update", admin, isActive="false")
    assert adm(server, f"/system/tasks/{task_id}", admin)["taskState"] == "paused"
    adm(server, f"/system/tasks/{task_id}/update", admin, isActive="true")
    assert adm(server, f"/system/tasks/{task_id}", admin)["taskState"] == "active"


def test_disable_enable_delete(server: Server, admin: str) -> None:
    task_id = create_system(server, admin)
    assert adm(server, f"/system/tasks/{task_id}/disable", admin)["success"] is True
    task = adm(server, f"/system/tasks/{task_id}", admin)
    assert task["taskState"] == "paused" and task["nextStart"] == -1
    assert adm(server, f"/system/tasks/{task_id}/enable", admin)["status"] == "success"
    assert adm(server, f"/system/tasks/{task_id}", admin)["taskState"] == "active"
    assert adm(server, f"/system/tasks/{task_id}/delete", admin)["success"] is True
    gone = adm(server, f"/system/tasks/{task_id}", admin)
    assert gone["code"] == 404 and gone["status"] == "error"
    unknown = adm(server, f"/system/tasks/{task_id}/pause", admin)
    assert unknown["status"] == "error"


def test_runs_newest_first_with_the_task_and_editable(server: Server, admin: str) -> None:
    task_id = create_system(server, admin, **from_tomorrow())
    adm(server, f"/system/tasks/{task_id}/runNow", admin)
    wait_for_runs(server, admin, task_id, 1)
    time.sleep(0.01)
    adm(server, f"/system/tasks/{task_id}/runNow", admin)
    body = adm(server, f"/system/tasks/{task_id}/runs", admin)
    runs = wait_for_runs(server, admin, task_id, 2)
    assert body["runs"] == body["result"] and body["total"] == len(runs) == 2
    assert runs[0]["created"] >= runs[1]["created"]
    run_id = runs[1]["runId"]
    run = adm(server, f"/system/tasks/{task_id}/runs/{run_id}", admin)
    assert run["task"]["id"] == task_id and run["status"] == "succeeded"  # type: ignore[index]
    # The client's admin class sends "results", its Sharing class "result": both work.
    adm(server, f"/system/tasks/{task_id}/runs/{run_id}/update", admin, status="failed",
        results="boom")
    assert adm(server, f"/system/tasks/{task_id}/runs/{run_id}", admin)["result"] == "boom"
    adm(server, f"/system/tasks/{task_id}/runs/{run_id}/update", admin, status="Succeeded",
        result="ok")
    assert adm(server, f"/system/tasks/{task_id}/runs/{run_id}", admin)["status"] == "succeeded"
    bad = adm(server, f"/system/tasks/{task_id}/runs/{run_id}/update", admin, status="done")
    assert bad["status"] == "error" and "Invalid 'status'" in bad["messages"]  # type: ignore[operator]
    assert adm(server, f"/system/tasks/{task_id}/runs/{run_id}/delete", admin)["success"] is True
    assert adm(server, f"/system/tasks/{task_id}/runs/{run_id}", admin)["code"] == 404


@pytest.mark.parametrize(("form", "message"), [
    ({"type": "CreateHealthCheckReports"}, "Invalid 'type' 'CreateHealthCheckReports'"),
    ({"type": "CreateBackup"}, "Invalid 'parameters'"),
    ({"type": "ExecuteNotebook"}, "Invalid 'type' 'ExecuteNotebook'"),
    ({"minute": ""}, "'minute' must be specified"),
    ({"hour": "25"}, "Invalid 'hour'"),
    ({"maxOccurrences": "-2"}, "Invalid 'maxOccurrences'"),
    ({"parameters": "[1]"}, "Invalid 'parameters'"),
    ({"endDate": "1000"}, "Invalid 'endDate'"),
])
def test_bad_system_tasks_are_refused_naming_the_parameter(
        server: Server, admin: str, form: dict[str, str], message: str) -> None:
    before = adm(server, "/system/tasks", admin)["total"]
    body = adm(server, "/system/tasks/createTask", admin,
               **{"type": "Ping", **EVERY_MINUTE, **form})
    assert body["status"] == "error" and body["code"] == 400
    assert body["messages"][0] == message  # type: ignore[index]
    assert adm(server, "/system/tasks", admin)["total"] == before


def test_limits_read_with_arcgis_defaults_and_update(server: Server, admin: str) -> None:
    body = adm(server, "/system/limits", admin, root="portaladmin")
    limits = {x["limitName"]: x["numLimit"] for x in body["ScheduleTask"]}  # type: ignore[attr-defined]
    assert limits["ExecuteNotebooksUserLimit"] == 20
    assert limits["ExecuteNotebooksOrgLimit"] == 200
    assert limits["FailedRunsToDisableTask"] == 5
    answer = adm(server, "/system/limits/update", admin, category="ScheduleTask",
                 properties=json.dumps([{"limitName": "TaskRunHistoryCount", "numLimit": 40}]))
    assert answer["status"] == "success"
    body = adm(server, "/system/limits", admin)
    limits = {x["limitName"]: x["numLimit"] for x in body["ScheduleTask"]}  # type: ignore[attr-defined]
    assert limits["TaskRunHistoryCount"] == 40


@pytest.mark.parametrize(("form", "fragment"), [
    ({"properties": json.dumps([{"limitName": "Nope", "numLimit": 1}])}, "unknown limitName"),
    ({"properties": json.dumps([{"limitName": "ExecuteNotebooksUserLimit", "numLimit": -5}])},
     "must be -1 or more"),
    ({"properties": json.dumps([{"limitName": "FailedRunsToDisableTask", "numLimit": 0}])},
     "must be 1 or more"),
    ({"properties": json.dumps([{"limitName": "GPServiceUserLimit", "numLimit": "x"}])},
     "must be an integer"),
    ({"properties": "nope"}, "must be a JSON list"),
    ({"properties": "[]", "category": "Other"}, "the only category"),
])
def test_bad_limits_are_refused_and_nothing_changes(server: Server, admin: str,
                                                    form: dict[str, str], fragment: str) -> None:
    before = adm(server, "/system/limits", admin)
    body = adm(server, "/system/limits/update", admin, **form)
    assert body["status"] == "error" and fragment in str(body["messages"])
    assert adm(server, "/system/limits", admin) == before


NOTEBOOK = json.dumps({"cells": [], "metadata": {}, "nbformat": 4,
                       "nbformat_minor": 5}).encode()
_ITEMS: dict[tuple[str, str], str] = {}


def notebook_item(server: Server, user: str, tok: str) -> str:
    """A Notebook item of ``user`` (one per server), for the tasks that need one."""
    key = (server.url, user)
    if key not in _ITEMS:
        answer = httpx.post(f"{server.url}/sharing/rest/content/users/{user}/addItem",
                            verify=False, data={"f": "json", "title": "nb"},
                            files={"file": ("nb.ipynb", NOTEBOOK)},
                            headers={"X-Esri-Authorization": f"Bearer {tok}"}).json()
        _ITEMS[key] = answer["id"]
    return _ITEMS[key]


def sharing_create(server: Server, user: str, tok: str, **form: str) -> dict[str, object]:
    item = form.pop("itemId") if "itemId" in form else notebook_item(server, user, tok)
    answer: dict[str, object] = httpx.post(
        f"{server.url}/sharing/rest/community/users/{user}/tasks/createTask", verify=False,
        data={"f": "json", "type": "ExecuteNotebook", "itemId": item, **EVERY_MINUTE, **form},
        headers={"X-Esri-Authorization": f"Bearer {tok}"}).json()
    return answer


def test_notebook_tasks_need_the_schedule_notebooks_privilege(server: Server) -> None:
    frank = token(server, "frank", "franks pass 1")
    body = sharing_create(server, "frank", frank)
    assert "premium:publisher:scheduleNotebooks" in str(body["error"])


def test_active_notebook_tasks_are_limited_per_user(server: Server, admin: str) -> None:
    adm(server, "/system/limits/update", admin, properties=json.dumps(
        [{"limitName": "ExecuteNotebooksUserLimit", "numLimit": 2}]))
    try:
        erin = token(server, "erin", "erins pass 1")
        first = sharing_create(server, "erin", erin)
        assert sharing_create(server, "erin", erin).get("success") is True
        refused = sharing_create(server, "erin", erin)
        assert "ExecuteNotebooksUserLimit" in str(refused["error"])
        # An inactive one does not count; enabling it again is refused while at the limit.
        assert sharing_create(server, "erin", erin, isActive="false").get("success") is True
        base = f"{server.url}/sharing/rest/community/users/erin/tasks/{first['taskId']}"
        headers = {"X-Esri-Authorization": f"Bearer {erin}"}
        httpx.post(f"{base}/disable", data={"f": "json"}, headers=headers, verify=False)
        assert sharing_create(server, "erin", erin).get("success") is True
        again = httpx.post(f"{base}/enable", data={"f": "json"}, headers=headers,
                           verify=False).json()
        assert "ExecuteNotebooksUserLimit" in str(again["error"])
    finally:
        adm(server, "/system/limits/update", admin, properties=json.dumps(
            [{"limitName": "ExecuteNotebooksUserLimit", "numLimit": 20}]))


def test_a_notebook_task_without_an_item_is_refused_naming_item_id(server: Server) -> None:
    erin = token(server, "erin", "erins pass 1")
    body = sharing_create(server, "erin", erin, itemId="")
    assert body["error"]["message"] == "'itemId' must be specified"  # type: ignore[index]


def test_active_notebook_tasks_are_limited_per_organization(server: Server, admin: str) -> None:
    adm(server, "/system/limits/update", admin, properties=json.dumps(
        [{"limitName": "ExecuteNotebooksOrgLimit", "numLimit": 0}]))
    try:
        refused = sharing_create(server, "admin", admin)
        assert "ExecuteNotebooksOrgLimit" in str(refused["error"])
    finally:
        adm(server, "/system/limits/update", admin, properties=json.dumps(
            [{"limitName": "ExecuteNotebooksOrgLimit", "numLimit": 200}]))
