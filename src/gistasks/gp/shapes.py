"""Esri JSON geometries as shapely geometries and back, and their coordinate systems as
pyproj CRSs: what tools that compute on features build on.

Esri polygons list rings without saying which ring holds which: outer rings are clockwise,
holes counter-clockwise. Reading, each hole goes to the smallest outer ring containing it;
writing, outer rings are made clockwise and holes counter-clockwise.
"""

from __future__ import annotations

from typing import Any

import shapely
from pyproj import CRS
from shapely.geometry import (
    LinearRing,
    LineString,
    MultiLineString,
    MultiPoint,
    MultiPolygon,
    Point,
    Polygon,
    box,
)
from shapely.geometry.base import BaseGeometry
from shapely.geometry.polygon import orient

Json = dict[str, Any]


def to_shapely(geometry: Json) -> BaseGeometry:
    """The shapely geometry of a checked Esri JSON geometry."""
    if "x" in geometry:
        coords = [geometry["x"], geometry["y"]] + ([geometry["z"]] if "z" in geometry else [])
        return Point(coords)
    if "points" in geometry:
        return MultiPoint([p[:3] for p in geometry["points"]])
    if "paths" in geometry:
        paths = [LineString([p[:3] for p in path]) for path in geometry["paths"]]
        return paths[0] if len(paths) == 1 else MultiLineString(paths)
    if "rings" in geometry:
        return _polygons(geometry["rings"])
    return box(geometry["xmin"], geometry["ymin"], geometry["xmax"], geometry["ymax"])


def _polygons(rings: list[list[list[float]]]) -> BaseGeometry:
    shells: list[list[Any]] = []  # [shell ring, [holes]]
    holes: list[LinearRing] = []
    for coords in rings:
        ring = LinearRing([p[:3] for p in coords])
        if ring.is_ccw:
            holes.append(ring)
        else:
            shells.append([ring, []])
    if not shells:  # all counter-clockwise: treat them as outer rings (lenient, as ArcGIS)
        shells, holes = [[r, []] for r in holes], []
    for hole in holes:
        inside = [s for s in shells if Polygon(s[0]).contains(hole.representative_point())]
        if inside:
            min(inside, key=lambda s: Polygon(s[0]).area)[1].append(hole)
        else:
            shells.append([LinearRing(list(hole.coords)[::-1]), []])
    polygons = [Polygon(shell, inner) for shell, inner in shells]
    return polygons[0] if len(polygons) == 1 else MultiPolygon(polygons)


def _coords(seq: Any) -> list[list[float]]:
    return [list(c) for c in seq.coords]


def from_shapely(shape: BaseGeometry) -> Json | None:
    """The Esri JSON geometry of a shapely geometry (None for an empty one); collections are
    not Esri geometries: their parts must share one kind."""
    if shape.is_empty:
        return None
    if isinstance(shape, Point):
        out: Json = {"x": shape.x, "y": shape.y}
        if shape.has_z:
            out["z"] = shape.z
        return out
    if isinstance(shape, MultiPoint):
        return {"points": [list(p.coords[0]) for p in shape.geoms]}
    if isinstance(shape, LineString):
        return {"paths": [_coords(shape)]}
    if isinstance(shape, MultiLineString):
        return {"paths": [_coords(g) for g in shape.geoms]}
    if isinstance(shape, Polygon | MultiPolygon):
        rings = []
        for polygon in (shape.geoms if isinstance(shape, MultiPolygon) else [shape]):
            oriented = orient(polygon, sign=-1.0)  # exterior clockwise, holes counter-clockwise
            rings.append(_coords(oriented.exterior))
            rings.extend(_coords(r) for r in oriented.interiors)
        return {"rings": rings}
    kinds = {g.geom_type for g in getattr(shape, "geoms", [])}
    raise ValueError(f"a {shape.geom_type} of {', '.join(sorted(kinds)) or 'nothing'} is not "
                     f"an Esri geometry")


def geometry_type(shape: BaseGeometry) -> str:
    """The ``esriGeometry*`` type of a shapely geometry."""
    return {"Point": "esriGeometryPoint", "MultiPoint": "esriGeometryMultipoint",
            "LineString": "esriGeometryPolyline", "MultiLineString": "esriGeometryPolyline",
            "Polygon": "esriGeometryPolygon", "MultiPolygon": "esriGeometryPolygon",
            }.get(shape.geom_type, "esriGeometryPolygon")


def crs_of(spatial_reference: Json | None) -> CRS:
    """The CRS of an Esri ``spatialReference`` (``latestWkid`` first, then ``wkid``, then
    ``wkt``); WGS 84 when there is none. ValueError for a code PROJ does not know."""
    if not spatial_reference:
        return CRS.from_epsg(4326)
    for key in ("latestWkid", "wkid"):
        code = spatial_reference.get(key)
        if code:
            if code == 102100:  # Esri's old name of Web Mercator
                code = 3857
            try:
                return CRS.from_user_input(f"EPSG:{code}")
            except Exception:
                try:
                    return CRS.from_user_input(f"ESRI:{code}")
                except Exception:
                    raise ValueError(f"the spatial reference {code} is not known") from None
    try:
        return CRS.from_wkt(spatial_reference["wkt"])
    except Exception:
        raise ValueError("the spatial reference's wkt cannot be read") from None


def spatial_reference_of(crs: CRS) -> Json:
    """The Esri ``spatialReference`` of a CRS (its EPSG code, or its WKT)."""
    code = crs.to_epsg()
    if code is not None:
        wkid = 102100 if code == 3857 else code
        return {"wkid": wkid, "latestWkid": code}
    return {"wkt": crs.to_wkt("WKT1_ESRI")}


def valid(shape: BaseGeometry) -> BaseGeometry:
    """``shape`` made valid when it is not (self-intersecting rings…)."""
    return shape if shape.is_valid else shapely.make_valid(shape)
