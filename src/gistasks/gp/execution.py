"""One job, in the process that runs it: the job folder, the inputs as the tool receives them,
the call, the outputs checked against the declaration.

:func:`run_job` is what the engine's worker processes call. It never touches the database: it
reports through ``emit`` and returns the outputs' normal JSON values; the server records them.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from gistasks.gp.datatypes import GPDataFile, GPMultiValue
from gistasks.gp.tool import JobContext, MessageType, Tool, check_tool
from gistasks.plugins import load_object

_tools: dict[str, Tool] = {}


class ToolFailedError(Exception):
    """The tool raised or returned what its declaration does not allow; ``str`` is the text
    of the job's error message."""


def tool_instance(path: str) -> Tool:
    """The tool ``module:Class``, made once per process."""
    found = _tools.get(path)
    if found is None:
        if path.startswith("pygeoapi:"):
            from gistasks.gp.pygeoapi import tool_of_processor

            cls: object = tool_of_processor(path.removeprefix("pygeoapi:"))
        else:
            cls = load_object(path)
        found = _tools[path] = check_tool(cls)()
    return found


def _fetch(folder: Path, name: str, sources: list[str]) -> list[dict[str, str]]:
    """Copy the files of input ``name`` into ``inputs/<name>/`` of the job folder."""
    out = []
    target_dir = folder / "inputs" / name
    target_dir.mkdir(parents=True, exist_ok=True)
    for k, source in enumerate(sources):
        src = Path(source)
        target = target_dir / (src.name if len(sources) == 1 else f"{k + 1}_{src.name}")
        shutil.copyfile(src, target)
        out.append({"file": target.relative_to(folder).as_posix()})
    return out


def run_job(job: Mapping[str, Any], emit: Callable[[tuple[Any, ...]], None]) -> dict[str, Any]:
    """Run one job: ``job`` has ``id``, ``tool`` (``module:Class``), ``inputs`` (normal JSON
    values by name, every input present), ``files`` (the local sources of GPDataFile inputs
    by name) and ``folder``. Returns ``{"results": {name: normal JSON value or None}}``;
    raises ToolFailedError with the error message's text when the tool fails."""
    folder = Path(job["folder"])
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chdir(folder)
    tool = tool_instance(job["tool"])
    ctx = JobContext(job["id"], folder, emit)
    values: dict[str, Any] = {}
    for param in type(tool).inputs():
        value = job["inputs"].get(param.name)
        if value is not None and param.name in job.get("files", {}):
            fetched = _fetch(folder, param.name, job["files"][param.name])
            value = fetched if isinstance(param.data_type, GPMultiValue) else fetched[0]
        values[param.name] = None if value is None else param.data_type.load(value, folder)
    try:
        returned = tool.execute(ctx, values)
    except (ToolFailedError, MemoryError):
        raise  # the worker says how much memory a job may have
    except Exception as exc:
        text = str(exc) or type(exc).__name__
        raise ToolFailedError(text if isinstance(exc, ValueError) else
                         f"{type(exc).__name__}: {text}") from exc
    if not isinstance(returned, Mapping):
        raise ToolFailedError(f"the tool returned {type(returned).__name__}, not its outputs by "
                         f"name")
    results: dict[str, Any] = {}
    for param in type(tool).outputs():
        value = returned.get(param.name)
        try:
            results[param.name] = None if value is None else param.data_type.dump(value,
                                                                                   folder)
        except ValueError as exc:
            raise ToolFailedError(f"output {param.name} {exc}") from None
    unknown = sorted(set(returned) - set(results))
    if unknown:
        ctx.message(f"Outputs not declared by the tool were dropped: {', '.join(unknown)}",
                    MessageType.WARNING)
    return {"results": results}


def is_file_type(data_type: Any) -> bool:
    """Whether values of ``data_type`` are files (GPDataFile, or a list of them)."""
    member = data_type.member if isinstance(data_type, GPMultiValue) else data_type
    return isinstance(member, GPDataFile)
