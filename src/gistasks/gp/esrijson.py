"""Esri JSON feature sets: checking them, and reading GeoJSON into them (pure Python).

A feature set is ``{"geometryType", "spatialReference", "fields", "features"}``, each feature
``{"geometry": {...} | null, "attributes": {...}}``. Geometries: point ``{"x", "y"}``,
multipoint ``{"points": [[x, y], ...]}``, polyline ``{"paths": [[[x, y], ...], ...]}``,
polygon ``{"rings": [...]}`` (outer rings clockwise, holes counter-clockwise), envelope
``{"xmin", "ymin", "xmax", "ymax"}``. A checked set is a new value with exactly these keys
(and ``displayFieldName``, ``exceededTransferLimit`` when sent): nothing else a client sent
travels further.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

Json = dict[str, Any]

GEOMETRY_TYPES = ("esriGeometryPoint", "esriGeometryMultipoint", "esriGeometryPolyline",
                  "esriGeometryPolygon", "esriGeometryEnvelope")
FIELD_TYPES = ("esriFieldTypeSmallInteger", "esriFieldTypeInteger", "esriFieldTypeBigInteger",
               "esriFieldTypeSingle", "esriFieldTypeDouble", "esriFieldTypeString",
               "esriFieldTypeDate", "esriFieldTypeOID", "esriFieldTypeGeometry",
               "esriFieldTypeBlob", "esriFieldTypeRaster", "esriFieldTypeGUID",
               "esriFieldTypeGlobalID", "esriFieldTypeXML", "esriFieldTypeDateOnly",
               "esriFieldTypeTimeOnly", "esriFieldTypeTimestampOffset")
WGS84: Json = {"wkid": 4326, "latestWkid": 4326}
MAX_FEATURES = 1_000_000


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or \
            not math.isfinite(value):
        raise ValueError(f"{where} must be a finite number")
    return float(value)


def _position(value: Any, where: str) -> list[float]:
    if not isinstance(value, list) or not 2 <= len(value) <= 4:
        raise ValueError(f"{where} must be [x, y] (with z and m optional)")
    return [_number(v, where) for v in value]


def _positions(value: Any, where: str, least: int) -> list[list[float]]:
    if not isinstance(value, list) or len(value) < least:
        raise ValueError(f"{where} must be a list of at least {least} positions")
    return [_position(p, where) for p in value]


def _parts(value: Any, where: str, least: int) -> list[list[list[float]]]:
    if not isinstance(value, list):
        raise ValueError(f"{where} must be a list")
    return [_positions(part, f"{where} {k + 1}", least) for k, part in enumerate(value)]


def geometry_type_of(geometry: Json) -> str:
    """The ``esriGeometry*`` type of an Esri JSON geometry, from its keys."""
    for key, kind in (("rings", "esriGeometryPolygon"), ("paths", "esriGeometryPolyline"),
                      ("points", "esriGeometryMultipoint"), ("xmin", "esriGeometryEnvelope"),
                      ("x", "esriGeometryPoint")):
        if key in geometry:
            return kind
    raise ValueError("a geometry must have x/y, points, paths, rings or xmin…ymax")


def geometry(value: Any, kind: str | None, where: str = "a geometry") -> Json:
    """A checked copy of an Esri JSON geometry of type ``kind`` (any type when None)."""
    if not isinstance(value, dict):
        raise ValueError(f"{where} must be an object")
    found = geometry_type_of(value)
    if kind is not None and found != kind:
        raise ValueError(f"{where} is a {found[12:].lower()}, not a {kind[12:].lower()}")
    out: Json
    if found == "esriGeometryPoint":
        out = {"x": _number(value["x"], where), "y": _number(value.get("y"), where)}
        for key in ("z", "m"):
            if value.get(key) is not None:
                out[key] = _number(value[key], where)
    elif found == "esriGeometryMultipoint":
        out = {"points": _positions(value["points"], where, 0)}
    elif found == "esriGeometryPolyline":
        out = {"paths": _parts(value["paths"], f"{where}: path", 2)}
    elif found == "esriGeometryPolygon":
        out = {"rings": _parts(value["rings"], f"{where}: ring", 4)}
    else:
        out = {key: _number(value.get(key), where) for key in ("xmin", "ymin", "xmax", "ymax")}
    for flag in ("hasZ", "hasM"):
        if isinstance(value.get(flag), bool):
            out[flag] = value[flag]
    if isinstance(value.get("spatialReference"), dict):
        out["spatialReference"] = spatial_reference(value["spatialReference"])
    return out


def spatial_reference(value: Any) -> Json:
    """A checked ``spatialReference``: ``wkid`` (with ``latestWkid``) or ``wkt``."""
    if not isinstance(value, dict):
        raise ValueError("spatialReference must be an object")
    out: Json = {}
    for key in ("wkid", "latestWkid", "vcsWkid", "latestVcsWkid"):
        if key in value and value[key] is not None:
            code = value[key]
            if isinstance(code, bool) or not isinstance(code, int) or not 0 < code < 10**9:
                raise ValueError(f"spatialReference {key} must be a positive integer")
            out[key] = code
    if isinstance(value.get("wkt"), str):
        if len(value["wkt"]) > 10_000:
            raise ValueError("spatialReference wkt must have at most 10,000 characters")
        out["wkt"] = value["wkt"]
    if "wkid" not in out and "latestWkid" in out:
        out["wkid"] = out["latestWkid"]
    if "wkid" not in out and "wkt" not in out:
        raise ValueError("spatialReference must have a wkid or a wkt")
    return out


def _attribute(value: Any, where: str) -> Any:
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{where} must be a finite number")
        return value
    raise ValueError(f"{where} must be a string, a number, true, false or null")


def _field(value: Any, k: int) -> Json:
    if not isinstance(value, dict) or not isinstance(value.get("name"), str) or \
            not value["name"]:
        raise ValueError(f"field {k + 1} must be an object with a name")
    out: Json = {"name": value["name"]}
    kind = value.get("type", "esriFieldTypeString")
    if kind not in FIELD_TYPES:
        raise ValueError(f"field {value['name']!r} has the unknown type {kind!r}")
    out["type"] = kind
    for key in ("alias", "length"):
        if key in value and isinstance(value[key], str | int) and \
                not isinstance(value[key], bool):
            out[key] = value[key]
    return out


def feature_set(value: Any, *, geometry: bool = True) -> Json:
    """A checked copy of an Esri JSON feature set (``geometry``: whether its features may
    have geometries: GPFeatureRecordSetLayer yes, GPRecordSet no). A GeoJSON feature
    collection is turned into one."""
    with_geometry = geometry
    if isinstance(value, dict) and value.get("type") in ("FeatureCollection", "Feature"):
        value = from_geojson(value)
    if not isinstance(value, dict):
        raise ValueError("must be a feature set: an object with features")
    if "url" in value and "features" not in value:
        raise ValueError("must be sent as features; a URL is not fetched")
    features = value.get("features")
    if not isinstance(features, list):
        raise ValueError("must have a list of features")
    if len(features) > MAX_FEATURES:
        raise ValueError(f"must have at most {MAX_FEATURES:,} features")
    out: Json = {}
    kind = value.get("geometryType")
    if with_geometry:
        if kind is not None and kind not in GEOMETRY_TYPES:
            raise ValueError(f"geometryType must be one of {', '.join(GEOMETRY_TYPES)}")
        if kind is None:
            first = next((f.get("geometry") for f in features
                          if isinstance(f, dict) and isinstance(f.get("geometry"), dict)), None)
            kind = geometry_type_of(first) if first is not None else None
        if kind is not None:
            out["geometryType"] = kind
        sr = value.get("spatialReference")
        if sr is not None:
            out["spatialReference"] = spatial_reference(sr)
    for key in ("displayFieldName",):
        if isinstance(value.get(key), str):
            out[key] = value[key]
    fields = value.get("fields", [])
    if not isinstance(fields, list):
        raise ValueError("fields must be a list")
    out["fields"] = [_field(f, k) for k, f in enumerate(fields)]
    checked = []
    for k, feature in enumerate(features):
        where = f"feature {k + 1}"
        if not isinstance(feature, dict):
            raise ValueError(f"{where} must be an object")
        attributes = feature.get("attributes") or {}
        if not isinstance(attributes, dict):
            raise ValueError(f"{where}: attributes must be an object")
        item: Json = {"attributes": {str(name): _attribute(v, f"{where}: {name}")
                                     for name, v in attributes.items()}}
        shape = feature.get("geometry")
        if shape is not None:
            if not with_geometry:
                raise ValueError(f"{where} has a geometry, but a record set has none")
            item["geometry"] = _geometry(shape, kind, where)
        checked.append(item)
    out["features"] = checked
    if isinstance(value.get("exceededTransferLimit"), bool):
        out["exceededTransferLimit"] = value["exceededTransferLimit"]
    return out


_geometry = geometry


# -- GeoJSON ------------------------------------------------------------------------------------


def _signed_area(ring: list[list[float]]) -> float:
    return sum(a[0] * b[1] - b[0] * a[1] for a, b in itertools.pairwise(ring)) / 2


def _oriented(ring: list[list[float]], clockwise: bool) -> list[list[float]]:
    if (_signed_area(ring) < 0) != clockwise:
        return list(reversed(ring))
    return ring


def geometry_from_geojson(value: Any) -> Json:
    """The Esri JSON geometry of a GeoJSON geometry (Point, MultiPoint, LineString,
    MultiLineString, Polygon, MultiPolygon)."""
    if not isinstance(value, dict):
        raise ValueError("a GeoJSON geometry must be an object")
    kind, coords = value.get("type"), value.get("coordinates")
    if kind == "Point":
        position = _position(coords, "a GeoJSON point")
        out: Json = {"x": position[0], "y": position[1]}
        if len(position) > 2:
            out["z"] = position[2]
        return out
    if kind == "MultiPoint":
        return {"points": _positions(coords, "a GeoJSON multipoint", 0)}
    if kind == "LineString":
        return {"paths": [_positions(coords, "a GeoJSON line", 2)]}
    if kind == "MultiLineString":
        return {"paths": _parts(coords, "a GeoJSON line", 2)}
    if kind in ("Polygon", "MultiPolygon"):
        polygons = [coords] if kind == "Polygon" else coords
        if not isinstance(polygons, list):
            raise ValueError("a GeoJSON polygon's coordinates must be a list")
        rings = []
        for polygon in polygons:
            for k, ring in enumerate(_parts(polygon, "a GeoJSON ring", 4)):
                rings.append(_oriented(ring, clockwise=(k == 0)))
        return {"rings": rings}
    raise ValueError(f"GeoJSON geometry type {kind!r} is not supported")


def from_geojson(value: Json) -> Json:
    """An Esri JSON feature set (WGS 84) from a GeoJSON FeatureCollection or Feature."""
    features = value.get("features") if value.get("type") == "FeatureCollection" else [value]
    if not isinstance(features, list):
        raise ValueError("a GeoJSON feature collection must have a list of features")
    out_features = []
    kind = None
    for k, feature in enumerate(features):
        if not isinstance(feature, dict) or feature.get("type") != "Feature":
            raise ValueError(f"GeoJSON feature {k + 1} must be a Feature")
        props = feature.get("properties") or {}
        if not isinstance(props, dict):
            raise ValueError(f"GeoJSON feature {k + 1}: properties must be an object")
        item: Json = {"attributes": dict(props)}
        if feature.get("geometry") is not None:
            item["geometry"] = geometry_from_geojson(feature["geometry"])
            kind = kind or geometry_type_of(item["geometry"])
        out_features.append(item)
    fields = []
    seen: set[str] = set()
    for f in out_features:
        for name, v in f["attributes"].items():
            if name in seen:
                continue
            seen.add(name)
            fields.append({"name": name, "type": _field_type(v)})
    out: Json = {"spatialReference": dict(WGS84), "fields": fields, "features": out_features}
    if kind:
        out["geometryType"] = kind
    return out


def _field_type(value: Any) -> str:
    if isinstance(value, bool):
        return "esriFieldTypeString"
    if isinstance(value, int):
        return "esriFieldTypeInteger"
    if isinstance(value, float):
        return "esriFieldTypeDouble"
    return "esriFieldTypeString"
