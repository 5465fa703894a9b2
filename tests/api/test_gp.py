"""Geoprocessing over HTTP against a real ``gistasks serve``: the services directory, jobs from
submitJob to results, files, cancel and delete, who may see what, every data type's bad
values, the Administrator API's job management, CleanGPJobs, and the GPService task type."""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.gptools import write_services
from tests.support.server import (
    ERIN,
    FRANK,
    Server,
    from_tomorrow,
    start_server,
    start_with_users,
    stop,
    token,
)

pytestmark = pytest.mark.timeout(180)

TOOLS = "rest/services/Tests/Tools/GPServer"
POINTS = {"geometryType": "esriGeometryPoint", "spatialReference": {"wkid": 4326},
          "fields": [{"name": "n", "type": "esriFieldTypeString"}],
          "features": [{"geometry": {"x": 10, "y": 50}, "attributes": {"n": "a"}}]}
FINAL = ("esriJobSucceeded", "esriJobFailed", "esriJobTimedOut", "esriJobCancelled")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    data_dir = tmp_path_factory.mktemp("gp")
    write_services(data_dir)
    srv = start_with_users(data_dir, ERIN, FRANK)
    yield srv
    stop(srv)


class Client:
    """One user's session with the server (anonymous without a token)."""

    def __init__(self, server: Server, tok: str | None) -> None:
        self.server = server
        headers = {"X-Esri-Authorization": f"Bearer {tok}"} if tok else {}
        self.http = httpx.Client(verify=False, timeout=60, headers=headers)

    def get(self, path: str, **params: Any) -> Any:
        url = path if path.startswith("https://") else f"{self.server.url}/{path}"
        return self.http.get(url, params={"f": "json", **params}).json()

    def post(self, path: str, **form: Any) -> Any:
        data = {k: v if isinstance(v, str) else json.dumps(v) for k, v in form.items()}
        return self.http.post(f"{self.server.url}/{path}", data={"f": "json", **data}).json()

    def submit(self, tool: str, service: str = TOOLS, **form: Any) -> str:
        answer = self.post(f"{service}/{tool}/submitJob", **form)
        assert "jobId" in answer, answer
        return str(answer["jobId"])

    def job(self, tool: str, job_id: str, service: str = TOOLS) -> Any:
        return self.get(f"{service}/{tool}/jobs/{job_id}")

    def wait(self, tool: str, job_id: str, service: str = TOOLS, until: tuple[str, ...] = FINAL,
             timeout: float = 30) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            found = self.job(tool, job_id, service)
            if found.get("jobStatus") in until or time.monotonic() > deadline:
                return found
            time.sleep(0.05)


@pytest.fixture(scope="module")
def erin(server: Server) -> Client:
    return Client(server, token(server, "erin", "erins pass 1"))


@pytest.fixture(scope="module")
def frank(server: Server) -> Client:
    return Client(server, token(server, "frank", "franks pass 1"))


@pytest.fixture(scope="module")
def admin(server: Server) -> Client:
    return Client(server, token(server, "admin", "admin pass 1"))


@pytest.fixture(scope="module")
def anonymous(server: Server) -> Client:
    return Client(server, None)


def error_of(answer: Any) -> tuple[int, str]:
    assert "error" in answer, answer
    return answer["error"]["code"], " ".join([answer["error"]["message"],
                                              *answer["error"]["details"]])


# -- the directory -----------------------------------------------------------------------------


def test_the_directory_lists_folders_services_and_tasks(erin: Client) -> None:
    assert erin.get("rest/services")["folders"] == ["Tests", "Utilities"]
    assert {s["name"] for s in erin.get("rest/services/Tests")["services"]} == {
        "Tests/Tools", "Tests/Sync", "Tests/Public"}
    service = erin.get("rest/services/Utilities/Geometry/GPServer")
    assert service["tasks"] == ["Buffer", "Project", "ExportFeatures"]
    assert service["executionType"] == "esriExecutionTypeAsynchronous"
    assert service["resultMapServerName"] == ""
    task = erin.get("rest/services/Utilities/Geometry/GPServer/Buffer")
    params = {p["name"]: p for p in task["parameters"]}
    assert params["Input_Features"]["parameterType"] == "esriGPParameterTypeRequired"
    assert params["Distance"]["defaultValue"] == {"distance": 100.0, "units": "esriMeters"}
    assert params["Dissolve"]["defaultValue"] is False
    assert params["Output_Features"]["direction"] == "esriGPParameterDirectionOutput"
    assert params["Output_Features"]["parameterType"] == "esriGPParameterTypeDerived"
    for p in task["parameters"]:
        assert {"name", "dataType", "displayName", "direction", "defaultValue",
                "parameterType", "description"} <= set(p)
    choices = {p["name"]: p for p in erin.get(f"{TOOLS}/Types")["parameters"]}
    assert choices["S"]["choiceList"] == ["a", "b", "c"]
    assert choices["M"]["dataType"] == "GPMultiValue:GPLong"


def test_unknown_services_tasks_and_jobs_are_404(erin: Client) -> None:
    assert error_of(erin.get("rest/services/Nothing"))[0] == 404
    assert error_of(erin.get("rest/services/Tests/Nothing/GPServer"))[0] == 404
    assert error_of(erin.get(f"{TOOLS}/Nothing"))[0] == 404
    assert error_of(erin.job("Echo", "j" + "0" * 32))[0] == 404


# -- jobs --------------------------------------------------------------------------------------


def test_a_job_runs_from_submit_to_results(erin: Client) -> None:
    answer = erin.post(f"{TOOLS}/Echo/submitJob", Text="hello")
    assert re.fullmatch(r"j[0-9a-f]{32}", answer["jobId"])
    assert answer["jobStatus"] in ("esriJobSubmitted", "esriJobWaiting")
    done = erin.wait("Echo", answer["jobId"])
    assert done["jobStatus"] == "esriJobSucceeded"
    assert done["results"] == {"Answer": {"paramUrl": "results/Answer"}}
    assert done["inputs"] == {"Text": {"paramUrl": "inputs/Text"},
                              "Delay": {"paramUrl": "inputs/Delay"}}
    assert done["messages"][0]["description"] == "Submitted."
    job = f"{TOOLS}/Echo/jobs/{answer['jobId']}"
    assert erin.get(f"{job}/results/Answer") == {"paramName": "Answer", "dataType": "GPString",
                                                 "value": "echo: hello"}
    assert erin.get(f"{job}/inputs/Delay") == {"paramName": "Delay", "dataType": "GPDouble",
                                               "value": 0.0}
    assert erin.get(f"{TOOLS}/jobs/{answer['jobId']}")["jobStatus"] == "esriJobSucceeded"
    assert "messages" not in erin.get(job, returnMessages="false")


def test_a_buffer_job_answers_a_feature_set(erin: Client) -> None:
    job_id = erin.submit("Buffer", "rest/services/Utilities/Geometry/GPServer",
                         Input_Features=POINTS, Distance="250 Meters")
    done = erin.wait("Buffer", job_id, "rest/services/Utilities/Geometry/GPServer")
    assert done["jobStatus"] == "esriJobSucceeded", done
    value = erin.get(f"rest/services/Utilities/Geometry/GPServer/Buffer/jobs/{job_id}/"
                     "results/Output_Features")["value"]
    assert value["geometryType"] == "esriGeometryPolygon"
    assert value["features"][0]["attributes"] == {"n": "a"}


def test_a_tool_that_never_returns_times_out_and_a_crash_fails_its_job(erin: Client) -> None:
    hang, crash = erin.submit("Hang"), erin.submit("Crash", Code=7)
    done = erin.wait("Crash", crash)
    assert done["jobStatus"] == "esriJobFailed"
    assert any("ended unexpectedly (exit code 7)" in m["description"]
               for m in done["messages"]), done
    timed_out = erin.wait("Hang", hang, timeout=15)
    assert timed_out["jobStatus"] == "esriJobTimedOut"
    assert any("time limit of 4 seconds" in m["description"] for m in timed_out["messages"])


def test_a_failing_tool_ends_failed_with_its_error_message(erin: Client) -> None:
    done = erin.wait("Fail", erin.submit("Fail", Reason="bad input"))
    assert done["jobStatus"] == "esriJobFailed"
    errors = [m["description"] for m in done["messages"]
              if m["type"] == "esriJobMessageTypeError"]
    assert errors == ["the tool failed: bad input"]
    assert "results" not in done


def test_running_jobs_show_progress_and_cancel_by_get_stops_them(erin: Client) -> None:
    job_id = erin.submit("Sleep", Seconds=30)
    running = erin.wait("Sleep", job_id, until=("esriJobExecuting",))
    deadline = time.monotonic() + 5
    while "progress" not in running and time.monotonic() < deadline:
        running = erin.job("Sleep", job_id)
    assert running["jobStatus"] == "esriJobExecuting" and "percent" in running["progress"]
    cancelled = erin.http.get(f"{erin.server.url}/{TOOLS}/Sleep/jobs/{job_id}/cancel",
                              params={"f": "json"}).json()  # the official client's GET
    assert cancelled == {"jobId": job_id, "jobStatus": "esriJobCancelling"}
    assert erin.wait("Sleep", job_id, timeout=5)["jobStatus"] == "esriJobCancelled"
    code, text = error_of(erin.get(f"{TOOLS}/Sleep/jobs/{job_id}/cancel"))
    assert code == 400 and "Unable to cancel job" in text


def test_a_deleted_job_loses_everything_but_answers_cancelled(erin: Client, server: Server
                                                               ) -> None:
    job_id = erin.submit("WriteFile", Content="to be deleted")
    done = erin.wait("WriteFile", job_id)
    url = erin.get(f"{TOOLS}/WriteFile/jobs/{job_id}/results/File")["value"]["url"]
    folder = server.data_dir / "jobs" / job_id
    assert folder.is_dir()
    assert erin.post(f"{TOOLS}/WriteFile/jobs/{job_id}/delete")["success"] is True
    after = erin.job("WriteFile", job_id)
    assert after["jobStatus"] == done["jobStatus"] and "results" not in after
    assert not folder.exists()
    assert error_of(erin.get(f"{TOOLS}/WriteFile/jobs/{job_id}/results/File"))[0] == 404
    assert erin.http.get(url, params={"f": "json"}).json()["error"]["code"] == 404
    running = erin.submit("Sleep", Seconds=30)
    erin.wait("Sleep", running, until=("esriJobExecuting",))
    erin.post(f"{TOOLS}/Sleep/jobs/{running}/delete")
    assert erin.wait("Sleep", running, timeout=5)["jobStatus"] == "esriJobCancelled"


def test_a_synchronous_service_executes_and_refuses_submit_job(erin: Client) -> None:
    sync = "rest/services/Tests/Sync/GPServer"
    assert erin.get(sync)["executionType"] == "esriExecutionTypeSynchronous"
    answer = erin.post(f"{sync}/Echo/execute", Text="now")
    assert answer["results"] == [{"paramName": "Answer", "dataType": "GPString",
                                  "value": "echo: now"}]
    assert answer["messages"][0]["description"] == "Submitted."
    code, text = error_of(erin.post(f"{sync}/Echo/submitJob", Text="x"))
    assert code == 400 and "execute" in text
    code, text = error_of(erin.post(f"{sync}/Fail/execute"))
    assert "the tool failed" in text
    assert error_of(erin.post(f"{TOOLS}/Echo/execute", Text="x"))[0] == 400


# -- who may do what ---------------------------------------------------------------------------


def test_a_job_is_its_owners_and_the_org_admins(erin: Client, frank: Client,
                                                admin: Client) -> None:
    job_id = erin.submit("Echo", Text="mine")
    erin.wait("Echo", job_id)
    code, _ = error_of(frank.job("Echo", job_id))
    assert code == 403
    assert error_of(frank.get(f"{TOOLS}/Echo/jobs/{job_id}/results/Answer"))[0] == 403
    assert error_of(frank.post(f"{TOOLS}/Echo/jobs/{job_id}/delete"))[0] == 403
    assert admin.job("Echo", job_id)["jobStatus"] == "esriJobSucceeded"


def test_anonymous_callers_use_public_services_only(anonymous: Client, erin: Client) -> None:
    assert anonymous.get("rest/services")["folders"] == ["Tests"]
    assert [s["name"] for s in anonymous.get("rest/services/Tests")["services"]] == [
        "Tests/Public"]
    assert error_of(anonymous.post(f"{TOOLS}/Echo/submitJob", Text="x"))[0] == 499
    public = "rest/services/Tests/Public/GPServer"
    job_id = anonymous.submit("Echo", public, Text="hi")
    assert anonymous.wait("Echo", job_id, public)["jobStatus"] == "esriJobSucceeded"
    assert erin.job("Echo", job_id, public)["jobStatus"] == "esriJobSucceeded"
    mine = erin.submit("Echo", public, Text="erin's")
    erin.wait("Echo", mine, public)
    assert error_of(anonymous.job("Echo", mine, public))[0] == 499


# -- values ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "value", "says"), [
    ("S", "d", "must be one of a, b, c"),
    ("L", "1.5", "must be an integer"),
    ("D", "lots", "must be a number"),
    ("B", "maybe", "must be true or false"),
    ("T", "the day after", "ISO 8601"),
    ("U", '{"distance": "far"}', "distance must be a finite number"),
    ("File", '{"url": "https://elsewhere.example/data.gpkg"}', "only files this server serves"),
    ("File", '{"itemID": "abc"}', "uploads are not supported"),
    ("R", '{"features": [{"geometry": {"x": 1, "y": 2}}]}', "a record set has none"),
    ("FS", '{"features": [{"geometry": {"x": 1}}]}', "finite number"),
    ("FS", "[" * 40 + "]" * 40, "deeper than 32"),
    ("M", '[1, "two"]', "value 2 must be an integer"),
    ("M", "1;x", "must be an integer"),
])
def test_a_bad_value_of_any_data_type_is_refused_naming_it_and_nothing_is_queued(
        erin: Client, admin: Client, name: str, value: str, says: str) -> None:
    before = admin.get("admin/services/Tests/Tools.GPServer/jobs/statistics")["total"]
    code, text = error_of(erin.post(f"{TOOLS}/Types/submitJob", **{name: value}))
    assert code == 400 and f"'{name}'" in text and says in text, text
    assert admin.get("admin/services/Tests/Tools.GPServer/jobs/statistics")["total"] == before


def test_a_single_valued_input_given_twice_is_refused_naming_it(erin: Client,
                                                                 admin: Client) -> None:
    before = admin.get("admin/services/Tests/Tools.GPServer/jobs/statistics")["total"]
    answer = erin.http.post(f"{erin.server.url}/{TOOLS}/Echo/submitJob",
                            content="f=json&Text=one&Text=two",
                            headers={"Content-Type": "application/x-www-form-urlencoded"})
    code, text = error_of(answer.json())
    assert code == 400 and "'Text' was given 2 times" in text, text
    assert admin.get("admin/services/Tests/Tools.GPServer/jobs/statistics")["total"] == before


def test_a_missing_required_input_is_named(erin: Client) -> None:
    code, text = error_of(erin.post(f"{TOOLS}/Echo/submitJob"))
    assert code == 400 and "'Text' must be specified" in text


def test_every_data_type_reaches_the_tool_as_its_python_value(erin: Client) -> None:
    source = erin.submit("WriteFile", Content="file content")
    erin.wait("WriteFile", source)
    file_url = erin.get(f"{TOOLS}/WriteFile/jobs/{source}/results/File")["value"]["url"]
    job_id = erin.submit(
        "Types", S="b", L="7", D="2.5", B="true", T="2024-01-02T03:04:05Z",
        U="3 Kilometers", File=json.dumps({"url": file_url}),
        R=json.dumps({"fields": [{"name": "a"}], "features": [{"attributes": {"a": 1}}]}),
        FS=json.dumps(POINTS), M="[1, 2, 3]")
    done = erin.wait("Types", job_id)
    assert done["jobStatus"] == "esriJobSucceeded", done
    job = f"{TOOLS}/Types/jobs/{job_id}"
    report = json.loads(erin.get(f"{job}/results/Report")["value"])
    assert report == {"S": "str", "L": "int", "D": "float", "B": "bool", "T": "datetime",
                      "U": "LinearUnit", "File": "PosixPath", "R": "dict", "FS": "dict",
                      "M": "list"}
    assert erin.get(f"{job}/results/When")["value"] == 1704164645000
    assert erin.get(f"{job}/results/Unit")["value"] == {"distance": 3.0,
                                                        "units": "esriKilometers"}
    copy = erin.get(f"{job}/results/Copy")["value"]["url"]
    assert erin.http.get(copy).content == b"file content"
    assert erin.get(f"{job}/inputs/File")["value"] == {"url": file_url}


def test_job_files_go_to_their_owner_as_attachments_and_nothing_else_is_served(
        erin: Client, frank: Client) -> None:
    job_id = erin.submit("WriteFile", Content="secret report")
    erin.wait("WriteFile", job_id)
    url = erin.get(f"{TOOLS}/WriteFile/jobs/{job_id}/results/File")["value"]["url"]
    answer = erin.http.get(url)
    assert answer.status_code == 200 and answer.content == b"secret report"
    assert answer.headers["content-disposition"].startswith("attachment")
    assert frank.http.get(url, params={"f": "json"}).json()["error"]["code"] == 403
    base = url.rsplit("/out/", 1)[0]
    for probe in ("/../../gistasks.db", "/%2e%2e/%2e%2e/gistasks.db", "/out", "/inputs/x"):
        found = erin.http.get(base + probe, params={"f": "json"})
        assert found.headers["content-type"].startswith("application/json"), probe
        assert found.json()["error"]["code"] == 404, probe


# -- administration ----------------------------------------------------------------------------

ADMIN_JOBS = "admin/services/Tests/Tools.GPServer/jobs"


def test_the_admin_job_is_in_the_seed_pages_shape(erin: Client, admin: Client,
                                                  server: Server) -> None:
    job_id = erin.submit("Echo", Text="seen by admin")
    erin.wait("Echo", job_id)
    job = admin.get(f"{ADMIN_JOBS}/{job_id}")
    assert set(job) == {"jobId", "submittedTime", "endTime", "status", "username",
                        "machinename", "url"}
    assert job["jobId"] == job_id and job["status"] == "esriJobSucceeded"
    assert job["username"] == "erin" and job["endTime"] >= job["submittedTime"] > 0
    assert job["url"] == f"{server.url}/{TOOLS}/Echo/jobs/{job_id}"
    assert admin.get(ADMIN_JOBS) == {"resources": ["statistics"],
                                     "operations": ["query", "purgeQueue"]}
    assert erin.get(f"{ADMIN_JOBS}/{job_id}")["code"] == 403


def test_the_admin_query_filters_and_pages(erin: Client, frank: Client, admin: Client) -> None:
    time.sleep(0.01)
    since_ms = int(time.time() * 1000)
    since_s = since_ms // 1000  # the jobs of the test before may share this second
    ids = [erin.submit("Echo", Text=str(k)) for k in range(3)]
    failed = frank.submit("Fail")
    for k in ids:
        erin.wait("Echo", k)
    frank.wait("Fail", failed)
    until_ms = int(time.time() * 1000) + 1000

    def query(pairs: list[tuple[str, str]] | None = None, **params: str) -> Any:
        sent: list[tuple[str, Any]] = (list(pairs) if pairs is not None
                                       else [("f", "json"), *params.items()])
        return admin.http.get(f"{admin.server.url}/{ADMIN_JOBS}/query", params=sent).json()

    both = query(pairs=[("f", "json"), ("startTime", str(since_s)),
                        ("jobStatus", "esriJobSucceeded"), ("jobStatus", "esriJobFailed")])
    assert set(both["results"]) >= {*ids, failed}
    assert all(j["status"] in ("esriJobSucceeded", "esriJobFailed")
               for j in both["results"].values())
    only_failed = query(startTime=str(since_ms), endTime=str(until_ms),
                        jobStatus="esriJobFailed")
    assert list(only_failed["results"]) == [failed]
    assert list(query(startTime=str(since_ms), userName="frank")["results"]) == [failed]
    host = next(iter(both["results"].values()))["machinename"]
    assert set(query(startTime=str(since_ms), machineName=host)["results"]) == {*ids, failed}
    assert query(startTime=str(since_ms), machineName="elsewhere")["total"] == 0
    page1 = query(startTime=str(since_ms), userName="erin", number="2", start="1")
    assert (page1["total"], page1["num"], page1["start"], page1["nextStart"]) == (3, 2, 1, 3)
    page2 = query(startTime=str(since_ms), userName="erin", number="2", start="3")
    assert (page2["num"], page2["nextStart"]) == (1, -1)
    assert set(page1["results"]) | set(page2["results"]) == set(ids)
    assert query(pairs=[("f", "json"), ("status", "esriJobFailed"), ("startTime", ""),
                        ("userName", ""), ("machineName", "")])["total"] >= 1
    bad = query(jobStatus="esriJobBored")
    assert bad["status"] == "error" and "jobStatus" in bad["messages"][0] + bad["messages"][-1]
    assert query(startTime="2020-01-01T00:00:00")["total"] >= 4
    assert query(startTime="soon")["status"] == "error"


def test_statistics_count_a_services_jobs_by_status(erin: Client, admin: Client) -> None:
    before = admin.get(f"{ADMIN_JOBS}/statistics")
    erin.wait("Fail", erin.submit("Fail"))
    after = admin.get(f"{ADMIN_JOBS}/statistics")
    assert after["failed"] == before["failed"] + 1
    assert after["total"] == before["total"] + 1
    assert after["total"] == sum(v for k, v in after.items() if k != "total")


def test_purge_queue_cancels_what_has_not_started(erin: Client, admin: Client) -> None:
    blockers = [erin.submit("Sleep", Seconds=3) for _ in range(2)]  # the service's two slots
    for b in blockers:  # running, so that only what comes next is queued
        erin.wait("Sleep", b, until=("esriJobExecuting",), timeout=20)
    queued = [erin.submit("Echo", Text="queued") for _ in range(2)]
    for q in queued:
        assert erin.job("Echo", q)["jobStatus"] == "esriJobWaiting"
    assert admin.post(f"{ADMIN_JOBS}/purgeQueue")["status"] == "success"
    for q in queued:
        assert erin.job("Echo", q)["jobStatus"] == "esriJobCancelled"
    for b in blockers:
        assert erin.wait("Sleep", b)["jobStatus"] == "esriJobSucceeded"


def test_an_admin_cancel_is_what_the_users_next_poll_sees(erin: Client, admin: Client) -> None:
    job_id = erin.submit("Sleep", Seconds=30)
    erin.wait("Sleep", job_id, until=("esriJobExecuting",))
    assert admin.post(f"{ADMIN_JOBS}/{job_id}/cancel") == {"status": "success",
                                                           "success": True}
    assert erin.wait("Sleep", job_id, timeout=5)["jobStatus"] == "esriJobCancelled"
    assert admin.post(f"{ADMIN_JOBS}/{job_id}/cancel") == {
        "status": "error", "messages": [f"Unable to cancel job :[{job_id}]"], "code": 500}
    assert admin.post(f"{ADMIN_JOBS}/{job_id}/delete")["status"] == "success"
    assert erin.job("Sleep", job_id)["jobStatus"] == "esriJobCancelled"
    assert admin.get(f"{ADMIN_JOBS}/{job_id}")["code"] == 404


# -- CleanGPJobs -------------------------------------------------------------------------------


def _cleaner(admin: Client) -> dict[str, Any]:
    tasks = admin.get("admin/system/tasks")["result"]
    [cleaner] = [t for t in tasks if t["taskType"] == "CleanGPJobs"]
    return dict(cleaner)


def test_the_gp_cleaner_task_exists_and_cannot_be_deleted_or_doubled(admin: Client) -> None:
    cleaner = _cleaner(admin)
    assert cleaner["taskTitle"] == "gpCleanerTask" and cleaner["type"] == \
        "GP_JOBS_CLEANER_TASK_TYPE"
    assert cleaner["cronExpression"] == "0 0 * * * ?" and cleaner["runIntervalSeconds"] == 3600
    refused = admin.post(f"admin/system/tasks/{cleaner['id']}/delete")
    assert refused["status"] == "error" and "built-in" in " ".join(refused["messages"])
    second = admin.post("admin/system/tasks/createTask", type="CleanGPJobs", title="again",
                        minute="0", hour="*", dayOfMonth="*", month="*", dayOfWeek="?")
    assert second["status"] == "error" and "exists already" in " ".join(second["messages"])
    assert _cleaner(admin)["id"] == cleaner["id"]


def test_old_finished_jobs_are_cleaned_with_their_folders(erin: Client, admin: Client,
                                                          server: Server) -> None:
    old, fresh, running = (erin.submit("WriteFile", Content="old"),
                           erin.submit("WriteFile", Content="fresh"),
                           erin.submit("Sleep", Seconds=3))
    erin.wait("WriteFile", old)
    erin.wait("WriteFile", fresh)
    # Tests/Tools keeps finished jobs one minute: make ``old`` two minutes old.
    with sqlite3.connect(server.data_dir / "gistasks.db") as db:
        db.execute("UPDATE gp_jobs SET ended = ended - 120000 WHERE id = ?", (old,))
    cleaner = _cleaner(admin)
    run = admin.post(f"admin/system/tasks/{cleaner['id']}/runNow")
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        runs = admin.get(f"admin/system/tasks/{cleaner['id']}/runs")["result"]
        found = [r for r in runs if r["runId"] == run["runId"] and r["status"] != "executing"
                 and r["status"] != "scheduled"]
        if found:
            break
        time.sleep(0.2)
    assert found[0]["status"] == "succeeded"
    assert found[0]["result"].startswith("GP Jobs have been cleaned.")
    assert re.search(r"Removed \d+ job", found[0]["result"])
    assert error_of(erin.job("WriteFile", old))[0] == 404
    assert not (server.data_dir / "jobs" / old).exists()
    assert erin.job("WriteFile", fresh)["jobStatus"] == "esriJobSucceeded"
    assert erin.job("Sleep", running)["jobStatus"] in ("esriJobExecuting", "esriJobSucceeded",
                                                       "esriJobSubmitted", "esriJobWaiting")
    assert (server.data_dir / "jobs" / fresh).exists()


def test_a_disabled_cleaner_does_not_fire(admin: Client) -> None:
    cleaner = _cleaner(admin)
    assert admin.post(f"admin/system/tasks/{cleaner['id']}/disable")["status"] == "success"
    disabled = admin.get(f"admin/system/tasks/{cleaner['id']}")
    assert disabled["active"] is False and disabled["nextStarts"] == []
    admin.post(f"admin/system/tasks/{cleaner['id']}/enable")
    assert len(admin.get(f"admin/system/tasks/{cleaner['id']}")["nextStarts"]) == 5


# -- GPService tasks ---------------------------------------------------------------------------


def _run_now(c: Client, task_id: str) -> dict[str, Any]:
    tasks = "sharing/rest/community/users/erin/tasks"
    run_id = c.post(f"{tasks}/{task_id}/runNow")["runId"]
    deadline = time.monotonic() + 40
    while time.monotonic() < deadline:
        run = c.get(f"{tasks}/{task_id}/runs/{run_id}")
        if run.get("status") not in ("scheduled", "executing"):
            return dict(run)
        time.sleep(0.2)
    raise AssertionError(f"the run did not end: {run}")


def _gp_task(c: Client, url: str, parameters: dict[str, Any]) -> str:
    created = c.post("sharing/rest/community/users/erin/tasks/createTask", type="GPService",
                     title="scheduled echo", taskURL=url, parameters=parameters, minute="0",
                     hour="3", dayOfMonth="*", month="*", dayOfWeek="?", **from_tomorrow())
    assert created.get("success") is True, created
    return str(created["taskId"])


def test_a_gp_service_task_runs_a_job_and_links_its_run_to_it(erin: Client,
                                                               server: Server) -> None:
    task_id = _gp_task(erin, f"{server.url}/{TOOLS}/Echo", {"Text": "on schedule"})
    run = _run_now(erin, task_id)
    assert run["status"] == "succeeded", run
    match = re.fullmatch(rf"{re.escape(server.url)}/{TOOLS}/Echo/jobs/(j[0-9a-f]{{32}})",
                         run["url"])
    assert match, run
    assert run["result"].startswith("esriJobSucceeded")
    job = erin.job("Echo", match[1])
    assert job["jobStatus"] == "esriJobSucceeded"
    assert erin.get(f"{TOOLS}/Echo/jobs/{match[1]}/results/Answer")["value"] == \
        "echo: on schedule"


def test_a_gp_service_task_that_fails_or_cannot_submit_says_so(erin: Client,
                                                               server: Server) -> None:
    failing = _run_now(erin, _gp_task(erin, f"{server.url}/{TOOLS}/Fail", {"Reason": "why"}))
    assert failing["status"] == "failed" and "the tool failed: why" in failing["result"]
    refused = _run_now(erin, _gp_task(erin, f"{server.url}/{TOOLS}/Echo", {}))
    assert refused["status"] == "submitfailed" and "'Text' must be specified" in \
        refused["result"]
    unreachable = _run_now(erin, _gp_task(erin, "https://127.0.0.1:1/arcgis/rest/services/"
                                          "A/B/GPServer/C", {}))
    assert unreachable["status"] == "submitfailed" and "submitJob" in unreachable["result"]


# -- restarts ----------------------------------------------------------------------------------


ONE = '\n[services."Tests/One"]\ntools = ["tests.support.gptools:Sleep",' \
      ' "tests.support.gptools:Echo"]\nmax_concurrent_jobs = 1\n'


def _children(pid: int) -> list[int]:
    found = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True)
    return [int(p) for p in found.stdout.split()]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"


@pytest.mark.parametrize("how", ["sigterm", "sigkill"])
def test_after_a_restart_queued_jobs_run_and_the_running_one_failed(tmp_path: Path,
                                                                    how: str) -> None:
    write_services(tmp_path, ONE)
    env = {"GISTASKS_SHUTDOWN_GRACE_SECONDS": "1"}
    srv = start_with_users(tmp_path, ERIN, env=env)
    c = Client(srv, token(srv, "erin", "erins pass 1"))
    one = "rest/services/Tests/One/GPServer"
    running = c.submit("Sleep", one, Seconds=60)
    c.wait("Sleep", running, one, until=("esriJobExecuting",))
    queued = c.submit("Echo", one, Text="after the restart")
    assert c.job("Echo", queued, one)["jobStatus"] == "esriJobWaiting"
    workers = _children(srv.process.pid)
    assert workers
    if how == "sigkill":
        srv.process.kill()
        srv.process.wait()
    else:
        stop(srv)
    deadline = time.monotonic() + 10
    while any(_alive(p) for p in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(_alive(p) for p in workers), "a worker outlived its server"
    srv = start_server(tmp_path, env={"GISTASKS_ADMIN_PASSWORD": "admin pass 1", **env})
    try:
        c = Client(srv, token(srv, "erin", "erins pass 1"))
        failed = c.job("Sleep", running, one)
        assert failed["jobStatus"] == "esriJobFailed"
        reason = "stopped before it ended" if how == "sigkill" else \
            "shut down before the job finished"
        assert any(reason in m["description"] for m in failed["messages"]), failed
        assert c.wait("Echo", queued, one)["jobStatus"] == "esriJobSucceeded"
    finally:
        stop(srv)
