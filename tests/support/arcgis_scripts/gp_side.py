"""The official client on geoprocessing: ``import_toolbox`` and ``GPService``/``GPTask`` run
each shipped tool to its results, a job is cancelled, a failing tool raises, a synchronous
service executes, and ``gis.admin`` queries and cancels jobs.

Settings come from the environment: ARCGIS_TEST_URL, ARCGIS_TEST_USER/PASSWORD (a user) and
ARCGIS_TEST_ADMIN_PASSWORD. Prints one JSON object, a record per step (see steps.py).
"""

from __future__ import annotations

import datetime as dt
import inspect
import tempfile
import time
from pathlib import Path
from typing import Any

from arcgis.features import FeatureSet
from arcgis.geoprocessing import GPService, LinearUnit, import_toolbox
from arcgis.gis import GIS
from arcgis.gis.server import Job

from tests.support.arcgis_scripts.steps import Steps, setting, wait_for

POINTS = {"geometryType": "esriGeometryPoint", "spatialReference": {"wkid": 4326},
          "fields": [{"name": "name", "type": "esriFieldTypeString"}],
          "features": [{"geometry": {"x": 10.0, "y": 50.0}, "attributes": {"name": "a"}},
                       {"geometry": {"x": 11.0, "y": 51.0}, "attributes": {"name": "b"}}]}


def feature_summary(value: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"class": type(value).__name__}
    if isinstance(value, FeatureSet):
        out.update(count=len(value.features), geometry_type=value.geometry_type,
                   spatial_reference=dict(value.spatial_reference or {}),
                   attributes=[f.attributes.get("name") for f in value.features])
    return out


def main() -> None:
    steps = Steps()
    url = setting("ARCGIS_TEST_URL")
    user, password = setting("ARCGIS_TEST_USER"), setting("ARCGIS_TEST_PASSWORD")
    geometry_url = f"{url}/rest/services/Utilities/Geometry/GPServer"
    tools_url = f"{url}/rest/services/Tests/Tools/GPServer"

    with steps.step("sign_in") as r:
        gis = GIS(url, user, password, verify_cert=False)
        r["username"] = gis.users.me.username

    with steps.step("import_toolbox") as r:
        geometry = import_toolbox(geometry_url, gis=gis)
        r["functions"] = sorted(n for n in dir(geometry) if not n.startswith("_")
                                and callable(getattr(geometry, n)))
        r["buffer_signature"] = list(inspect.signature(geometry.buffer).parameters)

    fs = FeatureSet.from_dict(POINTS)
    with steps.step("buffer") as r:
        out = geometry.buffer(input_features=fs, distance=LinearUnit(1000, "esriMeters"),
                              dissolve=False)
        r.update(feature_summary(out))
        ring = out.features[0].geometry["rings"][0]
        r["ring_points"] = len(ring)

    with steps.step("project") as r:
        r.update(feature_summary(geometry.project(input_features=fs,
                                                  output_coordinate_system="3857")))

    with steps.step("export_features") as r:
        datafile = geometry.export_features(input_features=fs, layer_name="points")
        r["class"] = type(datafile).__name__
        r["url"] = datafile.url
        where = Path(tempfile.mkdtemp())
        saved = datafile.download(save_path=str(where))
        r["saved"] = str(saved)
        r["header"] = Path(saved).read_bytes()[:15].decode("latin-1") if saved else None

    with steps.step("gptask") as r:
        service = GPService(tools_url, gis=gis)
        task = next(t for t in service.tasks if t.properties["name"] == "Echo")
        job = task.echo("from the GPTask path", 0)
        r["returned"] = type(job).__name__
        r["value"] = job.result() if hasattr(job, "result") else job

    tools = import_toolbox(tools_url, gis=gis)
    with steps.step("cancel") as r:
        job = tools.sleep(seconds=60, future=True)
        r["running"] = wait_for(lambda: job.status == "esriJobExecuting", 30, 0.2)
        r["cancelled"] = job.cancel()
        r["final"] = wait_for(lambda: job.status if job.status in (
            "esriJobCancelled", "esriJobFailed", "esriJobSucceeded") else None, 10, 0.2)

    with steps.step("failing_tool") as r:
        try:
            tools.fail(reason="no such data")
            r["raised"] = None
        except Exception as exc:
            r["raised"] = f"{type(exc).__name__}: {exc}"

    with steps.step("sync_execute") as r:
        sync = import_toolbox(f"{url}/rest/services/Tests/Sync/GPServer", gis=gis)
        r["value"] = sync.echo(text="right away")

    with steps.step("admin_query") as r:
        admin = GIS(url, "admin", setting("ARCGIS_TEST_ADMIN_PASSWORD"), verify_cert=False)
        services = admin.admin.services.list("Tests")
        r["services"] = sorted(s.properties["serviceName"] for s in services)
        manager = next(s for s in services if s.properties["serviceName"] == "Tools").jobs
        r["manager"] = type(manager).__name__
        since = dt.datetime.now() - dt.timedelta(hours=1)
        found = manager.query(status=["esriJobSucceeded", "esriJobCancelled", "esriJobFailed"],
                              start_time=since, number=2)
        r["count"] = len(found)
        r["statuses"] = sorted({j["status"] for j in found.values()})
        r["users"] = sorted({j["username"] for j in found.values()})
        r["jobs_url"] = manager._url

    with steps.step("admin_cancel") as r:
        job = tools.sleep(seconds=60, future=True)
        wait_for(lambda: job.status == "esriJobExecuting", 30, 0.2)
        job_id = job._jobid if hasattr(job, "_jobid") else job.jobid
        server_job = Job(url=f"{manager._url}/{job_id}", con=admin._con)
        r["admin_status"] = server_job.properties.get("status")
        r["cancel"] = server_job.cancel()
        started = time.monotonic()
        r["user_sees"] = wait_for(lambda: job.status if job.status == "esriJobCancelled"
                                  else None, 10, 0.2)
        r["seconds_to_see"] = round(time.monotonic() - started, 1)

    steps.finish()


if __name__ == "__main__":
    main()
