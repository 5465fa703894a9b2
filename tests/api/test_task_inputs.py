"""What a client can put into a task over HTTP, and what comes back: secrets of any shape
sealed, JSON that every reader accepts, bounded nesting, history and quotas; misleading answers
made plain; Unix day numbers translated; the seed's URL shapes honoured."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

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
    srv = start_with_users(tmp_path_factory.mktemp("inputs"), ERIN, FRANK,
                           env={"GISTASKS_TASKTYPES": API_SPEC})
    yield srv
    stop(srv)


@pytest.fixture(scope="module")
def erin(server: Server) -> str:
    return token(server, "erin", ERIN[1])


@pytest.fixture(scope="module")
def admin(server: Server) -> str:
    return token(server, "admin", "admin pass 1")


def call(server: Server, path: str, tok: str, **form: str) -> dict[str, Any]:
    answer: dict[str, Any] = httpx.post(
        f"{server.url}/sharing/rest/community/users/{path}", verify=False,
        data={"f": "json", **form}, headers={"X-Esri-Authorization": f"Bearer {tok}"}).json()
    return answer


def create(server: Server, tok: str, **form: str) -> dict[str, Any]:
    return call(server, "erin/tasks/createTask", tok,
                **{"type": "Ping", "title": "t", **EVERY_MINUTE, **form})


def task(server: Server, tok: str, task_id: str) -> dict[str, Any]:
    return call(server, f"erin/tasks/{task_id}", tok)


def stored_parameters(server: Server, task_id: str) -> str:
    store = Store(f"sqlite:///{server.data_dir / 'gistasks.db'}")
    try:
        record = store.tasks.get(task_id)
        assert record is not None
        return record.parameters
    finally:
        store.close()


def nested(levels: int) -> str:
    return '{"a":' * levels + "1" + "}" * levels


@pytest.mark.parametrize("parameters", [
    {"credentials": {"pass": "x-secret-1"}},
    {"passcode": ["x-secret-1"]},
    {"passwords": ["x-secret-1", "x-secret-2"]},
    {"deep": [{"apiKey": {"value": "x-secret-1"}}]},
])
def test_a_secret_of_any_shape_is_sealed_and_masked(server: Server, erin: str,
                                                    parameters: dict[str, Any]) -> None:
    task_id = create(server, erin, parameters=json.dumps(parameters))["taskId"]
    shown = json.dumps(task(server, erin, task_id)["parameters"])
    assert "x-secret" not in shown and "********" in shown
    assert "x-secret" not in stored_parameters(server, task_id)


def test_a_sealed_value_copied_into_another_task_does_not_open_there(
        server: Server, erin: str) -> None:
    first = create(server, erin, parameters='{"passcode": "x-secret-1"}')["taskId"]
    sealed = json.loads(stored_parameters(server, first))["passcode"]
    frank = token(server, "frank", FRANK[1])
    copied = call(server, "frank/tasks/createTask", frank, type="Ping", title="t",
                  parameters=json.dumps({"passcode": sealed}), **EVERY_MINUTE)
    assert copied["error"]["message"] == "Unable to create the task"
    assert "sealed for another task" in copied["error"]["details"][0]


@pytest.mark.parametrize(("parameters", "reason"), [
    (nested(33), "nested deeper than 32"),
    (nested(3000), "nested deeper than 32"),
    ('{"a": 1e400}', "too large"),
    ('{"a": NaN}', "NaN is not JSON"),
    ('{"a": "\\ud800"}', "lone surrogate"),
    ('{"\\udfff": 1}', "lone surrogate"),
    ("[1]", "not an object"),
])
def test_parameters_that_are_not_plain_json_are_refused_naming_them(
        server: Server, erin: str, parameters: str, reason: str) -> None:
    answer = create(server, erin, parameters=parameters)
    assert answer["error"]["message"] == "Invalid 'parameters'"
    assert reason in answer["error"]["details"][0]


def test_limits_with_deep_properties_are_refused_not_a_traceback(server: Server,
                                                                 admin: str) -> None:
    deep = "[" * 2000 + "]" * 2000
    r = httpx.post(f"{server.url}/admin/system/limits/update", verify=False, data={
        "f": "json", "token": admin, "properties": deep}).json()
    assert r["status"] == "error" and "Invalid 'properties'" in r["messages"]
    assert "Traceback" not in server.output()


def test_a_task_stored_too_deep_before_the_bound_still_reads_and_lists(
        server: Server, erin: str, admin: str) -> None:
    task_id = create(server, erin)["taskId"]
    store = Store(f"sqlite:///{server.data_dir / 'gistasks.db'}")
    try:
        store.tasks.set_parameters(task_id, nested(700))
    finally:
        store.close()
    shown = task(server, erin, task_id)["parameters"]
    assert "_unreadable" in shown
    listed = call(server, "erin/tasks", erin, num="100")
    assert any(t["id"] == task_id for t in listed["tasks"])
    everyone = httpx.get(f"{server.url}/sharing/rest/portals/self/allScheduledTasks",
                         verify=False, params={"f": "json", "token": admin, "num": "100"}).json()
    assert everyone["total"] >= 1 and "error" not in everyone


def test_run_history_holds_its_bound_for_manual_runs_too(server: Server, erin: str,
                                                         admin: str) -> None:
    httpx.post(f"{server.url}/admin/system/limits/update", verify=False, data={
        "f": "json", "token": admin, "category": "ScheduleTask",
        "properties": '[{"limitName": "TaskRunHistoryCount", "numLimit": 5}]'})
    try:
        task_id = create(server, erin, **from_tomorrow())["taskId"]
        for _ in range(12):
            run_id = call(server, f"erin/tasks/{task_id}/runNow", erin)["runId"]
            deadline = time.monotonic() + 20
            while call(server, f"erin/tasks/{task_id}/runs/{run_id}", erin).get(
                    "status") != "succeeded":
                assert time.monotonic() < deadline
                time.sleep(0.05)
        runs = call(server, f"erin/tasks/{task_id}/runs", erin)["runs"]
        assert len(runs) == 5
    finally:
        httpx.post(f"{server.url}/admin/system/limits/update", verify=False, data={
            "f": "json", "token": admin,
            "properties": '[{"limitName": "TaskRunHistoryCount", "numLimit": 30}]'})


def test_a_run_result_sent_by_hand_is_bounded(server: Server, erin: str) -> None:
    task_id = create(server, erin, **from_tomorrow())["taskId"]
    run_id = call(server, f"erin/tasks/{task_id}/runNow", erin)["runId"]
    answer = call(server, f"erin/tasks/{task_id}/runs/{run_id}/update", erin,
                  status="succeeded", result="x" * 70_000)
    assert answer["error"]["message"] == "Invalid 'result'"


def test_a_user_owns_at_most_the_task_quota(server: Server, admin: str, tmp_path: Path) -> None:
    frank = token(server, "frank", FRANK[1])
    httpx.post(f"{server.url}/admin/system/limits/update", verify=False, data={
        "f": "json", "token": admin,
        "properties": '[{"limitName": "ScheduledTasksUserLimit", "numLimit": 2}]'})
    try:
        made = [call(server, "frank/tasks/createTask", frank, type="Ping", title="t",
                     **EVERY_MINUTE) for _ in range(3)]
        assert all("taskId" in m for m in made[:2])
        assert "ScheduledTasksUserLimit" in made[2]["error"]["details"][0]
    finally:
        httpx.post(f"{server.url}/admin/system/limits/update", verify=False, data={
            "f": "json", "token": admin,
            "properties": '[{"limitName": "ScheduledTasksUserLimit", "numLimit": 250}]'})


def test_get_on_create_task_says_it_needs_post(server: Server, erin: str) -> None:
    r = httpx.get(f"{server.url}/sharing/rest/community/users/erin/tasks/createTask",
                  verify=False, params={"f": "json", "token": erin}).json()
    assert r["error"]["code"] == 405 and "POST" in r["error"]["message"]


def test_max_occurrences_zero_is_refused_and_the_preview_honours_the_count(
        server: Server, erin: str) -> None:
    zero = create(server, erin, maxOccurrences="0")
    assert zero["error"]["message"] == "Invalid 'maxOccurrences'"
    twice = create(server, erin, maxOccurrences="2")["taskId"]
    assert len(task(server, erin, twice)["nextStarts"]) == 2


def test_a_title_over_256_characters_is_refused(server: Server, erin: str) -> None:
    assert create(server, erin, title="t" * 257)["error"]["message"] == "Invalid 'title'"
    assert "taskId" in create(server, erin, title="t" * 256)


def test_a_field_sent_as_a_multipart_file_is_read(server: Server, erin: str) -> None:
    answer = httpx.post(
        f"{server.url}/sharing/rest/community/users/erin/tasks/createTask", verify=False,
        data={"f": "json", "type": "Ping", **EVERY_MINUTE},
        files={"title": ("title.txt", b"from a file", "text/plain")},
        headers={"X-Esri-Authorization": f"Bearer {erin}"}).json()
    assert task(server, erin, answer["taskId"])["title"] == "from a file"


@pytest.mark.parametrize(("day_of_week", "quartz"), [
    ("0-6", "1-7"), ("0-7", "1-7"), ("0,6", "1,7"), ("0", "1"), ("1-5", "1-5"),
    ("0-4/2", "1,3,5")])
def test_unix_day_numbers_are_translated_throughout_the_field(
        server: Server, erin: str, day_of_week: str, quartz: str) -> None:
    answer = create(server, erin, **{**EVERY_MINUTE, "minute": "0", "hour": "4",
                                     "dayOfMonth": "*", "dayOfWeek": day_of_week})
    assert task(server, erin, answer["taskId"])["cronExpression"] == f"0 0 4 ? * {quartz}"


@pytest.mark.parametrize("day_of_week", ["*/0", "2/0", "2#0"])
def test_a_step_or_ordinal_of_zero_is_refused(server: Server, erin: str,
                                              day_of_week: str) -> None:
    answer = create(server, erin, **{**EVERY_MINUTE, "dayOfMonth": "?",
                                     "dayOfWeek": day_of_week})
    assert answer["error"]["message"] == "Invalid 'dayOfWeek'"


def test_the_seed_pages_create_task_urls_create_tasks(server: Server, erin: str) -> None:
    short = call(server, "erin/createTask", erin, type="Ping", title="t", **EVERY_MINUTE)
    nested_url = call(server, f"erin/tasks/{short['taskId']}/createTask", erin, type="Ping",
                      title="t", **EVERY_MINUTE)
    assert "taskId" in short and "taskId" in nested_url
    assert nested_url["taskId"] != short["taskId"]


def test_system_tasks_list_newest_first(server: Server, admin: str) -> None:
    made = []
    for n in range(3):
        made.append(httpx.post(f"{server.url}/admin/system/tasks/createTask", verify=False,
                               data={"f": "json", "token": admin, "type": "Ping",
                                     "title": f"s{n}", **EVERY_MINUTE}).json()["taskId"])
    listed = httpx.get(f"{server.url}/admin/system/tasks", verify=False,
                       params={"f": "json", "token": admin}).json()["result"]
    ids = [t["id"] for t in listed]
    assert [i for i in ids if i in made] == made[::-1]


def test_an_integer_too_large_for_json_readers_is_refused(server: Server, erin: str) -> None:
    answer = create(server, erin, parameters='{"a": 1' + "0" * 400 + "}")
    assert answer["error"]["message"] == "Invalid 'parameters'"


def test_a_list_filtered_on_too_many_types_is_refused(server: Server, erin: str) -> None:
    types = ",".join(f"T{n}" for n in range(200))
    answer = call(server, "erin/tasks", erin, types=types)
    assert answer["error"]["message"] == "Invalid 'types'"
