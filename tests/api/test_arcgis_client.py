"""The official ArcGIS API for Python (``arcgis`` 2.4.4) against a real ``gistasks serve``.

The client lives in a virtual environment of its own (tests/arcgis_venv.py builds and caches
it); the scripts in tests/support/arcgis_scripts/ run in it, drive the client step by step and print
one JSON record per step. Each script runs once per module, the two side by side (every run
signs in, and sign-in in Kubernetes mode is two full OAuth flows), and the tests below check
their records by behaviour. A step that raised carries the client's traceback, which the
failing test shows.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.arcgis_venv import ensure_arcgis_venv
from tests.support.gptools import write_services
from tests.support.server import ERIN, Server, start_with_users, stop

pytestmark = pytest.mark.timeout(900)  # the first run builds the arcgis venv (~1 min)

ROOT = Path(__file__).resolve().parents[2]
USER, USER_PASSWORD, _ = ERIN
NORA = ("nora", "noras pass 1", "org_publisher")
"""The user of the content side."""
ADMIN_PASSWORD = "admin pass 1"
SCRIPT_TIMEOUT_S = 300

Records = dict[str, dict[str, Any]]


@pytest.fixture(scope="module")
def arcgis_python() -> Path:
    return ensure_arcgis_venv()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, arcgis_python: Path) -> Iterator[Server]:
    data_dir = tmp_path_factory.mktemp("arcgis-client")
    write_services(data_dir)
    # Notebooks run in the client's interpreter, so that a cell can sign in with GIS("home").
    srv = start_with_users(data_dir, ERIN, NORA,
                           env={"GISTASKS_NOTEBOOK_PYTHON": str(arcgis_python)})
    yield srv
    stop(srv)


class ScriptRun:
    """``tests/support/arcgis_scripts/<name>.py`` running in the arcgis venv, started at once."""

    def __init__(self, python: Path, name: str, server: Server,
                 user: tuple[str, str] = (USER, USER_PASSWORD)) -> None:
        self.name = name
        env = {**os.environ, "ARCGIS_TEST_URL": server.url, "ARCGIS_TEST_USER": user[0],
               "ARCGIS_TEST_PASSWORD": user[1],
               "ARCGIS_TEST_ADMIN_PASSWORD": ADMIN_PASSWORD, "PYTHONPATH": str(ROOT)}
        self.process = subprocess.Popen(
            [str(python), "-m", f"tests.support.arcgis_scripts.{name}"], cwd=ROOT, env=env,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self._records: Records | None = None

    def records(self) -> Records:
        """The script's records by step name (waiting for it to finish)."""
        if self._records is None:
            try:
                out, err = self.process.communicate(timeout=SCRIPT_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                out, err = self.process.communicate()
                pytest.fail(f"{self.name} ran over {SCRIPT_TIMEOUT_S} s:\n{err[-8000:]}")
            try:
                self._records = json.loads(out.strip().splitlines()[-1])
            except (IndexError, ValueError):
                pytest.fail(f"{self.name} printed no JSON (exit {self.process.returncode}):\n"
                            f"stdout:\n{out[-4000:]}\nstderr:\n{err[-8000:]}")
        return self._records

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.communicate()


@pytest.fixture(scope="module")
def client_runs(arcgis_python: Path, server: Server) -> Iterator[dict[str, ScriptRun]]:
    """The client scripts, run side by side: they touch disjoint things (erin's user tasks,
    system tasks, GP jobs), and the user side spends most of its time waiting for a minute
    boundary."""
    runs = {name: ScriptRun(arcgis_python, name, server)
            for name in ("user_side", "admin_side", "gp_side")}
    # Another user: the user side counts erin's tasks while this one schedules a notebook.
    runs["content_side"] = ScriptRun(arcgis_python, "content_side", server, NORA[:2])
    yield runs
    for run in runs.values():
        run.stop()


def step(records: Records, name: str) -> dict[str, Any]:
    """The record of one step; the test fails with the client's traceback if the step raised."""
    assert name in records, f"the script never reached step {name!r}"
    record = records[name]
    if "error" in record:
        pytest.fail(f"client step {name!r} raised:\n{record['error']}", pytrace=False)
    return record


# --- user side -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def user_side(client_runs: dict[str, ScriptRun]) -> Records:
    return client_runs["user_side"].records()


def test_client_signs_in_with_its_default_oauth_flow(user_side: Records) -> None:
    r = step(user_side, "sign_in")
    assert r["username"] == USER and r["role"] == "org_publisher"
    assert r["portal_name"] == "gistasks" and r["token_is_set"] is True
    assert r["task_manager"] == "TaskManager"


def test_client_signs_in_with_generate_token(user_side: Records) -> None:
    r = step(user_side, "sign_in_with_generate_token")
    assert r["username"] == USER
    ids = step(user_side, "count_list_search")["ids"]
    assert set(ids.values()) <= set(r["ids"])


def test_client_creates_a_task_with_the_schedule_title_and_occurrences_it_asked_for(
    user_side: Records,
) -> None:
    every = step(user_side, "create_every_minute")
    assert every["returned"] == "Task"
    task = every["task"]
    assert task["type"] == "Ping" and task["title"] == "every minute" and task["userId"] == USER
    assert task["cronSchedule"] == {"minute": "*", "hour": "*", "dayOfMonth": "*", "month": "*",
                                    "dayOfWeek": "?"}
    assert task["maxOccurrences"] == -1 and task["occurrences"] == 0
    assert task["taskState"] == "active" and task["active"] is True
    assert task["itemId"] == "" and task["parameters"] == {}
    assert task["nextStart"] > 0
    five = step(user_side, "create_five_times")
    assert five["returned"] == "Task"
    assert five["task"]["title"] == "five times" and five["task"]["maxOccurrences"] == 5
    assert five["task"]["cronSchedule"]["minute"] == "0"
    assert five["task"]["cronSchedule"]["hour"] == "4"


def test_client_counts_lists_and_searches_the_users_tasks(user_side: Records) -> None:
    before = step(user_side, "create_every_minute")["count_before"]
    r = step(user_side, "count_list_search")
    both = sorted(r["ids"].values())
    assert before == 0 and r["count"] == 2
    assert r["all"] == both and r["active"] == both and r["typed"] == both


def test_client_update_changes_the_title_and_keeps_the_schedule(user_side: Records) -> None:
    r = step(user_side, "update_title")
    assert r["returned"] is True
    assert r["task"]["title"] == "renamed" and r["task"]["maxOccurrences"] == 5
    assert r["task"]["cronSchedule"]["hour"] == "4" and r["task"]["cronSchedule"]["minute"] == "0"
    # The client's update() sends maxOccurrences=10 unless told otherwise; the server takes it.
    assert r["returned_default"] is True
    assert r["task_default"]["title"] == "renamed again"
    assert r["task_default"]["maxOccurrences"] == 10


def test_client_stop_and_start_deactivate_and_reactivate_the_task(user_side: Records) -> None:
    r = step(user_side, "stop_start")
    five = step(user_side, "count_list_search")["ids"]["five"]
    assert r["stop"] is True and r["start"] is True
    assert r["stopped"]["active"] is False and r["stopped"]["taskState"] == "paused"
    assert r["inactive_ids"] == [five]
    assert r["started"]["active"] is True and r["started"]["taskState"] == "active"


def test_client_disable_and_enable_pause_and_resume_the_task(user_side: Records) -> None:
    r = step(user_side, "disable_enable")
    assert r["disable"] is True and r["enable"] is True
    assert r["disabled"]["taskState"] == "paused" and r["disabled"]["active"] is False
    assert r["enabled"]["taskState"] == "active" and r["enabled"]["active"] is True


def test_client_reads_updates_and_deletes_the_runs_of_a_task(user_side: Records) -> None:
    r = step(user_side, "run_now_and_runs")
    run_id = r["run_now"]["runId"]
    assert r["run_now"]["success"] is True
    assert r["run"] is not None, "the runNow run did not finish within 30 s"
    assert r["run"]["status"] == "succeeded" and str(r["run"]["result"]).startswith("pong")
    assert r["run_classes"] == ["Run"]
    assert r["update"] is True
    assert r["updated"]["runId"] == run_id
    assert r["updated"]["status"] == "failed" and r["updated"]["result"] == "boom"
    assert r["delete"] is True and run_id not in r["left"]


def test_client_creates_a_task_that_fires_on_its_minute_schedule(user_side: Records) -> None:
    r = step(user_side, "scheduled_fire")
    assert r["fired"], f"no scheduled run within {r['waited_since_create']} s of creation"
    fired = sorted(r["fired"], key=lambda run: int(run["scheduledTime"]))
    first, last = fired[0], fired[-1]
    assert first["scheduledTime"] % 60_000 == 0  # on a minute boundary
    assert 0 < first["scheduledTime"] - r["created_at_ms"] <= 60_000
    assert str(first["result"]).startswith("pong")
    assert first["started"] >= first["scheduledTime"]
    assert r["task"]["occurrences"] >= len(fired)
    # lastStart is when the engine planned the fire, which it does up to a moment ahead.
    assert 0 <= last["scheduledTime"] - r["task"]["lastStart"] < 5_000


def test_admin_client_lists_every_users_scheduled_tasks(user_side: Records) -> None:
    r = step(user_side, "admin_lists_scheduled_tasks")
    ids = step(user_side, "count_list_search")["ids"]
    assert r["admin_class"] == "KubernetesAdmin"
    # Every user's: erin's, and any the content side (nora) has at that moment.
    assert [t for t in r["tasks"] if t[0] == USER] == sorted([USER, i] for i in ids.values())
    assert {t[0] for t in r["tasks"]} <= {USER, NORA[0]}
    theirs = {t[1] for t in r["tasks"] if t[0] != USER}
    assert sorted(set(r["active"]) - theirs) == sorted(ids.values())


def test_client_deletes_tasks(user_side: Records) -> None:
    r = step(user_side, "delete")
    assert r["delete_minutely"] is True and r["delete_five"] is True
    assert r["count_after"] == 0
    assert r["read_deleted"]["error"]["code"] == 404


# --- admin side ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def admin_side(client_runs: dict[str, ScriptRun]) -> Records:
    return client_runs["admin_side"].records()


def test_admin_client_gets_the_kubernetes_administrator_api(admin_side: Records,
                                                            server: Server) -> None:
    r = step(admin_side, "sign_in")
    assert r["username"] == "admin" and r["admin_class"] == "KubernetesAdmin"
    assert r["admin_url"] == f"{server.url}/admin" and r["admin_version"] == [12, 0, 0]
    assert r["tasks_class"] == "TaskManager"
    assert r["tasks_url"] == f"{server.url}/admin/system/tasks"
    # The built-in system tasks, in the seed page's shape (only the ids differ).
    assert sorted(t["taskTitle"] for t in r["listed_before"]) == [
        "backupRetentionCleanerTask", "gpCleanerTask"]
    [cleaner] = [t for t in r["listed_before"] if t["taskType"] == "CleanGPJobs"]
    assert {k: cleaner[k] for k in ("type", "taskType", "taskTitle", "cronExpression",
                                    "runIntervalSeconds", "maxOccurrences", "taskState",
                                    "active", "cronSchedule")} == {
        "type": "GP_JOBS_CLEANER_TASK_TYPE", "taskType": "CleanGPJobs",
        "taskTitle": "gpCleanerTask", "cronExpression": "0 0 * * * ?",
        "runIntervalSeconds": 3600, "maxOccurrences": -1, "taskState": "active",
        "active": True, "cronSchedule": {"dayOfWeek": "?", "hour": "*", "month": "*",
                                         "dayOfMonth": "*", "minute": "0"}}
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
                        cleaner["itemId"]), cleaner["itemId"]
    assert re.fullmatch(r"[0-9a-f]{32}", cleaner["id"]) and cleaner["taskId"] == cleaner["id"]


def test_admin_client_creates_a_system_task_with_its_passcode_masked(
    admin_side: Records, server: Server,
) -> None:
    r = step(admin_side, "create")
    task_id = r["task_id"]
    assert r["returned"] == "Task"
    assert r["task_url"] == f"{server.url}/admin/system/tasks/{task_id}"
    builtins = [t["id"] for t in step(admin_side, "sign_in")["listed_before"]]
    assert r["listed"] == [task_id, *builtins] and r["fresh_listed"] == [task_id, *builtins]
    task = r["task"]
    assert task["id"] == task["taskId"] == task_id
    assert task["taskType"] == "Ping" and task["type"] == "PING_TASK_TYPE"
    assert task["title"] == task["taskTitle"] == "sys heartbeat" and task["itemId"] == ""
    assert task["cronSchedule"] == {"minute": "*", "hour": "*", "dayOfMonth": "*", "month": "*",
                                    "dayOfWeek": "?"}
    assert task["maxOccurrences"] == -1 and re.fullmatch(r"[0-9a-f]{32}", task["ownerId"])
    assert task["taskState"] == "active" and task["active"] is True
    assert task["parameters"] == {"note": "x", "passcode": "********"}


def test_admin_client_task_object_update_sends_the_mask_back_and_keeps_the_secret(
    admin_side: Records,
) -> None:
    r = step(admin_side, "update_through_the_task_object")
    assert r["returned"] is True
    assert r["task"]["title"] == "sys heartbeat 2" and r["task"]["taskType"] == "Ping"
    assert r["task"]["parameters"] == {"note": "x", "passcode": "********"}
    assert r["task"]["cronSchedule"]["minute"] == "*" and r["task"]["maxOccurrences"] == -1


def test_admin_client_edits_a_system_tasks_schedule_and_title(admin_side: Records) -> None:
    r = step(admin_side, "edit_task")
    assert r["returned"] == "Task"
    task = r["task"]
    assert task["title"] == "renamed" and task["maxOccurrences"] == -1
    assert task["cronSchedule"] == {"minute": "30", "hour": "3", "dayOfMonth": "*", "month": "*",
                                    "dayOfWeek": "?"}
    assert task["parameters"] == {"note": "x", "passcode": "********"}


def test_admin_client_disables_and_enables_a_system_task(admin_side: Records) -> None:
    r = step(admin_side, "disable_enable")
    assert r["disable"]["success"] is True and r["enable"]["success"] is True
    assert r["disabled"]["taskState"] == "paused" and r["disabled"]["active"] is False
    assert r["enabled"]["taskState"] == "active" and r["enabled"]["active"] is True


def test_admin_client_reads_edits_and_deletes_a_system_task_run(admin_side: Records) -> None:
    r = step(admin_side, "runs")
    run_id = r["run_now"]["runId"]
    assert r["run_now"]["success"] is True
    assert r["listed_run"] is not None, "the runNow run was not listed as finished within 30 s"
    assert r["listed_run"]["status"] == "succeeded"
    assert r["run"]["runId"] == run_id and str(r["run"]["result"]).startswith("pong")
    assert r["edit_run"]["success"] is True
    assert r["edited_run"]["status"] == "failed" and r["edited_run"]["result"] == "boom"
    assert r["delete_run"]["success"] is True and run_id not in r["runs_left"]


def test_admin_client_reads_the_schedule_task_limits(admin_side: Records) -> None:
    r = step(admin_side, "limits")
    for answer in (r["portaladmin"], r["admin"]):
        limits = {x["limitName"]: x["numLimit"] for x in answer["ScheduleTask"]}
        assert limits["ExecuteNotebooksUserLimit"] == 20


def test_admin_client_deletes_a_system_task(admin_side: Records) -> None:
    r = step(admin_side, "delete")
    builtins = [t["id"] for t in step(admin_side, "sign_in")["listed_before"]]
    assert r["delete"]["success"] is True and r["listed"] == builtins
    # The Administrator API's error envelope, which the client hands back instead of raising.
    assert r["read_deleted"]["status"] == "error" and r["read_deleted"]["code"] == 404


# --- geoprocessing ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def gp_side(client_runs: dict[str, ScriptRun]) -> Records:
    return client_runs["gp_side"].records()


def test_import_toolbox_makes_a_function_of_each_shipped_tool(gp_side: Records) -> None:
    r = step(gp_side, "import_toolbox")
    assert {"buffer", "project", "export_features"} <= set(r["functions"])
    assert r["buffer_signature"][:3] == ["input_features", "distance", "dissolve"]


def test_the_client_buffers_and_gets_a_feature_set(gp_side: Records) -> None:
    r = step(gp_side, "buffer")
    assert r["class"] == "FeatureSet" and r["count"] == 2
    assert r["geometry_type"] == "esriGeometryPolygon" and r["attributes"] == ["a", "b"]
    assert r["spatial_reference"]["wkid"] == 4326 and r["ring_points"] > 16


def test_the_client_projects_features(gp_side: Records) -> None:
    r = step(gp_side, "project")
    assert r["class"] == "FeatureSet" and r["count"] == 2
    assert r["spatial_reference"]["latestWkid"] == 3857


def test_the_client_downloads_a_file_result(gp_side: Records, server: Server) -> None:
    r = step(gp_side, "export_features")
    assert r["class"] == "DataFile"
    assert r["url"].startswith(f"{server.url}/rest/directories/arcgisjobs/utilities/")
    assert r["saved"].endswith("points.gpkg") and r["header"] == "SQLite format 3"


def test_the_gptask_path_runs_a_job_to_its_value(gp_side: Records) -> None:
    r = step(gp_side, "gptask")
    assert r["returned"] == "GPJob" and r["value"] == "echo: from the GPTask path"


def test_the_client_cancels_a_running_job(gp_side: Records) -> None:
    r = step(gp_side, "cancel")
    assert r["running"] is True and r["cancelled"] is True
    assert r["final"] == "esriJobCancelled"


def test_a_failing_tool_raises_in_the_client_with_its_message(gp_side: Records) -> None:
    r = step(gp_side, "failing_tool")
    assert r["raised"] is not None and "the tool failed: no such data" in r["raised"]


def test_the_client_executes_a_synchronous_task(gp_side: Records) -> None:
    assert step(gp_side, "sync_execute")["value"] == "echo: right away"


def test_gis_admin_queries_a_services_jobs(gp_side: Records) -> None:
    r = step(gp_side, "admin_query")
    assert r["services"] == ["Public", "Sync", "Tools"] and r["manager"] == "GPJobManager"
    # The GPTask echo, the cancelled sleep and the failed job: two pages of two, merged.
    assert r["count"] == 3
    assert r["statuses"] == ["esriJobCancelled", "esriJobFailed", "esriJobSucceeded"]
    assert r["users"] == [USER]


def test_an_admin_cancel_through_the_client_reaches_the_users_job(gp_side: Records) -> None:
    r = step(gp_side, "admin_cancel")
    assert r["admin_status"] == "esriJobExecuting" and r["cancel"] == "success"
    assert r["user_sees"] == "esriJobCancelled"


# --- content and the task types on it -------------------------------------------------------


@pytest.fixture(scope="module")
def content_side(client_runs: dict[str, ScriptRun]) -> Records:
    return client_runs["content_side"].records()


def test_client_adds_a_notebook_in_parts_and_reads_it_back(content_side: Records) -> None:
    r = step(content_side, "add_notebook")
    assert r["item"]["class"] == "Item" and r["item"]["type"] == "Notebook"
    assert r["item"]["title"] == "Greeting notebook" and r["item"]["owner"] == NORA[0]
    assert len(r["item"]["id"]) == 32
    assert r["data"]["cells"][0]["metadata"]["tags"] == ["parameters"]


def test_client_finds_lists_and_updates_items_and_makes_folders(content_side: Records) -> None:
    item_id = step(content_side, "add_notebook")["item"]["id"]
    r = step(content_side, "folders_and_search")
    assert r["folder"] == "Scheduled" and "Scheduled" in r["folders"]
    assert r["found"] == [item_id] and r["listed"] == [item_id]
    u = step(content_side, "update_item")
    assert u["updated"] is True and u["item"]["title"] == "Greeting notebook (renamed)"


def test_client_notebook_task_fires_with_its_parameters_and_signs_in_as_its_owner(
        content_side: Records) -> None:
    assert step(content_side, "create_notebook_task")["returned"] == "Task"
    r = step(content_side, "notebook_task_fires")
    assert r["runs"], "the notebook task did not fire within 150 s"
    run = r["runs"][0]
    assert run["status"] == "succeeded", run
    assert run["scheduledTime"] % 60_000 == 0  # it fired on its minute
    assert r["sources"][1].splitlines()[1:] == ["greeting = 'hello'", "count = 21"]
    assert r["outputs"][2][0]["text"] == [f"hello x21 from {NORA[0]}\n"]  # GIS("home") is its owner
    assert r["outputs"][3][0]["data"]["text/plain"] == ["42"]
    assert r["page_has_output"] is True
    # updatePortalItem by default: the item now holds the executed notebook.
    assert r["item_data"]["cells"][2]["outputs"] == r["outputs"][2]


def test_client_user_report_returns_a_csv_item(content_side: Records) -> None:
    r = step(content_side, "admin_report")
    assert r["item"]["type"] == "Administrative Report" and r["item"]["owner"] == "admin"
    lines = r["data"].splitlines()
    assert lines[0].startswith("Username,Full Name,Email,Role")
    assert {line.split(",")[0] for line in lines[1:]} == {"admin", USER, NORA[0]}


def test_client_deletes_an_item(content_side: Records) -> None:
    r = step(content_side, "delete_item")
    assert r["deleted"] is True and r["search_after"] == []


def test_client_runs_a_notebook_on_demand_through_the_notebook_server(
        content_side: Records) -> None:
    r = step(content_side, "execute_notebook_on_demand")
    assert r["returned"] == "NotebookJob"
    job = r["job"]
    assert job["status"] == "COMPLETED" and job["type"] == "executeNotebook", job
    assert job["inputs"]["notebookParameters"] == {"greeting": "on demand", "count": 2}
    # The admin ran nora's notebook; it runs as its owner: GIS("home") is nora, not the admin.
    assert r["outputs"][1][0]["text"] == [f"on demand x2 from {NORA[0]}\n"]
    assert r["outputs"][2][0]["data"]["text/plain"] == ["4"]
