"""The official ArcGIS API for Python (``arcgis`` 2.4.4) against a real ``gistasks serve``.

The client lives in a virtual environment of its own (tests/arcgis_venv.py builds and caches
it); the scripts in tests/arcgis_scripts/ run in it, drive the client step by step and print
one JSON record per step. Each script runs once per module (every run signs in, and sign-in in
Kubernetes mode is two full OAuth flows), and the tests below check its records by behaviour.
A step that raised carries the client's traceback, which the failing test shows.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.arcgis_venv import ensure_arcgis_venv
from tests.test_server import Server, start_server, stop

pytestmark = pytest.mark.timeout(900)  # the first run builds the arcgis venv (~1 min)

ROOT = Path(__file__).resolve().parents[1]
USER, USER_PASSWORD = "erin", "erins pass 1"
ADMIN_PASSWORD = "admin pass 1"
SCRIPT_TIMEOUT_S = 300

Records = dict[str, dict[str, Any]]


@pytest.fixture(scope="module")
def arcgis_python() -> Path:
    return ensure_arcgis_venv()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    from gistasks.store import Store
    from gistasks.users import UserService

    data = tmp_path_factory.mktemp("arcgis-client")
    store = Store(f"sqlite:///{data / 'gistasks.db'}")
    store.migrate()
    UserService(store).add(USER, USER_PASSWORD, role="org_publisher")
    store.close()
    srv = start_server(data, env={"GISTASKS_ADMIN_PASSWORD": ADMIN_PASSWORD})
    yield srv
    stop(srv)


def run_script(python: Path, name: str, server: Server) -> Records:
    """Run ``tests/arcgis_scripts/<name>.py`` in the arcgis venv; its records by step name."""
    env = {**os.environ, "ARCGIS_TEST_URL": server.url, "ARCGIS_TEST_USER": USER,
           "ARCGIS_TEST_PASSWORD": USER_PASSWORD, "ARCGIS_TEST_ADMIN_PASSWORD": ADMIN_PASSWORD,
           "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([str(python), "-m", f"tests.arcgis_scripts.{name}"], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=SCRIPT_TIMEOUT_S,
                          check=False)
    try:
        records: Records = json.loads(proc.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        pytest.fail(f"{name} printed no JSON (exit {proc.returncode}):\n"
                    f"stdout:\n{proc.stdout[-4000:]}\nstderr:\n{proc.stderr[-8000:]}")
    return records


def step(records: Records, name: str) -> dict[str, Any]:
    """The record of one step; the test fails with the client's traceback if the step raised."""
    assert name in records, f"the script never reached step {name!r}"
    record = records[name]
    if "error" in record:
        pytest.fail(f"client step {name!r} raised:\n{record['error']}", pytrace=False)
    return record


# --- user side -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def user_side(arcgis_python: Path, server: Server) -> Records:
    return run_script(arcgis_python, "user_side", server)


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
    run = r["fired"][0]
    assert run["scheduledTime"] % 60_000 == 0  # on a minute boundary
    assert 0 < run["scheduledTime"] - r["created_at_ms"] <= 60_000
    assert str(run["result"]).startswith("pong")
    assert run["started"] >= run["scheduledTime"]
    assert r["task"]["occurrences"] >= 1
    # lastStart is when the engine planned the fire, which it does up to a moment ahead.
    assert 0 <= run["scheduledTime"] - r["task"]["lastStart"] < 5_000


def test_admin_client_lists_every_users_scheduled_tasks(user_side: Records) -> None:
    r = step(user_side, "admin_lists_scheduled_tasks")
    ids = step(user_side, "count_list_search")["ids"]
    assert r["admin_class"] == "KubernetesAdmin"
    assert r["tasks"] == sorted([USER, i] for i in ids.values())
    assert r["active"] == sorted(ids.values())


def test_client_deletes_tasks(user_side: Records) -> None:
    r = step(user_side, "delete")
    assert r["delete_minutely"] is True and r["delete_five"] is True
    assert r["count_after"] == 0
    assert r["read_deleted"]["error"]["code"] == 404
