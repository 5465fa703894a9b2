"""The shipped tools compute what they say, checked against independent measures (geodesic
areas, known projections, the GeoPackage read back)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pyogrio.raw
import pytest
import shapely
from pyproj import Geod, Transformer
from shapely.geometry import Polygon

from gistasks.gp.execution import run_job

POINT_SET: dict[str, Any] = {
             "geometryType": "esriGeometryPoint", "spatialReference": {"wkid": 4326},
             "fields": [{"name": "name", "type": "esriFieldTypeString"},
                        {"name": "rank", "type": "esriFieldTypeInteger"}],
             "features": [{"geometry": {"x": 10.0, "y": 50.0},
                           "attributes": {"name": "a", "rank": 1}},
                          {"geometry": {"x": 10.001, "y": 50.0},
                           "attributes": {"name": "b", "rank": None}}]}


def run(tmp_path: Path, tool: str, **inputs: Any) -> Any:
    events: list[tuple[Any, ...]] = []
    out = run_job({"id": "j1", "tool": f"gistasks.gp.geometry:{tool}", "inputs": inputs,
                   "folder": str(tmp_path / "j1")}, events.append)
    return dict(out["results"])


def test_a_buffer_in_degrees_is_true_on_the_ground(tmp_path: Path) -> None:
    result = run(tmp_path, "Buffer", Input_Features=POINT_SET,
                 Distance={"distance": 1000.0, "units": "esriMeters"}, Dissolve=False)
    out = result["Output_Features"]
    assert out["geometryType"] == "esriGeometryPolygon"
    assert out["spatialReference"]["wkid"] == 4326
    assert [f["attributes"] for f in out["features"]] == [f["attributes"]
                                                          for f in POINT_SET["features"]]
    ring = out["features"][0]["geometry"]["rings"][0]
    area, _ = Geod(ellps="WGS84").geometry_area_perimeter(Polygon(ring))
    assert abs(abs(area) - math.pi * 1000**2) / (math.pi * 1000**2) < 0.01
    assert area < 0  # clockwise outer ring, as Esri JSON has it


def test_dissolved_buffers_are_one_feature(tmp_path: Path) -> None:
    result = run(tmp_path, "Buffer", Input_Features=POINT_SET,
                 Distance={"distance": 100.0, "units": "esriMeters"}, Dissolve=True)
    features = result["Output_Features"]["features"]
    assert len(features) == 1  # the two points are 71 m apart: their buffers overlap


def test_a_buffer_in_a_projected_system_uses_its_unit(tmp_path: Path) -> None:
    metric = {"geometryType": "esriGeometryPoint", "spatialReference": {"wkid": 32632},
              "features": [{"geometry": {"x": 500000.0, "y": 5500000.0}, "attributes": {}}]}
    out = run(tmp_path, "Buffer", Input_Features=metric,
              Distance={"distance": 1.0, "units": "esriKilometers"}, Dissolve=False)
    ring = out["Output_Features"]["features"][0]["geometry"]["rings"][0]
    assert abs(Polygon(ring).area - math.pi * 1e6) / (math.pi * 1e6) < 0.01


def test_project_moves_features_as_proj_does(tmp_path: Path) -> None:
    out = run(tmp_path, "Project", Input_Features=POINT_SET, Output_Coordinate_System="3857")
    projected = out["Output_Features"]
    assert projected["spatialReference"] == {"wkid": 102100, "latestWkid": 3857}
    x, y = Transformer.from_crs(4326, 3857, always_xy=True).transform(10.0, 50.0)
    first = projected["features"][0]["geometry"]
    assert first["x"] == pytest.approx(x) and first["y"] == pytest.approx(y)


def test_an_unknown_coordinate_system_fails_saying_so(tmp_path: Path) -> None:
    with pytest.raises(Exception, match="spatial reference 999999 is not known"):
        run(tmp_path, "Project", Input_Features=POINT_SET, Output_Coordinate_System="999999")


def test_export_writes_a_geopackage_that_reads_back(tmp_path: Path) -> None:
    out = run(tmp_path, "ExportFeatures", Input_Features=POINT_SET, Layer_Name="my points")
    assert out["Output_File"] == {"file": "my_points.gpkg"}
    path = tmp_path / "j1" / "my_points.gpkg"
    meta, _, geometry, fields = pyogrio.raw.read(path)
    assert meta["crs"] == "EPSG:4326" and meta["geometry_type"] == "Point"
    assert list(meta["fields"]) == ["name", "rank"]
    assert list(fields[0]) == ["a", "b"]
    assert shapely.from_wkb(geometry[1]).x == pytest.approx(10.001)
