"""The geoprocessing services of a deployment: tools grouped under ``<folder>/<service>``.

Services come from three places, in this order (a later one changes an earlier one's settings,
never its tools silently):

1. the built-in ``Utilities/Geometry`` (Buffer, Project, ExportFeatures);
2. the ``gistasks.gptools`` entry point group: an entry point named ``<Folder>/<Service>``
   whose value is a Tool class or a list of them;
3. the services file, ``<data directory>/gp-services.toml``::

       [services."Examples/Hello"]
       tools = ["my_package.tools:Hello"]        # Tool classes, module:Class
       pygeoapi = ["pygeoapi.process.hello_world:HelloWorldProcessor"]
       execution = "asynchronous"               # or "synchronous"
       max_concurrent_jobs = 4
       time_limit_seconds = 3600
       max_job_age_minutes = 360                 # finished jobs are cleaned after this
       public = false                            # true: anonymous callers may use it

A bad file (TOML syntax, an unknown key, a tool that cannot be imported or is badly declared)
raises :class:`CatalogError` whose message names the file and the line.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from gistasks.gp.tool import Tool, check_tool
from gistasks.plugins import load_object

ENTRY_POINT_GROUP = "gistasks.gptools"
SERVICES_FILE = "gp-services.toml"
PART = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,63}")
DEFAULT_MAX_JOB_AGE_MINUTES = 360
"""How long a finished job is kept (ArcGIS's default maximum file age of the jobs folder)."""
DEFAULT_TIME_LIMIT_S = 3600.0
DEFAULT_MAX_CONCURRENT = 4


class CatalogError(ValueError):
    """A services declaration that cannot be used; the message names where it is."""


class Execution(StrEnum):
    ASYNCHRONOUS = "asynchronous"
    SYNCHRONOUS = "synchronous"

    @property
    def esri(self) -> str:
        return ("esriExecutionTypeAsynchronous" if self == Execution.ASYNCHRONOUS
                else "esriExecutionTypeSynchronous")


@dataclass(frozen=True)
class ServiceDef:
    """One GP service: its tools and its settings."""

    folder: str
    name: str
    tools: Mapping[str, type[Tool]] = field(default_factory=dict)
    description: str = ""
    execution: Execution = Execution.ASYNCHRONOUS
    max_concurrent_jobs: int = DEFAULT_MAX_CONCURRENT
    time_limit_s: float = DEFAULT_TIME_LIMIT_S
    max_job_age_minutes: float = DEFAULT_MAX_JOB_AGE_MINUTES
    public: bool = False

    @property
    def path(self) -> str:
        """``<folder>/<name>``, the service's id in job records and URLs."""
        return f"{self.folder}/{self.name}"

    def tool(self, name: str) -> type[Tool] | None:
        """The tool called ``name`` (ArcGIS compares task names without regard to case)."""
        found = self.tools.get(name)
        if found is None:
            found = next((t for n, t in self.tools.items() if n.lower() == name.lower()), None)
        return found


SETTINGS: dict[str, type | tuple[type, ...]] = {
    "execution": str, "max_concurrent_jobs": int, "time_limit_seconds": (int, float),
    "max_job_age_minutes": (int, float), "public": bool, "description": str, "tools": list,
    "pygeoapi": list}


class Catalog:
    """The services of one deployment, by ``<folder>/<name>``."""

    def __init__(self, services: Iterable[ServiceDef] = ()) -> None:
        self._services: dict[str, ServiceDef] = {}
        for s in services:
            self.add(s)

    def add(self, service: ServiceDef) -> None:
        for part in (service.folder, service.name):
            if not PART.fullmatch(part):
                raise CatalogError(f"{part!r}: a folder or service name is a letter then "
                                   f"letters, digits or _ (at most 64)")
        self._services[service.path.lower()] = service

    def get(self, path: str) -> ServiceDef | None:
        """The service ``<folder>/<name>`` (compared without regard to case)."""
        return self._services.get(path.lower())

    def services(self) -> list[ServiceDef]:
        return sorted(self._services.values(), key=lambda s: s.path.lower())

    def folders(self) -> list[str]:
        return sorted({s.folder for s in self._services.values()}, key=str.lower)

    def in_folder(self, folder: str) -> list[ServiceDef]:
        return [s for s in self.services() if s.folder.lower() == folder.lower()]

    def max_concurrent(self) -> dict[str, int]:
        """Each service's ``max_concurrent_jobs``, by path."""
        return {s.path: s.max_concurrent_jobs for s in self._services.values()}

    @classmethod
    def default(cls, data_dir: Path | None = None) -> Catalog:
        """The built-in services, the entry points, then the services file of ``data_dir``."""
        from gistasks.gp.geometry import TOOLS

        catalog = cls([ServiceDef("Utilities", "Geometry", _by_name(TOOLS),
                                  "Geometry operations on Esri JSON feature sets: buffer, "
                                  "project, export to a GeoPackage.")])
        for ep in entry_points(group=ENTRY_POINT_GROUP):
            where = f"entry point {ep.name!r} ({ep.value})"
            folder, _, name = ep.name.partition("/")
            try:
                loaded = ep.load()
                tools = loaded if isinstance(loaded, list | tuple) else [loaded]
                catalog.add(ServiceDef(folder, name, _by_name(check_tool(t) for t in tools)))
            except Exception as exc:
                raise CatalogError(f"{where}: {exc}") from exc
        if data_dir is not None and (data_dir / SERVICES_FILE).exists():
            catalog.load_file(data_dir / SERVICES_FILE)
        return catalog

    def load_file(self, path: Path) -> None:
        """Add or change the services of a TOML file; CatalogError naming the line."""
        text = path.read_text(encoding="utf-8")
        try:
            document = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise CatalogError(f"{path}: {exc}") from None
        locate = _Locator(path, text)
        unknown = set(document) - {"services"}
        if unknown:
            raise CatalogError(locate.key(None, sorted(unknown)[0],
                                          "unknown table; services go under [services.\"<folder>/"
                                          "<service>\"]"))
        services = document.get("services", {})
        if not isinstance(services, dict):
            raise CatalogError(f"{path}: 'services' must be a table")
        for service_path, table in services.items():
            if not isinstance(table, dict):
                raise CatalogError(locate.header(service_path, "must be a table"))
            self.add(self._service(service_path, table, locate))

    def _service(self, service_path: str, table: dict[str, Any], locate: _Locator
                 ) -> ServiceDef:
        folder, slash, name = service_path.partition("/")
        if not slash or not PART.fullmatch(folder) or not PART.fullmatch(name):
            raise CatalogError(locate.header(service_path, "a service is named "
                                             "\"<Folder>/<Service>\" (letters, digits, _)"))
        for key, value in table.items():
            kinds = SETTINGS.get(key)
            if kinds is None:
                raise CatalogError(locate.key(service_path, key, "unknown setting; known: "
                                              + ", ".join(SETTINGS)))
            if not isinstance(value, kinds) or (isinstance(value, bool) and kinds is not bool):
                raise CatalogError(locate.key(service_path, key, "has the wrong type"))
        existing = self.get(service_path)
        tools: dict[str, type[Tool]] = dict(existing.tools) if existing else {}
        for spec in table.get("tools", []):
            cls = self._load(spec, service_path, "tools", locate)
            tools[cls.name] = cls
        for spec in table.get("pygeoapi", []):
            cls = self._load_pygeoapi(spec, service_path, locate)
            tools[cls.name] = cls
        if not tools:
            raise CatalogError(locate.header(service_path, "has no tools (give tools = "
                                             "[\"module:Class\"])"))
        base = existing or ServiceDef(folder, name)
        service = replace(base, tools=tools)
        if "execution" in table:
            try:
                service = replace(service, execution=Execution(table["execution"].lower()))
            except ValueError:
                raise CatalogError(locate.key(service_path, "execution", "must be "
                                              "asynchronous or synchronous")) from None
        bounds = {"max_concurrent_jobs": (1, 1000), "time_limit_seconds": (0.1, 2_000_000),
                  "max_job_age_minutes": (1, 10_000_000)}
        for key, (low, high) in bounds.items():
            if key in table and not low <= table[key] <= high:
                raise CatalogError(locate.key(service_path, key, f"must be from {low} to "
                                              f"{high:,}"))
        if "max_concurrent_jobs" in table:
            service = replace(service, max_concurrent_jobs=table["max_concurrent_jobs"])
        if "time_limit_seconds" in table:
            service = replace(service, time_limit_s=float(table["time_limit_seconds"]))
        if "max_job_age_minutes" in table:
            service = replace(service, max_job_age_minutes=float(table["max_job_age_minutes"]))
        if "public" in table:
            service = replace(service, public=table["public"])
        if "description" in table:
            service = replace(service, description=table["description"])
        return service

    @staticmethod
    def _load(spec: Any, service_path: str, key: str, locate: _Locator) -> type[Tool]:
        try:
            if not isinstance(spec, str):
                raise TypeError("a tool is named \"module:Class\"")
            return check_tool(load_object(spec))
        except Exception as exc:
            raise CatalogError(locate.key(service_path, key, f"{spec!r}: {exc}")) from exc

    @staticmethod
    def _load_pygeoapi(spec: Any, service_path: str, locate: _Locator) -> type[Tool]:
        try:
            if not isinstance(spec, str):
                raise TypeError("a processor is named \"module:Class\"")
            from gistasks.gp.pygeoapi import tool_of_processor

            return check_tool(tool_of_processor(spec))
        except Exception as exc:
            raise CatalogError(locate.key(service_path, "pygeoapi", f"{spec!r}: {exc}")
                               ) from exc


def _by_name(tools: Iterable[type[Tool]]) -> dict[str, type[Tool]]:
    out: dict[str, type[Tool]] = {}
    for t in tools:
        cls = check_tool(t)
        if cls.name in out:
            raise CatalogError(f"two tools are called {cls.name!r}")
        out[cls.name] = cls
    return out


class _Locator:
    """Line numbers of the tables and keys of a TOML text, for error messages (tomllib has
    no positions)."""

    def __init__(self, path: Path, text: str) -> None:
        self.path = path
        self.lines: Sequence[str] = text.splitlines()

    def _header_line(self, service_path: str | None) -> int | None:
        if service_path is None:
            return 0
        for number, line in enumerate(self.lines, 1):
            stripped = line.strip()
            if stripped.startswith("[") and service_path in stripped:
                return number
        return None

    def header(self, service_path: str, problem: str) -> str:
        number = self._header_line(service_path)
        where = f"{self.path}, line {number}" if number else str(self.path)
        return f"{where}: service {service_path!r} {problem}"

    def key(self, service_path: str | None, key: str, problem: str) -> str:
        start = self._header_line(service_path) or 0
        number = None
        pattern = re.compile(rf"\s*\[?\"?{re.escape(key)}\"?\]?\s*(=|$)")
        for k in range(start, len(self.lines)):
            if k > start and self.lines[k].lstrip().startswith("[") and \
                    service_path is not None and not pattern.match(self.lines[k]):
                break
            if pattern.match(self.lines[k]):
                number = k + 1
                break
        where = f"{self.path}, line {number}" if number else str(self.path)
        owner = f"service {service_path!r}: " if service_path else ""
        return f"{where}: {owner}{key!r} {problem}"
