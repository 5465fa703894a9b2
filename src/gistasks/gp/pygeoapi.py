"""pygeoapi process plugins served as GP tools, unchanged.

A ``BaseProcessor`` subclass named in the services file (``pygeoapi = ["pkg.mod:Class"]``) is
made as pygeoapi makes it (``Class({"name": "pkg.mod.Class"})``, anew for every job) and its
``PROCESS_METADATA`` becomes the tool's declaration:

===========================================  =============================================
pygeoapi input ``schema``                    GP parameter
===========================================  =============================================
``string`` (``enum`` becomes a choice list)  GPString
``integer`` / ``number`` / ``boolean``       GPLong / GPDouble / GPBoolean
anything else (objects, GeoJSON, ``oneOf``)  GPString holding JSON, parsed before the call
``maxOccurs`` above 1, or ``array`` of one   GPMultiValue of the member
===========================================  =============================================

``minOccurs: 0`` makes an input optional; only the inputs a caller gave are passed, as
pygeoapi passes them. The process's answer ``(mimetype, payload)`` becomes one output,
``Result``: JSON text for a dict or list, the text itself for a string, and a file (GPDataFile)
for bytes. The GP tool is named after the process id (``hello-world`` becomes
``hello_world``). The ``pygeoapi`` package is an optional extra (``gistasks[pygeoapi]``).
"""

from __future__ import annotations

import json
import mimetypes
import re
from collections.abc import Mapping
from typing import Any, ClassVar

from gistasks.gp.datatypes import (
    GPBoolean,
    GPDataFile,
    GPDouble,
    GPLong,
    GPMultiValue,
    GPString,
    GPType,
)
from gistasks.gp.tool import Direction, JobContext, Parameter, Tool
from gistasks.plugins import load_object

PREFIX = "pygeoapi:"
"""How the import path of an adapted tool starts (the job's process makes it anew)."""
_adapted: dict[str, type[Tool]] = {}


def _text(value: Any) -> str:
    """A pygeoapi title or description: a string, or ``{language: string}`` (English first)."""
    if isinstance(value, dict):
        return str(value.get("en") or next(iter(value.values()), ""))
    return "" if value is None else str(value)


def _gp_name(text: str) -> str:
    name = re.sub(r"[^A-Za-z0-9_]", "_", text).strip("_") or "process"
    return name if name[0].isalpha() else f"p_{name}"[:128]


def _simple(schema: Mapping[str, Any]) -> GPType | None:
    return {"string": GPString(), "integer": GPLong(), "number": GPDouble(),
            "boolean": GPBoolean()}.get(str(schema.get("type")))


def _is_json(schema: Mapping[str, Any]) -> bool:
    return _simple(schema) is None


def _schema_of(spec: Mapping[str, Any]) -> dict[str, Any]:
    found = spec.get("schema")
    return found if isinstance(found, dict) else {}


def _input(name: str, spec: Mapping[str, Any]) -> Parameter:
    schema = _schema_of(spec)
    many = spec.get("maxOccurs", 1)
    member = _simple(schema)
    data_type: GPType = member or GPString()
    if schema.get("type") == "array" and isinstance(schema.get("items"), dict):
        inner = _simple(schema["items"])
        data_type = GPMultiValue(inner) if inner is not None else GPString()
    elif many == "unbounded" or (isinstance(many, int) and many > 1):
        data_type = GPMultiValue(member) if member is not None else GPString()
    choices = schema.get("enum") or spec.get("enum") or ()
    description = _text(spec.get("description"))
    if _is_json(schema) and not isinstance(data_type, GPMultiValue):
        description = f"{description} (JSON)".strip()
    default = schema.get("default")
    return Parameter(name, data_type, _text(spec.get("title")) or name, description,
                     required=int(spec.get("minOccurs", 1) or 0) > 0 and default is None,
                     default=default if default is None or _simple(schema)
                     or isinstance(data_type, GPMultiValue) else json.dumps(default),
                     choices=tuple(choices) if member is not None else ())


class ProcessorTool(Tool):
    """A GP tool around one pygeoapi processor class (see the module's docstring)."""

    processor: ClassVar[str] = ""
    """``module:Class`` of the processor."""
    json_inputs: ClassVar[frozenset[str]] = frozenset()
    """Inputs that carry JSON text (parsed before the call)."""

    @classmethod
    def import_path(cls) -> str:
        return PREFIX + cls.processor

    def execute(self, job: JobContext, inputs: Mapping[str, Any]) -> dict[str, Any]:
        cls = load_object(self.processor)
        assert isinstance(cls, type)
        process = cls({"name": self.processor.replace(":", ".")})
        if hasattr(process, "set_job_id"):
            process.set_job_id(job.job_id)
        data: dict[str, Any] = {}
        for name, value in inputs.items():
            if value is None:
                continue
            if name in self.json_inputs and isinstance(value, str):
                try:
                    value = json.loads(value)
                except ValueError:
                    raise ValueError(f"{name} must be JSON") from None
            data[name] = value
        job.message(f"Running the pygeoapi process {type(process).__name__}.")
        answer = (process.execute(data, None) if getattr(process, "supports_outputs", False)
                  else process.execute(data))
        if not isinstance(answer, tuple) or len(answer) != 2:
            raise ValueError("the process did not answer (mimetype, outputs)")
        mimetype, payload = answer
        if isinstance(payload, bytes | bytearray):
            suffix = mimetypes.guess_extension(str(mimetype or "")) or ".bin"
            path = job.path(f"result{suffix}")
            path.write_bytes(bytes(payload))
            return {"Result_File": path}
        if isinstance(payload, str):
            return {"Result": payload}
        return {"Result": json.dumps(payload, separators=(",", ":"))}


def tool_of_processor(spec: str) -> type[Tool]:
    """The GP tool of processor ``module:Class`` (made once per process)."""
    found = _adapted.get(spec)
    if found is not None:
        return found
    cls = load_object(spec)
    if not isinstance(cls, type) or not hasattr(cls, "execute"):
        raise TypeError(f"{spec} is not a pygeoapi processor class")
    metadata = getattr(cls({"name": spec.replace(":", ".")}), "metadata", None)
    if not isinstance(metadata, dict):
        raise TypeError(f"{spec} has no PROCESS_METADATA")
    inputs = metadata.get("inputs") or {}
    params = [_input(name, spec_) for name, spec_ in inputs.items() if isinstance(spec_, dict)]
    json_inputs = frozenset(
        name for name, spec_ in inputs.items()
        if isinstance(spec_, dict) and _is_json(_schema_of(spec_)))
    params.append(Parameter("Result", GPString(), "Result",
                            "What the process answered (JSON, or text).",
                            direction=Direction.OUTPUT))
    params.append(Parameter("Result_File", GPDataFile(), "Result File",
                            "What the process answered, when it answers bytes.",
                            direction=Direction.OUTPUT))
    attributes = {
        "name": _gp_name(str(metadata.get("id") or cls.__name__)),
        "display_name": _text(metadata.get("title")) or cls.__name__,
        "description": _text(metadata.get("description")),
        "parameters": tuple(params), "processor": spec, "json_inputs": json_inputs,
        "__module__": __name__, "__qualname__": f"ProcessorTool[{spec}]",
    }
    adapted: type[Tool] = type(f"ProcessorTool_{attributes['name']}", (ProcessorTool,),
                               attributes)
    _adapted[spec] = adapted
    return adapted

