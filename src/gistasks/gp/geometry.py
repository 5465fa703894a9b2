"""``Utilities/Geometry``: the service gistasks ships, real tools on Esri JSON feature sets.

* **Buffer** (shapely): polygons around features at a linear distance. In a geographic
  coordinate system each feature is buffered in an azimuthal equidistant projection centred
  on it, so the distance is true on the ground; in a projected one, in the system's unit.
* **Project** (pyproj): features into another coordinate system, by EPSG or Esri code.
* **ExportFeatures** (pyogrio): features written as a GeoPackage; the result is a file
  (GPDataFile) served by URL.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import shapely
from pyproj import CRS, Transformer
from shapely.geometry.base import BaseGeometry
from shapely.ops import unary_union

from gistasks.gp.datatypes import (
    GPBoolean,
    GPDataFile,
    GPFeatureRecordSetLayer,
    GPLinearUnit,
    GPString,
    LinearUnit,
)
from gistasks.gp.shapes import (
    crs_of,
    from_shapely,
    geometry_type,
    spatial_reference_of,
    to_shapely,
    valid,
)
from gistasks.gp.tool import Direction, JobContext, Parameter, Tool

Json = dict[str, Any]
FEATURES = GPFeatureRecordSetLayer()
PROGRESS_EVERY = 500
"""Features between two progress reports."""


def _moved(shape: BaseGeometry, transformer: Transformer) -> BaseGeometry:
    """``shape`` with every coordinate transformed (all at once, as arrays)."""

    def move(xy: Any) -> Any:
        import numpy as np

        x, y = transformer.transform(xy[:, 0], xy[:, 1])
        return np.column_stack([x, y])

    return shapely.transform(shape, move)


def _features(job: JobContext, feature_set: Json) -> list[tuple[Json, BaseGeometry | None]]:
    out = []
    for feature in feature_set["features"]:
        shape = feature.get("geometry")
        out.append((feature["attributes"], None if shape is None else to_shapely(shape)))
    job.message(f"Read {len(out)} feature(s).")
    return out


def _report(job: JobContext, done: int, total: int, what: str) -> None:
    if total and (done % PROGRESS_EVERY == 0 or done == total):
        job.progress(100.0 * done / total, f"{what} {done} of {total} features")


def _feature_set(fields: list[Json], features: list[tuple[Json, BaseGeometry | None]],
                 crs: CRS, kind: str | None = None) -> Json:
    out = []
    for attributes, shape in features:
        item: Json = {"attributes": attributes}
        esri = None if shape is None else from_shapely(shape)
        if esri is not None:
            item["geometry"] = esri
        out.append(item)
    found = kind or next((geometry_type(s) for _, s in features if s is not None),
                         "esriGeometryPolygon")
    return {"geometryType": found, "spatialReference": spatial_reference_of(crs),
            "fields": fields, "features": out}


class Buffer(Tool):
    """Polygons around the input features, at a distance."""

    name = "Buffer"
    display_name = "Buffer"
    parameters = (
        Parameter("Input_Features", FEATURES, "Input Features",
                  "The features to buffer (points, lines or polygons).", required=True),
        Parameter("Distance", GPLinearUnit(), "Distance",
                  "How far from the features; in a geographic coordinate system a length "
                  "on the ground.", required=True,
                  default={"distance": 100.0, "units": "esriMeters"}),
        Parameter("Dissolve", GPBoolean(), "Dissolve",
                  "Merge the overlapping buffers into one feature.", default=False),
        Parameter("Output_Features", FEATURES, "Output Features", "The buffer polygons.",
                  direction=Direction.OUTPUT),
    )

    def execute(self, job: JobContext, inputs: Mapping[str, Any]) -> dict[str, Any]:
        source = inputs["Input_Features"]
        distance: LinearUnit = inputs["Distance"]
        crs = crs_of(source.get("spatialReference"))
        features = _features(job, source)
        done = []
        for k, (attributes, shape) in enumerate(features, 1):
            done.append((attributes, None if shape is None else
                         self._buffer(valid(shape), distance, crs)))
            _report(job, k, len(features), "buffered")
        if inputs["Dissolve"]:
            merged = unary_union([s for _, s in done if s is not None])
            done = [({}, merged)] if not merged.is_empty else []
            job.message(f"Dissolved into {len(done)} feature(s).")
            fields: list[Json] = []
        else:
            fields = list(source.get("fields", []))
        return {"Output_Features": _feature_set(fields, done, crs, "esriGeometryPolygon")}

    @staticmethod
    def _buffer(shape: BaseGeometry, distance: LinearUnit, crs: CRS) -> BaseGeometry:
        if distance.units == "esriDecimalDegrees":
            if not crs.is_geographic:
                raise ValueError("a distance in degrees needs features in a geographic "
                                 "coordinate system")
            return shape.buffer(distance.distance)
        metres = distance.meters
        if crs.is_geographic:
            centre = shape.centroid
            local = CRS.from_proj4(f"+proj=aeqd +lat_0={centre.y} +lon_0={centre.x} "
                                   f"+datum=WGS84 +units=m")
            there = Transformer.from_crs(crs, local, always_xy=True)
            back = Transformer.from_crs(local, crs, always_xy=True)
            return _moved(_moved(shape, there).buffer(metres), back)
        factor = crs.axis_info[0].unit_conversion_factor if crs.axis_info else 1.0
        return shape.buffer(metres / (factor or 1.0))


class Project(Tool):
    """The input features in another coordinate system."""

    name = "Project"
    display_name = "Project"
    parameters = (
        Parameter("Input_Features", FEATURES, "Input Features", "The features to project.",
                  required=True),
        Parameter("Output_Coordinate_System", GPString(), "Output Coordinate System",
                  "The target system: an EPSG or Esri code (4326, 3857, 102100), or a WKT.",
                  required=True),
        Parameter("Output_Features", FEATURES, "Output Features",
                  "The features in the target system.", direction=Direction.OUTPUT),
    )

    def execute(self, job: JobContext, inputs: Mapping[str, Any]) -> dict[str, Any]:
        source = inputs["Input_Features"]
        target_text = inputs["Output_Coordinate_System"].strip()
        target = crs_of({"wkid": int(target_text)} if target_text.isdigit()
                        else {"wkt": target_text})
        crs = crs_of(source.get("spatialReference"))
        move = Transformer.from_crs(crs, target, always_xy=True)
        features = _features(job, source)
        done = []
        for k, (attributes, shape) in enumerate(features, 1):
            done.append((attributes, None if shape is None else _moved(shape, move)))
            _report(job, k, len(features), "projected")
        job.message(f"Projected from {crs.name} to {target.name}.")
        return {"Output_Features": _feature_set(list(source.get("fields", [])), done, target,
                                                source.get("geometryType"))}


OGR_TYPES = {"esriFieldTypeSmallInteger": "int32", "esriFieldTypeInteger": "int32",
             "esriFieldTypeBigInteger": "int64", "esriFieldTypeOID": "int64",
             "esriFieldTypeSingle": "float64", "esriFieldTypeDouble": "float64"}


class ExportFeatures(Tool):
    """The input features written as a GeoPackage file."""

    name = "ExportFeatures"
    display_name = "Export Features"
    parameters = (
        Parameter("Input_Features", FEATURES, "Input Features", "The features to export.",
                  required=True),
        Parameter("Layer_Name", GPString(), "Layer Name", "The layer's name in the file.",
                  default="features"),
        Parameter("Output_File", GPDataFile(), "Output File", "The GeoPackage (.gpkg).",
                  direction=Direction.OUTPUT),
    )

    def execute(self, job: JobContext, inputs: Mapping[str, Any]) -> dict[str, Any]:
        import numpy as np
        import pyogrio.raw

        source = inputs["Input_Features"]
        layer = "".join(c if c.isalnum() or c == "_" else "_"
                        for c in inputs["Layer_Name"].strip())[:60] or "features"
        crs = crs_of(source.get("spatialReference"))
        features = _features(job, source)
        names = [f["name"] for f in source.get("fields", [])]
        for attributes, _ in features:
            names.extend(n for n in attributes if n not in names)
        kinds = {f["name"]: f.get("type", "") for f in source.get("fields", [])}
        columns = []
        masks = []
        for name in names:
            values = [a.get(name) for a, _ in features]
            dtype = OGR_TYPES.get(kinds.get(name, ""))
            if dtype is None and values and all((isinstance(v, int | float) and
                                                not isinstance(v, bool)) or v is None
                                                for v in values):
                dtype = "float64"
            mask = np.array([v is None for v in values], dtype=bool)
            if dtype is None:
                columns.append(np.array(["" if v is None else str(v) for v in values],
                                        dtype=object))
            else:
                columns.append(np.array([0 if v is None else v for v in values], dtype=dtype))
            masks.append(mask if mask.any() else None)
        wkb = np.array([None if s is None else shapely.to_wkb(s) for _, s in features],
                       dtype=object)
        shapes = [s for _, s in features if s is not None]
        kinds_found = {s.geom_type.replace("Multi", "") for s in shapes}
        kind = "Unknown"
        if len(kinds_found) == 1:
            kind = "Multi" + kinds_found.pop() if any(
                s.geom_type.startswith("Multi") for s in shapes) else shapes[0].geom_type
        path = job.path(f"{layer}.gpkg")
        pyogrio.raw.write(str(path), wkb, columns, names, field_mask=masks, layer=layer,
                          driver="GPKG", geometry_type=kind, crs=crs.to_wkt(),
                          promote_to_multi=kind.startswith("Multi"))
        job.message(f"Wrote {len(features)} feature(s) to {path.name} "
                    f"({path.stat().st_size:,} bytes).")
        return {"Output_File": path}


TOOLS: tuple[type[Tool], ...] = (Buffer, Project, ExportFeatures)
