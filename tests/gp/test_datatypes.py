"""The GP data types: what a form field or a JSON value becomes, and what is refused."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from gistasks.gp.datatypes import (
    GPBoolean,
    GPDataFile,
    GPDate,
    GPDouble,
    GPFeatureRecordSetLayer,
    GPLinearUnit,
    GPLong,
    GPMultiValue,
    GPRecordSet,
    GPString,
    GPType,
    LinearUnit,
    data_type,
)

POINTS = {"geometryType": "esriGeometryPoint", "spatialReference": {"wkid": 4326},
          "fields": [{"name": "n", "type": "esriFieldTypeString"}],
          "features": [{"geometry": {"x": 1, "y": 2}, "attributes": {"n": "a"}}]}


@pytest.mark.parametrize(("kind", "text", "value"), [
    (GPString(), " as is ", " as is "),
    (GPLong(), " 42 ", 42),
    (GPLong(), "-9007199254740992", -(2**53)),
    (GPDouble(), "1e3", 1000.0),
    (GPBoolean(), "True", True),
    (GPBoolean(), "0", False),
    (GPDate(), "1700000000000", 1700000000000),
    (GPDate(), "2024-01-02T03:04:05Z", 1704164645000),
    (GPDate(), "2024-01-02T03:04:05", 1704164645000),  # no zone: UTC
    (GPLinearUnit(), '{"distance": 5, "units": "esriMiles"}', {"distance": 5.0,
                                                               "units": "esriMiles"}),
    (GPLinearUnit(), "100 Meters", {"distance": 100.0, "units": "esriMeters"}),
    (GPLinearUnit(), '{"distance": 2, "units": "Esrikilometers"}',
     {"distance": 2.0, "units": "esriKilometers"}),
    (GPDataFile(), '{"url": "https://h/x.gpkg"}', {"url": "https://h/x.gpkg"}),
    (GPDataFile(), '{"portalItemID": "abc"}', {"itemID": "abc"}),
    (GPMultiValue(GPLong()), "[1, 2]", [1, 2]),
    (GPMultiValue(GPString()), "a;b", ["a", "b"]),
    (GPMultiValue(GPString()), "['a', 'b']", ["a", "b"]),  # the client's Python repr
])
def test_a_form_field_becomes_its_normal_value(kind: GPType, text: str, value: Any) -> None:
    assert kind.parse(text) == value


@pytest.mark.parametrize(("kind", "text", "says"), [
    (GPLong(), "1.5", "integer"),
    (GPLong(), "9007199254740993", "from -9007199254740992"),
    (GPLong(), "12abc", "integer"),
    (GPDouble(), "nan", "finite"),
    (GPDouble(), "1e400", "finite"),
    (GPBoolean(), "yes", "true or false"),
    (GPDate(), "yesterday", "ISO 8601"),
    (GPDate(), "99999999999999999", "year 1 to 9999"),
    (GPLinearUnit(), '{"distance": 5, "units": "cubits"}', "units must be one of"),
    (GPLinearUnit(), '{"units": "esriMeters"}', "distance"),
    (GPDataFile(), "[1]", "url"),
    (GPRecordSet(), '{"features": [{"geometry": {"x": 1, "y": 2}}]}', "record set has none"),
    (GPFeatureRecordSetLayer(), '{"features": "none"}', "list of features"),
    (GPFeatureRecordSetLayer(), '{"url": "https://elsewhere/query"}', "not fetched"),
    (GPFeatureRecordSetLayer(), '{"geometryType": "esriGeometryPoint", "features": '
     '[{"geometry": {"paths": [[[0, 0], [1, 1]]]}}]}', "not a point"),
    (GPFeatureRecordSetLayer(), '{"features": [{"geometry": {"x": "a", "y": 1}}]}',
     "finite number"),
    (GPFeatureRecordSetLayer(), '{"features": [], "spatialReference": {"wkid": -4}}',
     "positive integer"),
    (GPMultiValue(GPLong()), "[1, \"two\"]", "value 2 must be an integer"),
    (GPString(), "x" * 1_000_001, "at most"),
])
def test_a_bad_value_is_refused_saying_why(kind: GPType, text: str, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        kind.parse(text)


def test_json_that_is_not_strict_json_is_refused() -> None:
    with pytest.raises(ValueError, match="not JSON"):
        GPFeatureRecordSetLayer().parse('{"features": [], "x": NaN}')
    with pytest.raises(ValueError, match="not JSON"):
        GPLinearUnit().parse('{"distance": 1e400}')
    with pytest.raises(ValueError, match="deeper"):
        GPFeatureRecordSetLayer().parse("[" * 100 + "]" * 100)


def test_a_feature_set_keeps_only_what_it_declares() -> None:
    sent = {**POINTS, "extra": "dropped", "features": [
        {"geometry": {"x": 1, "y": 2, "spatialReference": {"wkid": 4326}, "junk": 1},
         "attributes": {"n": "a"}, "symbol": {}}]}
    checked = GPFeatureRecordSetLayer().accept(sent)
    assert "extra" not in checked
    assert checked["features"] == [{"attributes": {"n": "a"}, "geometry": {
        "x": 1.0, "y": 2.0, "spatialReference": {"wkid": 4326}}}]


def test_a_geojson_collection_becomes_an_esri_feature_set() -> None:
    geojson = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"name": "square", "n": 4},
         "geometry": {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 1],
                                                          [0, 0]]]}}]}
    checked = GPFeatureRecordSetLayer().accept(geojson)
    assert checked["geometryType"] == "esriGeometryPolygon"
    assert checked["spatialReference"]["wkid"] == 4326
    ring = checked["features"][0]["geometry"]["rings"][0]
    area = sum(a[0] * b[1] - b[0] * a[1] for a, b in itertools.pairwise(ring)) / 2
    assert area < 0  # the outer ring is clockwise, as Esri JSON has it
    assert {f["name"]: f["type"] for f in checked["fields"]} == {
        "name": "esriFieldTypeString", "n": "esriFieldTypeInteger"}


def test_a_tool_receives_python_values(tmp_path: Path) -> None:
    assert GPDate().load(1704164645000) == datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
    unit = GPLinearUnit().load({"distance": 2.0, "units": "esriKilometers"})
    assert unit == LinearUnit(2.0, "esriKilometers") and unit.meters == 2000.0
    assert GPDataFile().load({"file": "inputs/F/a.gpkg"}, tmp_path) == \
        tmp_path / "inputs/F/a.gpkg"


def test_a_file_output_must_be_a_file_in_the_job_folder(tmp_path: Path) -> None:
    inside = tmp_path / "out" / "r.txt"
    inside.parent.mkdir()
    inside.write_text("x")
    assert GPDataFile().dump(inside, tmp_path) == {"file": "out/r.txt"}
    with pytest.raises(ValueError, match="not in the job folder"):
        GPDataFile().dump(Path("/etc/passwd"), tmp_path)
    with pytest.raises(ValueError, match="does not exist"):
        GPDataFile().dump(tmp_path / "missing.txt", tmp_path)
    with pytest.raises(ValueError, match="inside the job folder"):
        GPDataFile().accept({"file": "../x"})


def test_data_types_are_found_by_their_arcgis_names() -> None:
    assert data_type("GPMultiValue:GPString") == GPMultiValue(GPString())
    assert data_type("GPLong").data_type == "GPLong"
    with pytest.raises(ValueError, match="unknown GP data type"):
        data_type("GPRasterDataLayer")


def test_a_list_longer_than_the_bound_is_refused_either_way_it_is_written() -> None:
    from gistasks.gp.datatypes import MAX_ITEMS

    many = GPMultiValue(GPLong())
    with pytest.raises(ValueError, match="at most 100,000 values"):
        many.parse(";".join(["1"] * (MAX_ITEMS + 1)))
    with pytest.raises(ValueError, match="at most 100,000 values"):
        many.accept([1] * (MAX_ITEMS + 1))
    assert len(many.parse(";".join(["1"] * MAX_ITEMS))) == MAX_ITEMS
