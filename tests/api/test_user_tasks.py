"""Sharing API user tasks over HTTPS against a real server: create, read, list, change, run."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

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


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = start_with_users(tmp_path_factory.mktemp("tasks"), ERIN, FRANK)
    yield srv
    stop(srv)


def call(server: Server, path: str, tok: str, **form: str) -> dict[str, object]:
    answer: dict[str, object] = httpx.post(
        f"{server.url}/sharing/rest/community/users/{path}", verify=False,
        data={"f": "json", **form}, headers={"X-Esri-Authorization": f"Bearer {tok}"}).json()
    return answer


def create(server: Server, tok: str, **form: str) -> str:
    body = call(server, "erin/tasks/createTask", tok,
                **{"type": "Ping", "title": "heartbeat", **EVERY_MINUTE, **form})
    assert body.get("success") is True, body
    return str(body["taskId"])


def test_create_then_read_a_task_in_the_arcgis_shape(server: Server) -> None:
    tok = token(server, "erin", "erins pass 1")
    task_id = create(server, tok, maxOccurrences="10")
    task = call(server, f"erin/tasks/{task_id}", tok)
    assert task["id"] == task_id and task["userId"] == "erin" and task["type"] == "Ping"
    assert task["cronSchedule"] == {"minute": "*/1", "hour": "*", "dayOfMonth": "*",
                                    "month": "*", "dayOfWeek": "?"}
    assert task["cronExpression"] == "0 */1 * * * ?" and task["runIntervalSeconds"] == 60
    assert task["taskState"] == "active" and task["active"] is True
    assert task["maxOccurrences"] == 10 and task["scheduleDescription"] == "Every minute (UTC)"
    starts = task["nextStarts"]
    assert isinstance(starts, list) and len(starts) == 5 and starts[0] == task["nextStart"]


def test_the_list_pages_with_start_num_and_next_start(server: Server) -> None:
    tok = token(server, "erin", "erins pass 1")
    for _ in range(3):
        create(server, tok)
    everything = call(server, "erin/tasks", tok, num="100")
    total = everything["total"]
    assert isinstance(total, int) and total >= 3 and everything["nextStart"] == -1
    ids = [t["id"] for t in everything["tasks"]]  # type: ignore[attr-defined]
    first = call(server, "erin/tasks", tok, start="1", num="2")
    assert [t["id"] for t in first["tasks"]] == ids[:2]  # type: ignore[attr-defined]
    assert first["nextStart"] == 3 and first["total"] == total
    rest = call(server, "erin/tasks", tok, start="3", num="100")
    assert [t["id"] for t in rest["tasks"]] == ids[2:]  # type: ignore[attr-defined]
    assert rest["nextStart"] == -1
    newest = call(server, "erin/tasks", tok, num="1", sortOrder="desc")
    assert [t["id"] for t in newest["tasks"]] == ids[-1:]  # type: ignore[attr-defined]


def test_the_official_client_gets_every_match_in_one_page(server: Server) -> None:
    """Its paging loop breaks on nextStart != -1, so Geosaurus/* gets one page."""
    tok = token(server, "erin", "erins pass 1")
    create(server, tok)
    create(server, tok)
    listed = httpx.get(f"{server.url}/sharing/rest/community/users/erin/tasks", verify=False,
                       params={"f": "json", "num": "1", "start": "1"},
                       headers={"X-Esri-Authorization": f"Bearer {tok}",
                                "User-Agent": "Geosaurus/2.4.4"}).json()
    assert listed["nextStart"] == -1 and listed["total"] == len(listed["tasks"]) >= 2


def test_list_filters_by_item_active_and_types(server: Server) -> None:
    tok = token(server, "erin", "erins pass 1")
    task_id = create(server, tok, itemId="item-a")
    only = call(server, "erin/tasks", tok, itemId="item-a")
    assert [t["itemId"] for t in only["tasks"]] == ["item-a"]  # type: ignore[attr-defined]
    call(server, f"erin/tasks/{task_id}/disable", tok)
    inactive = call(server, "erin/tasks", tok, active="false", num="100")
    assert task_id in [t["id"] for t in inactive["tasks"]]  # type: ignore[attr-defined]
    assert all(not t["active"] for t in inactive["tasks"])  # type: ignore[attr-defined]
    assert call(server, "erin/tasks", tok, types="Nonsense")["total"] == 0


@pytest.mark.parametrize(("form", "error"), [
    ({"num": "101"}, "Invalid 'num'"), ({"start": "0"}, "Invalid 'start'"),
    ({"sortField": "owner"}, "Invalid 'sortField'"), ({"sortOrder": "up"}, "Invalid 'sortOrder'"),
    ({"active": "maybe"}, "Invalid 'active'")])
def test_bad_list_parameters_are_named(server: Server, form: dict[str, str], error: str) -> None:
    tok = token(server, "erin", "erins pass 1")
    body = call(server, "erin/tasks", tok, **form)
    assert body["error"]["message"] == error  # type: ignore[index]


@pytest.mark.parametrize(("form", "fragment"), [
    ({"minute": "61"}, "minute: 61 is outside 0-59"),
    ({"dayOfWeek": "8"}, "dayOfWeek: 8 is outside 1-7"),
    ({"type": "Nonsense"}, "Task types on this server"),
    ({"parameters": "{not json"}, "'parameters' must be a JSON object"),
    ({"maxOccurrences": "-2"}, "from -1 (unlimited) to 2147483647"),
    ({"endDate": "1000"}, "'endDate' is in the past"),
    ({"startDate": "4102444800000", "endDate": "4102444700000"}, "before 'startDate'"),
    ({"startDate": "tomorrow"}, "epoch milliseconds"),
    ({"hour": "*", "minute": "*", "dayOfMonth": "1", "dayOfWeek": "2"},
     "neither day field is '?'"),
])
def test_bad_parameters_are_named_in_the_error(server: Server, form: dict[str, str],
                                               fragment: str) -> None:
    tok = token(server, "erin", "erins pass 1")
    body = call(server, "erin/tasks/createTask", tok,
                **{"type": "Ping", **EVERY_MINUTE, **form})
    error = body["error"]
    assert isinstance(error, dict) and error["code"] == 400
    assert any(fragment in d for d in error["details"]), error


def test_missing_cron_fields_are_named(server: Server) -> None:
    tok = token(server, "erin", "erins pass 1")
    body = call(server, "erin/tasks/createTask", tok, type="Ping", minute="0")
    assert body["error"]["message"] == "'hour' must be specified"  # type: ignore[index]


def test_unix_style_fields_from_the_python_client_are_normalised(server: Server) -> None:
    tok = token(server, "erin", "erins pass 1")
    task_id = create(server, tok, minute="0", hour="0", dayOfMonth="*", month="*",
                     dayOfWeek="0")
    task = call(server, f"erin/tasks/{task_id}", tok)
    assert task["cronExpression"] == "0 0 0 ? * 1"


def test_disable_enable_update_and_delete(server: Server) -> None:
    tok = token(server, "erin", "erins pass 1")
    task_id = create(server, tok)
    assert call(server, f"erin/tasks/{task_id}/disable", tok)["success"] is True
    assert call(server, f"erin/tasks/{task_id}", tok)["taskState"] == "paused"
    assert call(server, f"erin/tasks/{task_id}/enable", tok)["success"] is True
    updated = call(server, f"erin/tasks/{task_id}/update", tok, type="Ping", hour="4",
                   minute="0", dayOfWeek="7", dayOfMonth="?", title="weekly")
    assert updated["success"] is True
    task = call(server, f"erin/tasks/{task_id}", tok)
    assert task["cronExpression"] == "0 0 4 ? * 7" and task["title"] == "weekly"
    stopped = call(server, f"erin/tasks/{task_id}/update", tok, isActive="false")
    assert stopped["success"] is True
    assert call(server, f"erin/tasks/{task_id}", tok)["active"] is False
    assert call(server, f"erin/tasks/{task_id}/delete", tok)["success"] is True
    assert call(server, f"erin/tasks/{task_id}", tok)["error"]["code"] == 404  # type: ignore[index]


def test_run_now_executes_and_runs_can_be_read_updated_and_deleted(server: Server) -> None:
    tok = token(server, "erin", "erins pass 1")
    task_id = create(server, tok, **from_tomorrow())
    run_id = str(call(server, f"erin/tasks/{task_id}/runNow", tok)["runId"])
    deadline = time.monotonic() + 20
    run: dict[str, object] = {}
    while time.monotonic() < deadline:
        run = call(server, f"erin/tasks/{task_id}/runs/{run_id}", tok)
        if run.get("status") == "succeeded":
            break
        time.sleep(0.1)
    assert run["status"] == "succeeded" and str(run["result"]).startswith("pong")
    runs = call(server, f"erin/tasks/{task_id}/runs", tok)["runs"]
    assert [r["runId"] for r in runs] == [run_id]  # type: ignore[attr-defined]
    assert call(server, f"erin/tasks/{task_id}/runs/{run_id}/update", tok,
                status="Skipped", result="by hand")["success"] is True
    assert call(server, f"erin/tasks/{task_id}/runs/{run_id}", tok)["status"] == "skipped"
    bad = call(server, f"erin/tasks/{task_id}/runs/{run_id}/update", tok, status="done")
    assert bad["error"]["code"] == 400  # type: ignore[index]
    assert call(server, f"erin/tasks/{task_id}/runs/{run_id}/delete", tok)["success"] is True
    assert call(server, f"erin/tasks/{task_id}/runs", tok)["runs"] == []


def test_others_tasks_are_forbidden_but_admins_see_all(server: Server) -> None:
    erin = token(server, "erin", "erins pass 1")
    task_id = create(server, erin)
    frank = token(server, "frank", "franks pass 1")
    assert call(server, f"erin/tasks/{task_id}", frank)["error"]["code"] == 403  # type: ignore[index]
    assert call(server, "erin/tasks", frank)["error"]["code"] == 403  # type: ignore[index]
    admin = token(server, "admin", "admin pass 1")
    assert call(server, f"erin/tasks/{task_id}", admin)["id"] == task_id
    # A task id under another user's path is not found there.
    assert call(server, f"frank/tasks/{task_id}", frank)["error"]["code"] == 404  # type: ignore[index]


def test_no_token_is_499(server: Server) -> None:
    body = httpx.post(f"{server.url}/sharing/rest/community/users/erin/tasks", verify=False,
                      data={"f": "json"}).json()
    assert body["error"]["code"] == 499


def test_all_scheduled_tasks_is_for_org_admins_and_filters_by_user(server: Server) -> None:
    erin = token(server, "erin", "erins pass 1")
    create(server, erin, title="erins")
    admin = token(server, "admin", "admin pass 1")
    url = f"{server.url}/sharing/rest/portals/self/allScheduledTasks"
    body = httpx.get(url, params={"f": "json", "token": admin, "userFilter": "erin",
                                  "num": "100"}, verify=False).json()
    assert body["nextStart"] == -1 and body["tasks"]
    assert {t["userId"] for t in body["tasks"]} == {"erin"}
    denied = httpx.get(url, params={"f": "json", "token": erin}, verify=False).json()
    assert denied["error"]["code"] == 403


def test_a_start_date_in_the_past_means_from_now(server: Server) -> None:
    tok = token(server, "erin", "erins pass 1")
    week_ago = int(time.time() * 1000) - 7 * 86_400_000
    task = call(server, f"erin/tasks/{create(server, tok, startDate=str(week_ago))}", tok)
    now = time.time() * 1000
    assert isinstance(task["nextStart"], int) and now < task["nextStart"] <= now + 61_000


def test_create_accepts_a_multipart_body_and_seconds_for_dates(server: Server) -> None:
    tok = token(server, "erin", "erins pass 1")
    end_s = int(time.time()) + 86_400
    fields = {"f": "json", "type": "Ping", "title": "multipart", "endDate": str(end_s),
              **EVERY_MINUTE}
    body = httpx.post(f"{server.url}/sharing/rest/community/users/erin/tasks/createTask",
                      verify=False, headers={"X-Esri-Authorization": f"Bearer {tok}"},
                      files={k: (None, v) for k, v in fields.items()}).json()
    task = call(server, f"erin/tasks/{body['taskId']}", tok)
    assert task["title"] == "multipart" and task["endDate"] == end_s * 1000


def test_a_task_reads_as_pretty_json_and_as_an_html_page(server: Server) -> None:
    tok = token(server, "erin", "erins pass 1")
    task_id = create(server, tok, title="<b>shown safely</b>")
    url = f"{server.url}/sharing/rest/community/users/erin/tasks/{task_id}"
    headers = {"X-Esri-Authorization": f"Bearer {tok}"}
    pretty = httpx.get(url, params={"f": "pjson"}, headers=headers, verify=False)
    assert pretty.json()["id"] == task_id and "\n  " in pretty.text
    page = httpx.get(url, headers=headers, verify=False)  # html is the default
    assert page.headers["content-type"].startswith("text/html")
    assert task_id in page.text and "&lt;b&gt;shown safely&lt;/b&gt;" in page.text


def test_a_nul_character_in_a_parameter_is_refused(server: Server) -> None:
    tok = token(server, "erin", "erins pass 1")
    body = call(server, "erin/tasks/createTask", tok, type="Ping", title="a\x00b",
                **EVERY_MINUTE)
    assert body["error"]["message"] == "Invalid 'title'"  # type: ignore[index]


@pytest.mark.parametrize("path", ["sharing/rest/generateToken", "sharing/rest/oauth2/token"])
def test_token_endpoints_answer_json_errors_without_f(server: Server, path: str) -> None:
    answer = httpx.post(f"{server.url}/{path}", verify=False,
                        data={"grant_type": "refresh_token", "g\x00": "1"})
    assert answer.headers["content-type"].startswith("application/json")
    assert answer.json()["error"]["code"] == 400
