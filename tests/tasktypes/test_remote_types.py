"""ExecuteSceneCook, ExecuteWorkflowManager and UpdateInsightsWorkbook: their parameters as
``createTask`` checks them, and their runs against a stand-in of the remote services over
HTTPS (``tests.support.standin``), which checks every request's shape."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gistasks.store.records import RunStatus, Scope
from gistasks.tasktypes import Deployment, Outcome, Registry, RunContext, TaskType, remote
from gistasks.tasktypes.gpservice import GPService
from gistasks.tasktypes.insights import UpdateInsightsWorkbook
from gistasks.tasktypes.scenecook import ExecuteSceneCook
from gistasks.tasktypes.workflowmanager import ExecuteWorkflowManager
from tests.support.standin import TOOL, StandIn, closed_port

SCENE = "rest/services/Hosted/Buildings/SceneServer"
ITEM = "a1b2c3d4e5f60718293a4b5c6d7e8f90"


@pytest.fixture
def standin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[StandIn]:
    """A running stand-in whose certificate the types trust; polls 50 ms apart. At the end,
    every request it received must have had the documented shape."""
    server = StandIn(tmp_path).start()
    monkeypatch.setenv(remote.CA_FILE_ENV, str(server.cert_file))
    monkeypatch.setenv(remote.PRIVATE_HOSTS_ENV, "127.0.0.1")  # the stand-in is local
    monkeypatch.setattr(remote, "POLL_S", 0.05)
    yield server
    server.stop()
    assert server.problems == []


def run(task_type: TaskType, parameters: dict[str, Any], item_id: str | None = None,
        cancelled: threading.Event | None = None) -> Outcome:
    """One run of ``task_type`` with parameters as ``createTask`` stored them."""
    ctx = RunContext(run_id="r1", task_id="t1", scheduled_for=0, owner="erin",
                     parameters=task_type.validate(dict(parameters)), item_id=item_id,
                     cancelled=cancelled or threading.Event())
    return task_type.execute(ctx)


def refused(task_type: TaskType, parameters: dict[str, Any]) -> str:
    with pytest.raises(ValueError) as caught:
        task_type.validate(parameters)
    return str(caught.value)


def assert_no_secret(outcome: Outcome, *secrets: str) -> None:
    for secret in secrets:
        assert secret not in outcome.result and secret not in outcome.url


def test_the_default_registry_offers_the_three_types_to_users() -> None:
    registry = Registry.default(environ={})
    for name in ("ExecuteSceneCook", "ExecuteWorkflowManager", "UpdateInsightsWorkbook"):
        assert registry.resolve(name, Scope.USER) is not None
    assert ExecuteWorkflowManager.needs_item and UpdateInsightsWorkbook.needs_item
    assert not ExecuteSceneCook.needs_item


# -- ExecuteSceneCook: parameters --------------------------------------------------------------


def test_a_scene_cook_gets_the_documented_defaults() -> None:
    checked = ExecuteSceneCook().validate({"service_url": f"https://host/server/{SCENE}/"})
    assert checked == {"service_url": f"https://host/server/{SCENE}",
                       "num_of_caching_service_instances": 2, "layer": "{}",
                       "update_mode": "RECREATE_ALL_NODES", "update_extent": "DEFAULT"}


def test_a_scene_cook_accepts_the_forms_clients_send() -> None:
    checked = ExecuteSceneCook().validate({
        "service_url": f"https://host/server/{SCENE}/layers/0",
        "num_of_caching_service_instances": "3", "layer": {}, "update_mode":
        "partial_update_nodes", "update_extent": {"xmin": 0, "ymin": 0, "xmax": 1, "ymax": 1},
        "area_of_interest": json.dumps({"geometryType": "esriGeometryPolygon",
                                        "features": []}),
        "token": "********"})
    assert checked["num_of_caching_service_instances"] == 3
    assert checked["layer"] == "{}" and checked["update_mode"] == "PARTIAL_UPDATE_NODES"
    assert checked["area_of_interest"] == {"geometryType": "esriGeometryPolygon",
                                           "features": []}
    assert checked["token"] == "********"  # a mask the service replaces with the stored token
    assert ExecuteSceneCook().validate(checked) == checked
    assert ExecuteSceneCook().validate({"service_url": f"https://h/s/{SCENE}",
                                        "layer": "[0, 2]"})["layer"] == "[0,2]"


@pytest.mark.parametrize(("parameters", "named"), [
    ({"service_url": ""}, "'service_url' is required"),
    ({"service_url": f"http://host/server/{SCENE}"}, "'service_url' must be an https URL"),
    ({"service_url": "https://host/server/rest/services/A/MapServer"},
     "'service_url' must be the URL of a scene service"),
    ({"service_url": f"https://user:pw@host/server/{SCENE}"}, "'service_url' must not hold"),
    ({"service_url": f"https://host/server/{SCENE}?token=x"}, "'service_url' must not have"),
    ({"service_url": "https://host/SceneServer"}, "'hostingServerUrl' is required"),
    ({"update_mode": "FAST"}, "'update_mode' must be one of RECREATE_ALL_NODES, "
                              "RECREATE_EMPTY_NODES, PARTIAL_UPDATE_NODES, "
                              "PARTIAL_UPDATE_ATTRIBUTES"),
    ({"num_of_caching_service_instances": 0}, "'num_of_caching_service_instances' must be "
                                              "a positive integer"),
    ({"num_of_caching_service_instances": "-1"}, "'num_of_caching_service_instances'"),
    ({"num_of_caching_service_instances": "two"}, "'num_of_caching_service_instances'"),
    ({"num_of_caching_service_instances": 2.5}, "'num_of_caching_service_instances'"),
    ({"num_of_caching_service_instances": True}, "'num_of_caching_service_instances'"),
    ({"num_of_caching_service_instances": 2**31}, "'num_of_caching_service_instances'"),
    ({"layer": "all of them"}, "'layer' must be JSON"),
    ({"layer": [0, "x"]}, "'layer' must be"),
    ({"update_extent": "SOMEWHERE"}, "'update_extent' must be DEFAULT or an extent"),
    ({"area_of_interest": [1]}, "'area_of_interest' must be a feature set"),
    ({"hostingServerUrl": "http://host/server"}, "'hostingServerUrl' must be an https URL"),
    ({"updateMode": "RECREATE_ALL_NODES"}, "'updateMode' is not a parameter of "
                                           "ExecuteSceneCook"),
    ({"token": "t", "username": "erin"}, "'token' cannot be given with"),
    ({"username": "erin", "password": "p"}, "'portalUrl' is required with"),
    ({"portalUrl": "ftp://portal", "username": "erin", "password": "p"},
     "'portalUrl' must be an https URL"),
])
def test_a_scene_cook_with_a_bad_parameter_is_refused_naming_it(parameters: dict[str, Any],
                                                                named: str) -> None:
    given = {"service_url": f"https://host/server/{SCENE}", **parameters}
    assert named in refused(ExecuteSceneCook(), given)


# -- ExecuteSceneCook: runs --------------------------------------------------------------------


def test_a_scene_cook_submits_the_six_inputs_to_the_hosting_server(standin: StandIn) -> None:
    service_url = f"{standin.hosting_url}/{SCENE}"
    outcome = run(ExecuteSceneCook(), {
        "service_url": service_url, "update_mode": "PARTIAL_UPDATE_ATTRIBUTES",
        "area_of_interest": {"geometryType": "esriGeometryPolygon", "features": []},
        "token": standin.token})
    assert outcome.status == RunStatus.SUCCEEDED, outcome
    [submit] = standin.requests(f"{TOOL}/submitJob")
    assert submit.target.startswith("/server/rest/services/System/SceneCachingControllers/"
                                    "GPServer/Manage%20Scene%20Cache/submitJob")
    assert submit.form == {"service_url": [service_url],
                           "num_of_caching_service_instances": ["2"], "layer": ["{}"],
                           "update_mode": ["PARTIAL_UPDATE_ATTRIBUTES"],
                           "update_extent": ["DEFAULT"],
                           "area_of_interest": ['{"geometryType":"esriGeometryPolygon",'
                                                '"features":[]}'],
                           "f": ["json"]}
    assert submit.headers["x-esri-authorization"] == f"Bearer {standin.token}"
    [job_id] = standin.jobs
    assert outcome.url == f"{standin.hosting_url}/rest/services/System/" \
                          f"SceneCachingControllers/GPServer/Manage%20Scene%20Cache/jobs/{job_id}"
    assert outcome.result == f"esriJobSucceeded; results out_service_url: {outcome.url}/" \
                             "results/out_service_url"
    assert_no_secret(outcome, standin.token)


def test_a_scene_cook_whose_job_fails_is_failed_with_the_jobs_error(standin: StandIn) -> None:
    standin.scene = "failure"
    outcome = run(ExecuteSceneCook(), {"service_url": f"{standin.hosting_url}/{SCENE}",
                                       "token": standin.token})
    assert outcome.status == RunStatus.FAILED
    assert outcome.result == "esriJobFailed: Cooking failed: the layer has no features."
    assert outcome.url.endswith(f"/jobs/{next(iter(standin.jobs))}")


def test_a_slow_scene_cook_is_followed_to_its_end(standin: StandIn) -> None:
    standin.scene, standin.slow_s = "slow", 1.0
    started = time.monotonic()
    outcome = run(ExecuteSceneCook(), {"service_url": f"{standin.hosting_url}/{SCENE}",
                                       "token": standin.token})
    assert outcome.status == RunStatus.SUCCEEDED, outcome
    assert time.monotonic() - started >= 1.0
    [job] = standin.jobs.values()
    assert job.polls >= 3  # executing, executing …, then succeeded
    polls = standin.requests(f"{TOOL}/jobs/{job.id}", "GET")
    assert all(p.headers["x-esri-authorization"] == f"Bearer {standin.token}" for p in polls)


def test_a_stopped_scene_cook_cancels_the_remote_job(standin: StandIn) -> None:
    standin.scene, standin.slow_s = "slow", 30.0
    cancelled = threading.Event()
    threading.Timer(0.5, cancelled.set).start()
    outcome = run(ExecuteSceneCook(), {"service_url": f"{standin.hosting_url}/{SCENE}",
                                       "token": standin.token}, cancelled=cancelled)
    assert outcome.status == RunStatus.FAILED
    assert outcome.result == "the run was stopped; its job was cancelled"
    [job] = standin.jobs.values()
    assert job.cancelled and standin.requests(f"{TOOL}/jobs/{job.id}/cancel")


def test_an_unreachable_hosting_server_is_submitfailed(standin: StandIn) -> None:
    hosting = f"https://127.0.0.1:{closed_port()}/server"
    outcome = run(ExecuteSceneCook(), {"service_url": f"{hosting}/{SCENE}", "token": "t0ken"})
    assert outcome.status == RunStatus.SUBMITFAILED
    assert outcome.result.startswith(f"submitJob to {hosting}/rest/services/System/")


@pytest.mark.parametrize(("behaviour", "said"), [
    ("refuse", "submitJob was refused (HTTP 200): Unable to submit the job. (The scene "
               "service is being cached.)"),
    ("malformed", "submitJob to "),
])
def test_a_refused_or_malformed_submit_is_submitfailed(standin: StandIn, behaviour: str,
                                                       said: str) -> None:
    standin.scene = behaviour
    outcome = run(ExecuteSceneCook(), {"service_url": f"{standin.hosting_url}/{SCENE}",
                                       "token": standin.token})
    assert outcome.status == RunStatus.SUBMITFAILED
    assert outcome.result.startswith(said), outcome.result
    assert not standin.jobs


def test_a_wrong_token_is_submitfailed_and_never_shown(standin: StandIn) -> None:
    outcome = run(ExecuteSceneCook(), {"service_url": f"{standin.hosting_url}/{SCENE}",
                                       "token": "not-the-token"})
    assert outcome.status == RunStatus.SUBMITFAILED
    assert "Invalid token." in outcome.result
    assert_no_secret(outcome, "not-the-token")


def test_a_scene_cook_goes_to_the_hosting_server_it_is_given(standin: StandIn) -> None:
    elsewhere = "https://scenes.example.invalid/server/rest/services/Hosted/B/SceneServer"
    outcome = run(ExecuteSceneCook(), {"service_url": elsewhere, "token": standin.token,
                                       "hostingServerUrl": f"{standin.hosting_url}/rest/"
                                                           "services"})
    assert outcome.status == RunStatus.SUCCEEDED, outcome
    [submit] = standin.requests(f"{TOOL}/submitJob")
    assert submit.field("service_url") == elsewhere


def test_a_scene_cook_signs_in_with_a_portal_user(standin: StandIn) -> None:
    password = standin.users["erin"]
    outcome = run(ExecuteSceneCook(), {"service_url": f"{standin.hosting_url}/{SCENE}",
                                       "portalUrl": f"{standin.portal_url}/sharing/rest",
                                       "username": "erin", "password": password})
    assert outcome.status == RunStatus.SUCCEEDED, outcome
    [sign_in] = standin.requests("/portal/sharing/rest/generateToken", "POST")
    assert sign_in.field("username") == "erin" and sign_in.field("password") == password
    [token] = standin.generated
    [submit] = standin.requests(f"{TOOL}/submitJob")
    assert submit.headers["x-esri-authorization"] == f"Bearer {token}"
    assert submit.headers["referer"] == sign_in.field("referer")
    assert_no_secret(outcome, password, token)


def test_a_refused_sign_in_is_submitfailed_without_the_password(standin: StandIn) -> None:
    outcome = run(ExecuteSceneCook(), {"service_url": f"{standin.hosting_url}/{SCENE}",
                                       "portalUrl": standin.portal_url, "username": "erin",
                                       "password": "a wrong pass"})
    assert outcome.status == RunStatus.SUBMITFAILED
    assert "generateToken" in outcome.result and "Invalid username or password" in \
        outcome.result
    assert_no_secret(outcome, "a wrong pass")
    assert not standin.requests(f"{TOOL}/submitJob")


def test_a_certificate_no_authority_vouches_for_is_refused(standin: StandIn,
                                                           monkeypatch: pytest.MonkeyPatch
                                                           ) -> None:
    monkeypatch.delenv(remote.CA_FILE_ENV)
    outcome = run(ExecuteSceneCook(), {"service_url": f"{standin.hosting_url}/{SCENE}",
                                       "token": standin.token})
    assert outcome.status == RunStatus.SUBMITFAILED
    assert "CERTIFICATE_VERIFY_FAILED" in outcome.result
    assert not standin.received


def test_an_unreadable_extra_authority_file_is_submitfailed_naming_it(
        standin: StandIn, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(remote.CA_FILE_ENV, str(tmp_path / "missing.pem"))
    outcome = run(ExecuteSceneCook(), {"service_url": f"{standin.hosting_url}/{SCENE}"})
    assert outcome.status == RunStatus.SUBMITFAILED
    assert outcome.result.startswith(f"{remote.CA_FILE_ENV}=")
    assert not standin.received


def test_gpservice_still_follows_a_remote_job(standin: StandIn,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    standin.require_token, standin.scene = False, "slow"
    standin.slow_s = 0.3
    monkeypatch.setenv("SSL_CERT_FILE", str(standin.cert_file))  # GPService: httpx's trust
    tool = f"{standin.url}{TOOL.replace(' ', '%20')}"
    ctx = RunContext(run_id="r1", task_id="t1", scheduled_for=0, owner="erin",
                     parameters={"service_url": f"https://h/s/{SCENE}", "layer": {},
                                 "update_mode": "RECREATE_ALL_NODES"}, task_url=tool)
    outcome = GPService().execute(ctx)
    assert outcome.status == RunStatus.SUCCEEDED, outcome
    assert outcome.url == f"{tool}/jobs/{next(iter(standin.jobs))}"


# -- ExecuteWorkflowManager --------------------------------------------------------------------


def test_a_workflow_manager_task_defaults_to_one_job() -> None:
    checked = ExecuteWorkflowManager().validate({"workflowManagerUrl": "https://h/server/",
                                                 "jobTemplateId": "tplA1"})
    assert checked == {"workflowManagerUrl": "https://h/server", "jobTemplateId": "tplA1",
                       "job": {"numberOfJobs": 1}}


def test_a_workflow_manager_job_is_normalised() -> None:
    checked = ExecuteWorkflowManager().validate({
        "workflowManagerUrl": "https://h/server/workflow", "jobTemplateId": "tplA1",
        "job": json.dumps({"numberOfJobs": "3", "assignedType": "group", "assignedTo": "qa",
                           "startDate": "2025-01-01T08:00:00Z", "dueDate": "2025-01-02",
                           "extendedProperties": {"tableName": "t", "fields": []}})})
    assert checked["workflowManagerUrl"] == "https://h/server"
    assert checked["job"] == {"numberOfJobs": 3, "assignedType": "Group", "assignedTo": "qa",
                              "startDate": "2025-01-01T08:00:00Z", "dueDate": "2025-01-02",
                              "extendedProperties": [{"tableName": "t", "fields": []}]}


@pytest.mark.parametrize(("parameters", "named"), [
    ({"jobTemplateId": None}, "'jobTemplateId' is required"),
    ({"workflowManagerUrl": ""}, "'workflowManagerUrl' is required"),
    ({"workflowManagerUrl": "http://h/server"}, "'workflowManagerUrl' must be an https URL"),
    ({"jobTemplateId": "../admin"}, "'jobTemplateId' must be an id"),
    ({"job": [1]}, "'job' must be an object"),
    ({"job": "{"}, "'job' must be JSON"),
    ({"job": {"numberOfJobs": 0}}, "'job.numberOfJobs' must be an integer (from 1 to 10000)"),
    ({"job": {"numberOfJobs": 10_001}}, "'job.numberOfJobs'"),
    ({"job": {"assignedType": "Robot"}}, "'job.assignedType' must be one of User, Group, "
                                         "Unassigned"),
    ({"job": {"startDate": "2025-02-01", "dueDate": "2025-01-01"}},
     "'job.dueDate' must not be before 'job.startDate'"),
    ({"job": {"dueDate": "next week"}}, "'job.dueDate' must be an ISO 8601 time"),
    ({"job": {"percentComplete": 101}}, "'job.percentComplete'"),
    ({"job": {"jobId": "J1"}}, "'job.jobId' cannot be set in a scheduled task"),
    ({"job": {"jobname": "x"}}, "'jobname' is not a parameter of a job of Workflow Manager"),
    ({"job": {"location": {"geometry": "{}"}}}, "'job.location' must be an object with"),
    ({"automationId": "a1"}, "'automationId' is not a parameter of ExecuteWorkflowManager"),
])
def test_a_workflow_manager_task_with_a_bad_parameter_is_refused_naming_it(
        parameters: dict[str, Any], named: str) -> None:
    given = {"workflowManagerUrl": "https://h/server", "jobTemplateId": "tplA1", **parameters}
    assert named in refused(ExecuteWorkflowManager(), given)


def test_a_workflow_manager_task_creates_jobs_from_its_template(standin: StandIn) -> None:
    job = {"numberOfJobs": 3, "jobName": "Nightly QA", "priority": "High",
           "assignedType": "User", "assignedTo": "erin"}
    outcome = run(ExecuteWorkflowManager(), {"workflowManagerUrl": standin.hosting_url,
                                             "jobTemplateId": "tplA1", "job": job,
                                             "token": standin.token}, item_id=ITEM)
    assert outcome.status == RunStatus.SUCCEEDED, outcome
    [create] = standin.requests(f"/server/workflow/{ITEM}/jobTemplates/tplA1/job", "POST")
    assert create.body == job
    assert create.headers["x-esri-authorization"] == f"Bearer {standin.token}"
    ids = outcome.result.removeprefix("Created jobs: ").split(", ")
    assert len(ids) == 3 and all(i.startswith("J") for i in ids)
    assert outcome.url == f"{standin.hosting_url}/workflow/{ITEM}/jobs/{ids[0]}"
    assert_no_secret(outcome, standin.token)


@pytest.mark.parametrize(("behaviour", "status", "said"), [
    ("error", RunStatus.SUBMITFAILED, "Workflow Manager refused to create jobs (HTTP 400): "
                                      "Job template is not active."),
    ("error200", RunStatus.SUBMITFAILED, "Workflow Manager refused to create jobs (HTTP "
                                         "200): Job template is not active."),
    ("malformed", RunStatus.FAILED, "Workflow Manager's answer (HTTP 200) is not JSON"),
])
def test_a_workflow_manager_refusal_or_bad_answer_is_recorded(standin: StandIn,
                                                              behaviour: str,
                                                              status: RunStatus,
                                                              said: str) -> None:
    standin.workflow = behaviour
    outcome = run(ExecuteWorkflowManager(), {"workflowManagerUrl": standin.hosting_url,
                                             "jobTemplateId": "tplA1",
                                             "token": standin.token}, item_id=ITEM)
    assert outcome.status == status
    assert outcome.result.startswith(said), outcome.result
    assert standin.requests("/job", "POST")[0].body == {"numberOfJobs": 1}


def test_an_unreachable_workflow_manager_is_submitfailed(standin: StandIn) -> None:
    outcome = run(ExecuteWorkflowManager(), {
        "workflowManagerUrl": f"https://127.0.0.1:{closed_port()}/server",
        "jobTemplateId": "tplA1", "token": "t0ken"}, item_id=ITEM)
    assert outcome.status == RunStatus.SUBMITFAILED
    assert "could not be reached" in outcome.result


def test_a_workflow_manager_task_without_a_usable_item_is_submitfailed(
        standin: StandIn) -> None:
    outcome = run(ExecuteWorkflowManager(), {"workflowManagerUrl": standin.hosting_url,
                                             "jobTemplateId": "tplA1"}, item_id="../x")
    assert outcome.status == RunStatus.SUBMITFAILED and "itemId" in outcome.result
    assert not standin.received


# -- UpdateInsightsWorkbook --------------------------------------------------------------------


class MemoryItems:
    """The portal items of a deployment, in memory (an ``ItemAccess``)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.infos: dict[str, dict[str, Any]] = {}
        self.blobs: dict[str, bytes] = {}
        self.writes = 0

    def put(self, item_id: str, owner: str, item_type: str, data: Any) -> None:
        self.infos[item_id] = {"id": item_id, "owner": owner, "type": item_type,
                               "title": item_id, "name": f"{item_id}.json"}
        self.blobs[item_id] = json.dumps(data).encode()

    def info(self, owner: str, item_id: str) -> dict[str, Any]:
        if item_id not in self.infos:
            raise LookupError(item_id)
        if self.infos[item_id]["owner"] != owner:
            raise PermissionError(item_id)
        return dict(self.infos[item_id])

    def data(self, owner: str, item_id: str, max_bytes: int | None = None) -> bytes:
        self.info(owner, item_id)
        if max_bytes is not None and len(self.blobs[item_id]) > max_bytes:
            raise ValueError(f"{item_id} is larger than {max_bytes} bytes")
        return self.blobs[item_id]

    def folder(self, owner: str, item_id: str) -> Path:
        self.info(owner, item_id)
        return self.directory / item_id

    def replace_data(self, owner: str, item_id: str, data: bytes,
                     if_modified: int | None = None) -> None:
        info = self.info(owner, item_id)
        if if_modified is not None and info.get("modified") != if_modified:
            raise ValueError("the item was changed while the run went on")
        self.blobs[item_id] = data
        self.writes += 1


PUBLIC = "https://gis.example.com/arcgis"


@pytest.fixture
def items(tmp_path: Path) -> MemoryItems:
    return MemoryItems(tmp_path)


def insights(items: MemoryItems) -> UpdateInsightsWorkbook:
    task_type = UpdateInsightsWorkbook()
    task_type.deployment = Deployment(items=items, public_url=PUBLIC)
    return task_type


def features(count: int) -> list[dict[str, Any]]:
    return [{"attributes": {"OBJECTID": i, "NAME": f"f{i}"},
             "geometry": {"x": i, "y": i}} for i in range(1, count + 1)]


def workbook(standin: StandIn) -> dict[str, Any]:
    layers = f"{standin.hosting_url}/rest/services"
    return {"title": "Parcels review", "cards": [{"id": "c1", "dataset": "Parcels"}],
            "datasets": [
                {"name": "Parcels", "url": f"{layers}/Parcels/FeatureServer/0",
                 "query": {"where": "ZONE = 'R1'", "outFields": "OBJECTID,NAME",
                           "returnGeometry": True},
                 "snapshot": {"refreshed": 1, "features": []}},
                {"name": "Wells", "source": "featureLayer",
                 "url": f"{layers}/Wells/MapServer/2"},
                {"name": "Budget.xlsx", "source": "file"},
                {"name": "Forecast", "source": "script"}]}


def test_insights_parameters_are_only_how_to_sign_in() -> None:
    assert UpdateInsightsWorkbook().validate({}) == {}
    assert UpdateInsightsWorkbook().validate({"token": "t"}) == {"token": "t"}
    assert "'datasets' is not a parameter of UpdateInsightsWorkbook" in \
        refused(UpdateInsightsWorkbook(), {"datasets": []})


def test_an_insights_workbook_gets_fresh_snapshots_of_its_layers(standin: StandIn,
                                                                 items: MemoryItems) -> None:
    standin.layers = {"Parcels/FeatureServer/0": features(5), "Wells/MapServer/2": features(1)}
    items.put(ITEM, "erin", "Insights Workbook", workbook(standin))
    before = int(time.time() * 1000)
    outcome = run(insights(items), {"token": standin.token}, item_id=ITEM)
    assert outcome.status == RunStatus.SUCCEEDED, outcome
    assert outcome.result == "Updated 2 datasets; skipped 2 (uploaded files or scripts)"
    assert outcome.url == f"{PUBLIC}/sharing/rest/content/items/{ITEM}"
    data = json.loads(items.blobs[ITEM])
    parcels, wells, budget, forecast = data["datasets"]
    assert parcels["snapshot"]["features"] == features(5)  # three pages of two
    assert parcels["snapshot"]["refreshed"] >= before
    assert "exceededTransferLimit" not in parcels["snapshot"]
    assert parcels["snapshot"]["fields"][0]["name"] == "OBJECTID"
    assert wells["snapshot"]["features"] == features(1)
    assert budget == {"name": "Budget.xlsx", "source": "file"}
    assert forecast == {"name": "Forecast", "source": "script"}
    assert data["cards"] == [{"id": "c1", "dataset": "Parcels"}] and items.writes == 1
    pages = standin.requests("/Parcels/FeatureServer/0/query", "POST")
    assert [p.field("resultOffset") for p in pages] == ["", "2", "4"]
    assert pages[0].form == {"where": ["ZONE = 'R1'"], "outFields": ["OBJECTID,NAME"],
                             "returnGeometry": ["true"], "f": ["json"]}
    assert all(p.headers["x-esri-authorization"] == f"Bearer {standin.token}" for p in pages)
    assert_no_secret(outcome, standin.token)


def test_a_failing_dataset_fails_the_run_and_leaves_the_item_unchanged(
        standin: StandIn, items: MemoryItems) -> None:
    standin.layers = {"Parcels/FeatureServer/0": features(1), "Wells/MapServer/2": features(1)}
    standin.failing_layers = {"Wells/MapServer/2"}
    items.put(ITEM, "erin", "Insights Report", workbook(standin))
    stored = items.blobs[ITEM]
    outcome = run(insights(items), {"token": standin.token}, item_id=ITEM)
    assert outcome.status == RunStatus.FAILED
    assert outcome.result.startswith("the query of dataset 'Wells' at ")
    assert "Unable to complete operation." in outcome.result
    assert outcome.result.endswith("; the item was not changed")
    assert items.blobs[ITEM] == stored and items.writes == 0


def test_an_unreachable_dataset_fails_the_run_naming_it(standin: StandIn,
                                                        items: MemoryItems) -> None:
    gone = f"https://127.0.0.1:{closed_port()}/server/rest/services/Gone/FeatureServer/0"
    items.put(ITEM, "erin", "Insights Page", {"datasets": [{"name": "Gone", "url": gone}]})
    outcome = run(insights(items), {}, item_id=ITEM)
    assert outcome.status == RunStatus.FAILED
    assert outcome.result.startswith(f"the query of dataset 'Gone' at {gone} failed")
    assert items.writes == 0


@pytest.mark.parametrize(("dataset", "said"), [
    ({"name": "Sheet", "source": "sheet"}, "dataset 'Sheet' has no feature layer 'url'"),
    ({"name": "Plain", "url": "http://h/s/rest/services/A/FeatureServer/0"},
     "dataset 'Plain': 'url' must be an https URL"),
    ({"url": "https://h/s/rest/services/A/FeatureServer"},
     "datasets[0]: 'url' must be a layer of a feature or map service"),
    ({"name": "Q", "url": "https://h/s/rest/services/A/FeatureServer/0", "query": "1=1"},
     "dataset 'Q': 'query' must be an object"),
])
def test_a_dataset_gistasks_cannot_refresh_fails_the_run_naming_it(
        items: MemoryItems, dataset: dict[str, Any], said: str) -> None:
    items.put(ITEM, "erin", "Insights Workbook", {"datasets": [dataset]})
    outcome = run(insights(items), {}, item_id=ITEM)
    assert outcome.status == RunStatus.FAILED
    assert outcome.result.startswith(said), outcome.result
    assert items.writes == 0


def test_an_item_that_is_not_an_insights_item_is_not_touched(items: MemoryItems) -> None:
    items.put(ITEM, "erin", "Web Map", {"datasets": []})
    outcome = run(insights(items), {}, item_id=ITEM)
    assert outcome.status == RunStatus.FAILED and "'Web Map'" in outcome.result
    missing = run(insights(items), {}, item_id="f" * 32)
    assert missing.status == RunStatus.FAILED and "does not exist" in missing.result
    items.put("b" * 32, "olga", "Insights Workbook", {"datasets": []})
    others = run(insights(items), {}, item_id="b" * 32)
    assert others.status == RunStatus.FAILED and "erin may not update" in others.result
    assert items.writes == 0


def test_an_item_whose_data_is_not_json_fails_the_run(items: MemoryItems) -> None:
    items.put(ITEM, "erin", "Insights Workbook", {})
    items.blobs[ITEM] = b"\xff not json"
    outcome = run(insights(items), {}, item_id=ITEM)
    assert outcome.status == RunStatus.FAILED and "is not JSON" in outcome.result


def test_a_workbook_of_uploaded_files_only_is_left_as_it_is(items: MemoryItems) -> None:
    items.put(ITEM, "erin", "Insights Workbook",
              {"datasets": [{"name": "a.csv", "source": "file"}]})
    outcome = run(insights(items), {}, item_id=ITEM)
    assert outcome.status == RunStatus.SUCCEEDED
    assert outcome.result == "Updated 0 datasets; skipped 1 (uploaded files or scripts)"
    assert items.writes == 0


def test_insights_without_the_deployments_items_fails_saying_so() -> None:
    outcome = run(UpdateInsightsWorkbook(), {}, item_id=ITEM)
    assert outcome.status == RunStatus.FAILED
    assert "offers no portal items" in outcome.result



def test_a_remote_type_does_not_call_an_internal_host_unless_allowed(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(remote.PRIVATE_HOSTS_ENV, raising=False)
    for url in ("https://127.0.0.1:9/server/rest/services/Hosted/S/SceneServer",
                "https://169.254.169.254/server/rest/services/Hosted/S/SceneServer",
                "https://10.1.2.3/server/rest/services/Hosted/S/SceneServer"):
        outcome = run(ExecuteSceneCook(), {"service_url": url, "token": "secret-token"})
        assert outcome.status == RunStatus.SUBMITFAILED, outcome
        assert "internal address" in outcome.result and "secret-token" not in outcome.result
    monkeypatch.setenv(remote.PRIVATE_HOSTS_ENV, "10.0.0.0/8")
    outcome = run(ExecuteSceneCook(), {
        "service_url": "https://127.0.0.1:9/server/rest/services/Hosted/S/SceneServer"})
    assert "internal address" in outcome.result
