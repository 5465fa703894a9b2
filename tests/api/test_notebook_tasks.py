"""ExecuteNotebook over HTTP against a real ``gistasks serve``: a run executes the item's
notebook with its parameters, keeps the executed notebook (page and .ipynb) and writes it back
to the item; a failing cell is named; a notebook that never ends is killed at the time limit;
bad parameters are named at createTask."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.support.server import ERIN, FRANK, Server, from_tomorrow, start_with_users, stop, token

pytestmark = pytest.mark.timeout(180)
LIMIT_S = 4


def cell(source: str, tags: list[str] | None = None) -> dict[str, Any]:
    return {"cell_type": "code", "source": source, "metadata": {"tags": tags or []},
            "outputs": [], "execution_count": None}


def notebook(*cells: dict[str, Any]) -> bytes:
    return json.dumps({"cells": list(cells), "metadata": {}, "nbformat": 4,
                       "nbformat_minor": 5}).encode()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = start_with_users(tmp_path_factory.mktemp("notebooks"), ERIN, FRANK, env={
        "GISTASKS_NOTEBOOK_TIME_LIMIT_MINUTES": str(LIMIT_S / 60),
        "GISTASKS_NOTEBOOK_WARM_KERNELS": "1"})
    yield srv
    stop(srv)


class Client:
    def __init__(self, server: Server, user: str, password: str) -> None:
        self.server, self.user = server, user
        self.http = httpx.Client(verify=False, timeout=60, headers={
            "X-Esri-Authorization": f"Bearer {token(server, user, password)}"})
        self.base = f"{server.url}/sharing/rest"

    def post(self, path: str, files: Any = None, **form: Any) -> Any:
        return self.http.post(f"{self.base}/{path}", data={"f": "json", **form},
                              files=files).json()

    def get(self, path: str) -> Any:
        return self.http.get(f"{self.base}/{path}", params={"f": "json"}).json()

    def add_notebook(self, data: bytes) -> str:
        answer = self.post(f"content/users/{self.user}/addItem", title="nb",
                           files={"file": ("nb.ipynb", data)})
        return str(answer["id"])

    def task(self, item_id: str, parameters: Any = None) -> Any:
        return self.post(f"community/users/{self.user}/tasks/createTask",
                         type="ExecuteNotebook", title="nb", itemId=item_id, minute="0",
                         hour="3", dayOfMonth="*", month="*", dayOfWeek="?",
                         parameters=json.dumps(parameters or {}), **from_tomorrow())

    def run(self, task_id: str, timeout: float = 60) -> Any:
        tasks = f"community/users/{self.user}/tasks/{task_id}"
        run_id = self.post(f"{tasks}/runNow")["runId"]
        deadline = time.monotonic() + timeout
        while True:
            run = self.get(f"{tasks}/runs/{run_id}")
            if run["status"] not in ("scheduled", "executing"):
                return run
            assert time.monotonic() < deadline, run
            time.sleep(0.1)


@pytest.fixture(scope="module")
def erin(server: Server) -> Client:
    return Client(server, "erin", "erins pass 1")


def test_a_run_injects_parameters_keeps_the_executed_notebook_and_updates_the_item(
        erin: Client) -> None:
    item_id = erin.add_notebook(notebook(cell("n = 1", ["parameters"]),
                                         cell("import os\nprint(n * 2, os.getcwd())")))
    task_id = erin.task(item_id, {"notebookParameters": json.dumps({"n": 21})})["taskId"]
    run = erin.run(task_id)
    assert run["status"] == "succeeded", run
    assert run["url"].endswith(f"/runs/{run['runId']}/notebook.html")
    page = erin.http.get(run["url"])
    assert page.headers["content-type"].startswith("text/html")
    assert "sandbox" in page.headers["content-security-policy"]
    executed = erin.http.get(run["url"].replace(".html", ".ipynb")).json()
    text = executed["cells"][1]["outputs"][0]["text"]
    printed = "".join(text) if isinstance(text, list) else text
    assert printed.startswith("42 ") and printed.strip().endswith(f"/content/{item_id}")
    assert "injected-parameters" not in json.dumps(executed)  # saveInjectedParameters false
    saved = erin.http.get(f"{erin.base}/content/items/{item_id}/data").json()
    assert saved["cells"][1]["outputs"] == executed["cells"][1]["outputs"]


def test_update_portal_item_false_leaves_the_item_as_it_was(erin: Client) -> None:
    data = notebook(cell("print('ran')"))
    item_id = erin.add_notebook(data)
    task_id = erin.task(item_id, {"updatePortalItem": False})["taskId"]
    assert erin.run(task_id)["status"] == "succeeded"
    assert erin.http.get(f"{erin.base}/content/items/{item_id}/data").content == data


def test_a_failing_cell_is_named_in_the_failed_run(erin: Client) -> None:
    item_id = erin.add_notebook(notebook(cell("a = 1"), cell("b = a + undefined_name"),
                                         cell("print('never')")))
    run = erin.run(erin.task(item_id)["taskId"])
    assert run["status"] == "failed"
    assert "NameError" in run["result"] and "undefined_name" in run["result"]
    assert "cell 2" in run["result"].lower() or "b = a + undefined_name" in run["result"]
    executed = erin.http.get(run["url"].replace(".html", ".ipynb")).json()
    assert executed["cells"][2]["outputs"] == []


def test_a_notebook_that_never_ends_is_killed_at_its_time_limit(erin: Client) -> None:
    item_id = erin.add_notebook(notebook(cell("import time\nwhile True:\n    time.sleep(0.1)")))
    started = time.monotonic()
    run = erin.run(erin.task(item_id)["taskId"])
    took = time.monotonic() - started
    assert run["status"] == "failed" and "time limit" in run["result"].lower(), run
    assert LIMIT_S <= took < LIMIT_S + 15


def test_bad_notebook_parameters_are_named_at_create(erin: Client) -> None:
    item_id = erin.add_notebook(notebook(cell("x = 1")))
    for bad in ({"notebookParameters": {"not a name": 1}},
                {"notebookParameters": "[1, 2]"},
                {"updatePortalItem": "perhaps"}):
        answer = erin.task(item_id, bad)
        assert "error" in answer, answer
        assert answer["error"]["message"] == "Invalid 'parameters'"
        assert "ExecuteNotebook" in answer["error"]["details"][0]


def test_a_user_without_the_privilege_cannot_schedule_notebooks(server: Server) -> None:
    frank = Client(server, "frank", "franks pass 1")
    item_id = frank.add_notebook(notebook(cell("x = 1")))
    answer = frank.task(item_id)
    assert "error" in answer and "scheduleNotebooks" in json.dumps(answer)


def test_a_deleted_run_takes_its_executed_notebook(erin: Client) -> None:
    item_id = erin.add_notebook(notebook(cell("print(1)")))
    task_id = erin.task(item_id)["taskId"]
    run = erin.run(task_id)
    tasks = f"community/users/erin/tasks/{task_id}"
    assert erin.post(f"{tasks}/runs/{run['runId']}/delete")["success"] is True
    assert (erin.server.data_dir / "runs" / run["runId"]).exists() is False


def test_a_notebook_runs_on_demand_as_a_job_that_its_owner_follows(erin: Client,
                                                                    server: Server) -> None:
    item_id = erin.add_notebook(notebook(cell("n = 0", ["parameters"]), cell("print(n + 1)")))
    admin_api = f"{server.url}/admin/notebooks"
    started = erin.http.post(f"{admin_api}/executeNotebook", data={
        "f": "json", "itemId": item_id, "notebookParameters": json.dumps({"n": 41}),
        "updatePortalItem": "false"}).json()
    assert started["status"] == "success" and started["jobUrl"].endswith(started["jobId"])
    deadline = time.monotonic() + 60
    while True:
        job = erin.http.get(started["jobUrl"], params={"f": "json"}).json()
        if job["status"] in ("COMPLETED", "FAILED"):
            break
        assert time.monotonic() < deadline, job
        time.sleep(0.1)
    assert job["status"] == "COMPLETED", job
    assert job["inputs"]["notebookParameters"] == {"n": 41}
    executed = erin.http.get(job["results"]["executedNotebookUrl"].replace(
        ".html", ".ipynb")).json()
    assert "".join(executed["cells"][1]["outputs"][0]["text"]) == "42\n"
    listed = erin.http.get(f"{admin_api}/jobs", params={"f": "json"}).json()
    assert started["jobId"] in [j["jobId"] for j in listed["asyncJobs"]]


def test_on_demand_runs_need_the_privilege_and_a_job_is_its_owners(erin: Client,
                                                                    server: Server) -> None:
    frank = Client(server, "frank", "franks pass 1")
    item_id = erin.add_notebook(notebook(cell("print(1)")))
    admin_api = f"{server.url}/admin/notebooks"
    refused = frank.http.post(f"{admin_api}/executeNotebook",
                              data={"f": "json", "itemId": item_id}).json()
    assert "error" in json.dumps(refused) and "403" in json.dumps(refused)
    job = erin.http.post(f"{admin_api}/executeNotebook",
                         data={"f": "json", "itemId": item_id}).json()
    other = frank.http.get(job["jobUrl"], params={"f": "json"}).json()
    assert "404" in json.dumps(other)
    bad = erin.http.post(f"{admin_api}/executeNotebook", data={
        "f": "json", "itemId": item_id, "notebookParameters": "{\"not a name\": 1}"}).json()
    assert "notebookParameters" in json.dumps(bad) or "not a name" in json.dumps(bad)
