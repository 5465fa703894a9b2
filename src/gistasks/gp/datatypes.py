"""The geoprocessing data types: how a value travels in a request, in the store, to a tool and
back.

Each type has four conversions, so that a value is checked once, on the way in, and every
later step can trust it:

* ``parse(text)``: a form field as the ArcGIS clients send it (``submitJob``, ``execute``) to
  the type's **normal JSON value**; ``ValueError`` saying what is wrong otherwise.
* ``accept(value)``: a JSON value (OGC API - Processes bodies, defaults, a tool's output
  checked on its way out) to the normal JSON value.
* ``load(value)``: the normal JSON value to what a tool receives (``datetime``,
  :class:`LinearUnit`, ``Path``, …), in the job's process.
* ``dump(value)``: what a tool returns to the normal JSON value (``accept`` of the Python
  value).

Normal JSON values: GPString ``str``; GPLong ``int`` (within ±2^53, the range every JSON
reader keeps exact); GPDouble a finite ``float``; GPBoolean ``bool``; GPDate epoch
milliseconds (UTC); GPLinearUnit ``{"distance": float, "units": "esriMeters"}``; GPDataFile
``{"url": ...}`` or ``{"itemID": ...}`` on input and ``{"file": "<path in the job folder>"}``
for a tool's output; GPRecordSet and GPFeatureRecordSetLayer an Esri JSON feature set (GeoJSON
feature collections are accepted and turned into one); GPMultiValue a list of its member's
values.

A leaf of the ``gp`` package: no I/O beyond reading the job's own files, no server state.
"""

from __future__ import annotations

import json
import math
import re
from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any, ClassVar

from gistasks import jsonsafe
from gistasks.gp import esrijson

Json = dict[str, Any]

MAX_SAFE_INTEGER = 2**53
"""GPLong values stay within what a JSON reader keeps exact (JavaScript's safe integers)."""
MAX_TEXT = 1_000_000
"""The longest text one GPString holds (characters); the request's body bound comes first."""
MAX_ITEMS = 100_000
"""The most members of one GPMultiValue."""
MAX_JSON_BYTES = 64 * 1024 * 1024
"""The longest JSON text of one value (the request's body bound is far smaller)."""

LINEAR_UNITS: dict[str, float | None] = {
    "esriCentimeters": 0.01, "esriDecimalDegrees": None, "esriDecimeters": 0.1,
    "esriFeet": 0.3048, "esriInches": 0.0254, "esriKilometers": 1000.0, "esriMeters": 1.0,
    "esriMiles": 1609.344, "esriMillimeters": 0.001, "esriNauticalMiles": 1852.0,
    "esriPoints": 0.0254 / 72, "esriYards": 0.9144, "esriUnknownUnits": None,
}
"""The ``esriUnits`` of a GPLinearUnit, with their length in metres (None: not a length)."""
_UNIT_NAMES = {name.lower(): name for name in LINEAR_UNITS}
_UNIT_NAMES.update({name[4:].lower(): name for name in LINEAR_UNITS})  # "Meters", "miles"
_UNIT_NAMES.update({"meter": "esriMeters", "metre": "esriMeters", "metres": "esriMeters",
                    "kilometer": "esriKilometers", "km": "esriKilometers", "m": "esriMeters",
                    "foot": "esriFeet", "ft": "esriFeet", "mile": "esriMiles",
                    "yard": "esriYards", "inch": "esriInches", "degrees": "esriDecimalDegrees"})


@dataclass(frozen=True, slots=True)
class LinearUnit:
    """A GPLinearUnit as a tool receives it: a distance and its ``esriUnits`` name."""

    distance: float
    units: str = "esriMeters"

    @property
    def meters(self) -> float:
        """The distance in metres; ValueError for units that are not a length (degrees)."""
        factor = LINEAR_UNITS.get(self.units)
        if factor is None:
            raise ValueError(f"{self.units} is not a unit of length")
        return self.distance * factor


def _json_text(text: str) -> Any:
    try:
        return jsonsafe.loads(text, MAX_JSON_BYTES)
    except jsonsafe.JsonError as exc:
        raise ValueError(f"not JSON: {exc}") from None


class GPType(ABC):
    """One GP data type. Instances are immutable and shared."""

    name: ClassVar[str]

    def parse(self, text: str) -> Any:
        """A form field's text to the normal JSON value (JSON text by default)."""
        return self.accept(_json_text(text))

    @abstractmethod
    def accept(self, value: Any) -> Any:
        """A JSON value to the normal JSON value; ValueError saying what is wrong."""

    def load(self, value: Any, folder: Path | None = None) -> Any:
        """The normal JSON value to what a tool receives (the same value by default)."""
        return value

    def dump(self, value: Any, folder: Path | None = None) -> Any:
        """A tool's Python value to the normal JSON value."""
        return self.accept(value)

    @property
    def data_type(self) -> str:
        """The ``dataType`` ArcGIS names it by."""
        return self.name

    @abstractmethod
    def schema(self) -> Json:
        """A JSON schema of the value (for OGC API - Processes)."""

    def __repr__(self) -> str:
        return self.data_type

    def __eq__(self, other: object) -> bool:
        return isinstance(other, GPType) and other.data_type == self.data_type

    def __hash__(self) -> int:
        return hash(self.data_type)


class GPString(GPType):
    name = "GPString"

    def parse(self, text: str) -> str:
        return self.accept(text)

    def accept(self, value: Any) -> str:
        if not isinstance(value, str):
            raise ValueError("must be a string")
        if len(value) > MAX_TEXT:
            raise ValueError(f"must have at most {MAX_TEXT:,} characters")
        return value

    def schema(self) -> Json:
        return {"type": "string"}


class GPLong(GPType):
    name = "GPLong"

    def parse(self, text: str) -> int:
        stripped = text.strip()
        if not re.fullmatch(r"[+-]?\d{1,20}", stripped):
            raise ValueError("must be an integer")
        return self.accept(int(stripped))

    def accept(self, value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError("must be an integer")
        if isinstance(value, float):
            if not (math.isfinite(value) and value.is_integer()):
                raise ValueError("must be an integer")
            value = int(value)
        number = int(value)
        if abs(number) > MAX_SAFE_INTEGER:
            raise ValueError(f"must be from -{MAX_SAFE_INTEGER} to {MAX_SAFE_INTEGER}")
        return number

    def schema(self) -> Json:
        return {"type": "integer", "minimum": -MAX_SAFE_INTEGER, "maximum": MAX_SAFE_INTEGER}


class GPDouble(GPType):
    name = "GPDouble"

    def parse(self, text: str) -> float:
        try:
            value = float(text.strip())
        except ValueError:
            raise ValueError("must be a number") from None
        return self.accept(value)

    def accept(self, value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError("must be a number")
        result = float(value)
        if not math.isfinite(result):
            raise ValueError("must be a finite number")
        return result

    def schema(self) -> Json:
        return {"type": "number"}


class GPBoolean(GPType):
    name = "GPBoolean"
    WORDS: ClassVar[dict[str, bool]] = {"true": True, "false": False, "1": True, "0": False}

    def parse(self, text: str) -> bool:
        found = self.WORDS.get(text.strip().lower())
        if found is None:
            raise ValueError("must be true or false")
        return found

    def accept(self, value: Any) -> bool:
        if isinstance(value, str):
            return self.parse(value)
        if not isinstance(value, bool):
            raise ValueError("must be true or false")
        return value

    def schema(self) -> Json:
        return {"type": "boolean"}


class GPDate(GPType):
    """Epoch milliseconds (UTC) in JSON; ISO 8601 text is accepted; a tool gets an aware
    ``datetime`` in UTC."""

    name = "GPDate"
    EARLIEST = -62135596800000  # 0001-01-01
    LATEST = 253402300799999  # 9999-12-31T23:59:59.999

    def parse(self, text: str) -> int:
        stripped = text.strip()
        if re.fullmatch(r"[+-]?\d{1,20}", stripped):
            return self.accept(int(stripped))
        return self.accept(stripped)

    def accept(self, value: Any) -> int:
        if isinstance(value, str):
            try:
                moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
            except ValueError:
                raise ValueError("must be epoch milliseconds or an ISO 8601 date-time") from None
            return self.accept(moment)
        if isinstance(value, datetime):
            aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
            value = round(aware.timestamp() * 1000)
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError("must be epoch milliseconds or an ISO 8601 date-time")
        if not self.EARLIEST <= value <= self.LATEST:
            raise ValueError("must be a date from year 1 to 9999")
        return value

    def load(self, value: Any, folder: Path | None = None) -> datetime:
        return datetime.fromtimestamp(value / 1000, UTC)

    def schema(self) -> Json:
        return {"type": "string", "format": "date-time"}


class GPLinearUnit(GPType):
    """``{"distance": 100, "units": "esriMeters"}``; ``"100 Meters"`` is accepted too."""

    name = "GPLinearUnit"

    def parse(self, text: str) -> Json:
        stripped = text.strip()
        if stripped.startswith("{"):
            return self.accept(_json_text(stripped))
        match = re.fullmatch(r"([+-]?[\d.eE+-]+)\s*([A-Za-z]*)", stripped)
        if not match:
            raise ValueError('must be {"distance": <number>, "units": "esriMeters"} or '
                             'a number and a unit ("100 Meters")')
        try:
            distance = float(match[1])
        except ValueError:
            raise ValueError("its distance must be a number") from None
        return self.accept({"distance": distance, "units": match[2] or "esriMeters"})

    def accept(self, value: Any) -> Json:
        if isinstance(value, LinearUnit):
            value = {"distance": value.distance, "units": value.units}
        if isinstance(value, str):
            return self.parse(value)
        if not isinstance(value, dict) or "distance" not in value:
            raise ValueError('must be {"distance": <number>, "units": "esriMeters"}')
        distance = value["distance"]
        if isinstance(distance, bool) or not isinstance(distance, int | float) or \
                not math.isfinite(distance):
            raise ValueError("its distance must be a finite number")
        units = value.get("units", "esriMeters")
        name = _UNIT_NAMES.get(str(units).lower()) if isinstance(units, str) else None
        if name is None:
            raise ValueError(f"its units must be one of {', '.join(LINEAR_UNITS)}")
        return {"distance": float(distance), "units": name}

    def load(self, value: Any, folder: Path | None = None) -> LinearUnit:
        return LinearUnit(value["distance"], value["units"])

    def schema(self) -> Json:
        return {"type": "object", "required": ["distance"],
                "properties": {"distance": {"type": "number"},
                               "units": {"type": "string", "enum": list(LINEAR_UNITS)}}}


class GPDataFile(GPType):
    """A file. In: ``{"url": ...}`` (a file this server serves, such as another job's
    result) or ``{"itemID": ...}`` (an upload of this service); the tool gets the ``Path`` of
    its copy in the job folder. Out: the tool returns a ``Path`` in its job folder, served by
    URL."""

    name = "GPDataFile"

    def accept(self, value: Any) -> Json:
        if isinstance(value, str):
            value = {"url": value}
        if not isinstance(value, dict):
            raise ValueError('must be {"url": "<file URL>"} or {"itemID": "<upload id>"}')
        if "file" in value:  # the normal form of an output
            return {"file": _relative(value["file"])}
        for key in ("url", "itemID", "portalItemID"):
            found = value.get(key)
            if isinstance(found, str) and found.strip():
                if len(found) > 4096:
                    raise ValueError(f"its {key} must have at most 4096 characters")
                return {"itemID" if key == "portalItemID" else key: found.strip()}
        if value.get("url") == "":  # the official client's way of leaving a file out
            return {"url": ""}
        raise ValueError('must be {"url": "<file URL>"} or {"itemID": "<upload id>"}')

    def load(self, value: Any, folder: Path | None = None) -> Path:
        if folder is None or "file" not in value:
            raise ValueError("the file was not fetched into the job folder")
        return folder / str(value["file"])

    def dump(self, value: Any, folder: Path | None = None) -> Json:
        if isinstance(value, str | Path) and folder is not None:
            path = Path(value)
            full = (path if path.is_absolute() else folder / path).resolve()
            base = folder.resolve()
            if not full.is_relative_to(base):
                raise ValueError(f"the file {path} is not in the job folder")
            if not full.is_file():
                raise ValueError(f"the file {path} does not exist")
            return {"file": full.relative_to(base).as_posix()}
        return self.accept(value)

    def schema(self) -> Json:
        return {"type": "object", "properties": {"url": {"type": "string", "format": "uri"},
                                                 "itemID": {"type": "string"}}}


def _python_list(text: str) -> list[Any] | None:
    """A Python list literal of plain values (``['a', 'b']``), or None."""
    import ast

    if len(text) > MAX_TEXT or text.count("[") + text.count("(") + text.count("{") > 64:
        return None
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return None
    return value if isinstance(value, list) else None


def _relative(text: Any) -> str:
    """A path inside a job folder, as stored (POSIX, relative, no ``..``)."""
    if not isinstance(text, str) or not text:
        raise ValueError("a file's path must be a text")
    path = PurePosixPath(text)
    if path.is_absolute() or ".." in path.parts:
        raise ValueError(f"{text!r} is not a path inside the job folder")
    return path.as_posix()


class GPRecordSet(GPType):
    """A table as Esri JSON: ``{"fields": [...], "features": [{"attributes": {...}}]}``."""

    name = "GPRecordSet"
    geometry: ClassVar[bool] = False

    def accept(self, value: Any) -> Json:
        return esrijson.feature_set(value, geometry=self.geometry)

    def schema(self) -> Json:
        return {"type": "object", "required": ["features"],
                "properties": {"fields": {"type": "array"}, "features": {"type": "array"}},
                "description": "An Esri JSON feature set (a GeoJSON feature collection is "
                               "accepted too)."}


class GPFeatureRecordSetLayer(GPRecordSet):
    """Features as an Esri JSON feature set (``geometryType``, ``spatialReference``,
    ``fields``, ``features``); a GeoJSON feature collection is accepted and turned into one
    (WGS 84)."""

    name = "GPFeatureRecordSetLayer"
    geometry = True


class GPMultiValue(GPType):
    """A list of values of one member type, named ``GPMultiValue:<member>``."""

    name = "GPMultiValue"

    def __init__(self, member: GPType) -> None:
        if isinstance(member, GPMultiValue):
            raise ValueError("a GPMultiValue cannot hold GPMultiValues")
        self.member = member

    @property
    def data_type(self) -> str:
        return f"GPMultiValue:{self.member.data_type}"

    def parse(self, text: str) -> list[Any]:
        stripped = text.strip()
        if stripped.startswith("["):
            try:
                return self.accept(_json_text(stripped))
            except ValueError:
                # The official client sends a list default as Python's repr: ['a', 'b'].
                literal = _python_list(stripped)
                if literal is None:
                    raise
                return self.accept(literal)
        # The ArcGIS way for simple members: values separated by semicolons.
        if isinstance(self.member, GPString | GPLong | GPDouble | GPBoolean | GPDate):
            parts = stripped.split(";", MAX_ITEMS) if stripped else []
            self._count(parts)  # counted before any is converted
            return [self.member.parse(part) for part in parts]
        return self.accept(_json_text(stripped))

    def accept(self, value: Any) -> list[Any]:
        if not isinstance(value, list):
            raise ValueError("must be a JSON array")
        self._count(value)
        return [self._member(k, v) for k, v in enumerate(value)]

    def _member(self, k: int, value: Any) -> Any:
        try:
            return self.member.accept(value)
        except ValueError as exc:
            raise ValueError(f"value {k + 1} {exc}") from None

    @staticmethod
    def _count(values: list[Any]) -> None:
        if len(values) > MAX_ITEMS:
            raise ValueError(f"must have at most {MAX_ITEMS:,} values")

    def load(self, value: Any, folder: Path | None = None) -> list[Any]:
        return [self.member.load(v, folder) for v in value]

    def dump(self, value: Any, folder: Path | None = None) -> list[Any]:
        if not isinstance(value, list | tuple):
            raise ValueError("must be a list")
        self._count(list(value))
        return [self.member.dump(v, folder) for v in value]

    def schema(self) -> Json:
        return {"type": "array", "items": self.member.schema()}


SIMPLE: dict[str, GPType] = {t.name: t for t in (
    GPString(), GPLong(), GPDouble(), GPBoolean(), GPDate(), GPLinearUnit(), GPDataFile(),
    GPRecordSet(), GPFeatureRecordSetLayer())}
"""One shared instance of each type without a member."""


def data_type(name: str) -> GPType:
    """The type named ``name`` (``GPLong``, ``GPMultiValue:GPString``); ValueError for an
    unknown name."""
    if name.startswith("GPMultiValue:"):
        return GPMultiValue(data_type(name.split(":", 1)[1]))
    found = SIMPLE.get(name)
    if found is None:
        raise ValueError(f"unknown GP data type {name!r}; known: {', '.join(SIMPLE)}, "
                         f"GPMultiValue:<type>")
    return found


def to_text(value: Any) -> str:
    """A normal JSON value as a form field's text (what ``parse`` reads back)."""
    return value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
