"""OGC API - Processes, judged by a real client (OWSLib), over the same jobs as the GP
services; and pygeoapi process plugins served unchanged, through both APIs."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from owslib import ogcapi
from owslib.ogcapi.processes import Processes

from tests.support.gptools import write_services
from tests.support.server import ERIN, FRANK, Server, start_with_users, stop, token

pytestmark = pytest.mark.timeout(120)

PYGEOAPI = """
[services."Examples/PyGeoAPI"]
pygeoapi = ["pygeoapi.process.hello_world:HelloWorldProcessor"]
"""
GEOJSON = {"type": "FeatureCollection", "features": [
    {"type": "Feature", "properties": {"n": 1},
     "geometry": {"type": "Point", "coordinates": [10.0, 50.0]}}]}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    data_dir = tmp_path_factory.mktemp("ogcapi")
    write_services(data_dir, PYGEOAPI)
    srv = start_with_users(data_dir, ERIN, FRANK)
    yield srv
    stop(srv)


@pytest.fixture
def processes(server: Server, monkeypatch: pytest.MonkeyPatch) -> Processes:
    """OWSLib as erin, trusting the server's own certificate (and nothing else of ours)."""
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(server.data_dir / "server-cert.pem"))
    ogcapi.REQUEST_HEADERS.clear()  # OWSLib shares one header dict between its clients
    return Processes(f"{server.url}/ogcapi", headers={
        "Authorization": f"Bearer {token(server, 'erin', 'erins pass 1')}"})


def wait(p: Processes, job_id: str, timeout: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        status: dict[str, Any] = p._request(path=f"jobs/{job_id}")
        if status["status"] in ("successful", "failed", "dismissed") or \
                time.monotonic() > deadline:
            return status
        time.sleep(0.05)


def test_owslib_reads_the_landing_page_conformance_and_processes(processes: Processes
                                                                  ) -> None:
    rels = {link["rel"] for link in processes.links}
    assert {"self", "service-desc", "http://www.opengis.net/def/rel/ogc/1.0/processes",
            "http://www.opengis.net/def/rel/ogc/1.0/conformance"} <= rels
    assert "http://www.opengis.net/spec/ogcapi-processes-1/1.0/conf/core" in \
        processes.conformance()["conformsTo"]
    ids = {p["id"] for p in processes.processes()}
    assert {"Utilities.Geometry.Buffer", "Tests.Tools.Echo",
            "Examples.PyGeoAPI.hello_world"} <= ids
    described = processes.process("Utilities.Geometry.Buffer")
    assert list(described["inputs"]) == ["Input_Features", "Distance", "Dissolve"]
    assert described["inputs"]["Input_Features"]["minOccurs"] == 1
    assert described["inputs"]["Dissolve"]["schema"] == {"type": "boolean", "default": False}
    assert list(described["outputs"]) == ["Output_Features"]
    assert "async-execute" in described["jobControlOptions"]


def test_owslib_executes_synchronously(processes: Processes) -> None:
    results = processes.execute("Utilities.Geometry.Buffer", inputs={
        "Input_Features": {"value": GEOJSON, "mediaType": "application/geo+json"},
        "Distance": {"distance": 50, "units": "esriMeters"}})
    polygon = results["Output_Features"]
    assert polygon["geometryType"] == "esriGeometryPolygon"
    assert polygon["features"][0]["attributes"] == {"n": 1}
    assert "rel=\"monitor\"" in processes.response_headers["Link"]
    raw = processes.execute("Tests.Tools.Echo", inputs={"Text": "raw"}, response="raw")
    assert raw == "echo: raw"


def test_owslib_executes_asynchronously_and_reads_the_results(processes: Processes,
                                                              server: Server) -> None:
    accepted = processes.execute("Utilities.Geometry.Project", async_=True, inputs={
        "Input_Features": GEOJSON, "Output_Coordinate_System": "3857"})
    assert accepted["status"] in ("accepted", "running", "successful")
    job_id = accepted["jobID"]
    assert processes.response_headers["Location"] == f"{server.url}/ogcapi/jobs/{job_id}"
    done = wait(processes, job_id)
    assert done["status"] == "successful" and done["progress"] == 100
    assert done["processID"] == "Utilities.Geometry.Project"
    results = processes._request(path=f"jobs/{job_id}/results")
    assert results["Output_Features"]["spatialReference"]["latestWkid"] == 3857
    assert job_id in [j["jobID"] for j in processes._request(path="jobs")["jobs"]]


def test_one_job_store_serves_both_apis(processes: Processes, server: Server) -> None:
    erin = httpx.Client(verify=False, headers={
        "X-Esri-Authorization": f"Bearer {token(server, 'erin', 'erins pass 1')}"})
    submitted = erin.post(f"{server.url}/rest/services/Tests/Tools/GPServer/Echo/submitJob",
                          data={"f": "json", "Text": "from REST"}).json()
    seen = wait(processes, submitted["jobId"])
    assert seen["status"] == "successful" and seen["processID"] == "Tests.Tools.Echo"
    assert processes._request(path=f"jobs/{submitted['jobId']}/results") == {
        "Answer": "echo: from REST"}
    accepted = processes.execute("Tests.Tools.Echo", inputs={"Text": "from OGC"}, async_=True)
    wait(processes, accepted["jobID"])
    rest = erin.get(f"{server.url}/rest/services/Tests/Tools/GPServer/Echo/jobs/"
                    f"{accepted['jobID']}/results/Answer", params={"f": "json"}).json()
    assert rest["value"] == "echo: from OGC"


def test_dismissing_a_running_job_stops_it(processes: Processes, server: Server) -> None:
    accepted = processes.execute("Tests.Tools.Sleep", inputs={"Seconds": 30}, async_=True)
    job_id = accepted["jobID"]
    deadline = time.monotonic() + 20
    while processes._request(path=f"jobs/{job_id}")["status"] != "running":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    not_ready = httpx.get(f"{server.url}/ogcapi/jobs/{job_id}/results", verify=False,
                          headers=processes.headers)
    assert not_ready.status_code == 404
    assert not_ready.json()["type"].endswith("/result-not-ready")
    dismissed = processes._request(method="DELETE", path=f"jobs/{job_id}")
    assert dismissed["status"] == "dismissed"
    assert wait(processes, job_id, 5)["status"] == "dismissed"


def test_errors_are_problem_details_with_real_statuses(server: Server,
                                                       processes: Processes) -> None:
    base = f"{server.url}/ogcapi"
    headers = dict(processes.headers)
    missing = httpx.get(f"{base}/processes/Nothing.Here.At_all", verify=False, headers=headers)
    assert missing.status_code == 404 and missing.json()["type"].endswith("/no-such-process")
    assert missing.headers["content-type"].startswith("application/problem+json")
    bad = httpx.post(f"{base}/processes/Tests.Tools.Echo/execution", verify=False,
                     headers=headers, json={"inputs": {"Text": 12}})
    assert bad.status_code == 400 and "'Text'" in bad.json()["detail"]
    assert httpx.get(f"{base}/processes/Tests.Tools.Echo", verify=False).status_code == 401
    frank = {"Authorization": f"Bearer {token(server, 'frank', 'franks pass 1')}"}
    accepted = processes.execute("Tests.Tools.Echo", inputs={"Text": "x"}, async_=True)
    other = httpx.get(f"{base}/jobs/{accepted['jobID']}", verify=False, headers=frank)
    assert other.status_code == 403
    gone = httpx.get(f"{base}/jobs/j{'0' * 32}", verify=False, headers=headers)
    assert gone.status_code == 404 and gone.json()["type"].endswith("/no-such-job")
    failed = httpx.post(f"{base}/processes/Tests.Tools.Fail/execution", verify=False,
                        headers=headers, json={"inputs": {}})
    assert failed.status_code == 500 and "the tool failed" in failed.json()["detail"]


def test_an_input_the_process_does_not_take_is_refused_naming_it(server: Server,
                                                                 processes: Processes) -> None:
    answer = httpx.post(f"{server.url}/ogcapi/processes/Tests.Tools.Echo/execution",
                        verify=False, headers=dict(processes.headers),
                        json={"inputs": {"Text": "x", "Txet": "typo"}})
    assert answer.status_code == 400
    assert "'Txet' is not an input of this process" in answer.json()["detail"]


def test_a_pygeoapi_process_runs_unchanged_through_both_apis(processes: Processes,
                                                             server: Server) -> None:
    described = processes.process("Examples.PyGeoAPI.hello_world")
    assert described["title"] == "Hello World"
    assert described["inputs"]["name"]["minOccurs"] == 1
    assert described["inputs"]["message"]["minOccurs"] == 0
    results = processes.execute("Examples.PyGeoAPI.hello_world",
                                inputs={"name": "gistasks", "message": "hi"})
    assert results["Result"] == '{"id":"echo","value":"Hello gistasks! hi"}'
    erin = httpx.Client(verify=False, headers={
        "X-Esri-Authorization": f"Bearer {token(server, 'erin', 'erins pass 1')}"})
    task = erin.get(f"{server.url}/rest/services/Examples/PyGeoAPI/GPServer/hello_world",
                    params={"f": "json"}).json()
    assert [p["name"] for p in task["parameters"]] == ["name", "message", "Result",
                                                       "Result_File"]
    job = erin.post(f"{server.url}/rest/services/Examples/PyGeoAPI/GPServer/hello_world/"
                    "submitJob", data={"f": "json", "name": "REST"}).json()
    deadline = time.monotonic() + 30
    while True:
        status = erin.get(f"{server.url}/rest/services/Examples/PyGeoAPI/GPServer/"
                          f"hello_world/jobs/{job['jobId']}", params={"f": "json"}).json()
        if status["jobStatus"] in ("esriJobSucceeded", "esriJobFailed") or \
                time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert status["jobStatus"] == "esriJobSucceeded", status
    value = erin.get(f"{server.url}/rest/services/Examples/PyGeoAPI/GPServer/hello_world/"
                     f"jobs/{job['jobId']}/results/Result", params={"f": "json"}).json()
    assert value["value"] == '{"id":"echo","value":"Hello REST!"}'
