"""``notebookParameters``: reading them, and injecting them into a notebook as a code cell.

The convention is papermill's, as ArcGIS Notebooks document it: the values go into a new code
cell, tagged ``injected-parameters``, of assignment lines ``name = <Python literal>`` under a
``# Parameters`` comment. The cell goes

1. in place of the cell a previous injection left (a run that saved its injected cell): that
   cell carries ``metadata.gistasks.injected``, so it is replaced, never run twice;
2. otherwise right after the first cell tagged ``parameters`` (the Execute Notebook API's
   wording) or ``injected-parameters`` (the scheduled-task wording): the notebook's defaults
   run first and the injected values override them;
3. otherwise at the top of the notebook.

No parameters (``{}``) inject nothing and leave the notebook as it is.
"""

from __future__ import annotations

import json
import keyword
from collections.abc import Mapping
from typing import Any

from nbformat import NotebookNode

from gistasks import jsonsafe
from gistasks.notebooks import _nbf

PARAMETERS_TAG = "parameters"
INJECTED_TAG = "injected-parameters"
MARKER_KEY = "gistasks"
"""The cell metadata key that marks a cell this module injected: ``{"injected": true}``."""
HEADER = "# Parameters"
MAX_PARAMETERS_BYTES = 1024 * 1024
MAX_DEPTH = 16
"""How deeply a parameter's value may nest (``{"a": [1]}`` is 2)."""


def parse_parameters(value: Mapping[str, Any] | str | bytes | None,
                     max_bytes: int = MAX_PARAMETERS_BYTES) -> dict[str, Any]:
    """The parameters of a run as a fresh dict of JSON values, from either form a client sends.

    ``value`` is a mapping (the Python client's nested object), a JSON text of an object (the
    documented ``"{}"``; bytes are UTF-8), or ``None`` / an empty or blank text (no
    parameters). Raises ValueError when the text is not strict JSON, is longer than
    ``max_bytes``, is not an object, when a value is not a JSON value (a Python caller's
    ``set`` or ``datetime``; NaN; nested deeper than 16 levels), or when a name is not a
    valid Python identifier (keywords included), naming every such name.
    """
    if value is None:
        return {}
    if isinstance(value, bytes):
        try:
            value = value.decode("utf-8")
        except UnicodeDecodeError:
            raise ValueError("notebookParameters is not UTF-8 text") from None
    if isinstance(value, str):
        if not value.strip():
            return {}
        try:
            parsed = jsonsafe.loads(value, max_bytes, MAX_DEPTH + 1)
        except jsonsafe.JsonError as exc:
            raise ValueError(f"notebookParameters is not a JSON object: {exc}") from None
        if not isinstance(parsed, dict):
            raise ValueError("notebookParameters must be a JSON object such as "
                             f'{{"x": 1, "y": "text"}}, not a JSON {_json_kind(parsed)}')
        params: dict[str, Any] = parsed
    elif isinstance(value, Mapping):
        params = dict(value)
        _check_json(params, max_bytes)
    else:
        raise ValueError("notebookParameters must be a JSON object or its text, "
                         f"not {type(value).__name__}")
    bad = [name for name in params if not is_parameter_name(name)]
    if bad:
        shown = ", ".join(repr(name)[:80] for name in bad[:10])
        more = f" and {len(bad) - 10} more" if len(bad) > 10 else ""
        raise ValueError("notebookParameters names must be valid Python identifiers "
                         f"(not keywords): {shown}{more}")
    return params


def is_parameter_name(name: object) -> bool:
    """Whether ``name`` can be assigned to in a cell: an identifier that is not a keyword."""
    return isinstance(name, str) and name.isidentifier() and not keyword.iskeyword(name)


def parameters_source(params: Mapping[str, Any]) -> str:
    """The source of the injected cell: ``# Parameters`` then one ``name = literal`` line per
    parameter, in the given order. JSON values become Python literals (``true`` → ``True``,
    ``null`` → ``None``, nested lists and dicts likewise); the mapping must be what
    :func:`parse_parameters` returns."""
    lines = [HEADER]
    lines.extend(f"{name} = {python_literal(v)}" for name, v in params.items())
    return "\n".join(lines) + "\n"


def python_literal(value: Any) -> str:
    """A Python literal that evaluates to the JSON value ``value`` (``repr`` of str, int,
    float, bool, None and of lists and dicts of them is exactly such a literal; every string
    is escaped, so nothing in a value can end the assignment)."""
    return repr(value)


def find_tagged(nb: NotebookNode, tag: str) -> int:
    """The index of the first cell tagged ``tag``, or -1."""
    for index, cell in enumerate(nb.cells):
        if tag in _tags(cell):
            return index
    return -1


def is_injected_cell(cell: Mapping[str, Any]) -> bool:
    """Whether ``cell`` is one this module injected (its marker in the metadata)."""
    metadata = cell.get("metadata")
    if not isinstance(metadata, Mapping):
        return False
    marker = metadata.get(MARKER_KEY)
    return isinstance(marker, Mapping) and marker.get("injected") is True


def inject_parameters(nb: NotebookNode, params: Mapping[str, Any]) -> int | None:
    """Put the injected cell for ``params`` into ``nb`` (in place) and return its index, or
    None (no parameters: the notebook is left as it is). Where it goes: see the module."""
    if not params:
        return None
    cell = _nbf.new_code_cell(
        source=parameters_source(params),
        metadata={"tags": [INJECTED_TAG], MARKER_KEY: {"injected": True}})
    if nb.get("nbformat_minor", 0) < 5:
        del cell["id"]  # ids are part of nbformat 4.5 only
    old = [i for i, c in enumerate(nb.cells) if is_injected_cell(c)]
    if old:
        index = old[0]
        nb.cells = [c for i, c in enumerate(nb.cells) if i not in set(old)]
    else:
        tagged = next((i for i, c in enumerate(nb.cells)
                       if {PARAMETERS_TAG, INJECTED_TAG} & set(_tags(c))), -1)
        index = tagged + 1
    nb.cells.insert(index, cell)
    return index


def remove_cell(nb: NotebookNode, index: int) -> None:
    """Remove the cell at ``index`` (the injected one, when it is not to be saved)."""
    del nb.cells[index]


def _tags(cell: Mapping[str, Any]) -> list[str]:
    metadata = cell.get("metadata")
    tags = metadata.get("tags") if isinstance(metadata, Mapping) else None
    return [t for t in tags if isinstance(t, str)] if isinstance(tags, list) else []


def _check_json(params: dict[str, Any], max_bytes: int) -> None:
    """ValueError unless every value is a JSON value within the bounds (the names' form is
    checked by the caller). The walk counts what it visits, so a value that holds itself, or
    shares one list a million times, ends as too large instead of never."""
    budget = max_bytes  # every JSON value takes at least one byte of text
    for name, item in params.items():
        if not isinstance(name, str):
            raise ValueError(f"notebookParameters names must be text, not {name!r}"[:200])
        stack: list[Any] = [item]
        while stack:
            budget -= 1
            if budget < 0:
                raise ValueError(f"notebookParameters is longer than {max_bytes} bytes")
            v = stack.pop()
            if isinstance(v, dict):
                if not all(isinstance(k, str) for k in v):
                    raise ValueError(
                        f"notebookParameters {name!r}: object keys must be text"[:200])
                stack.extend(v.values())
            elif isinstance(v, list):
                stack.extend(v)
            elif v is not None and not isinstance(v, str | int | float | bool):
                raise ValueError(f"notebookParameters {name!r}: a "
                                 f"{type(v).__name__} is not a JSON value"[:200])
        try:
            jsonsafe.check(item, MAX_DEPTH)
        except jsonsafe.JsonError as exc:
            raise ValueError(f"notebookParameters {name!r}: {exc}"[:300]) from None
    size = len(json.dumps(params, ensure_ascii=False).encode("utf-8"))
    if size > max_bytes:
        raise ValueError(f"notebookParameters is longer than {max_bytes} bytes")


def _json_kind(value: Any) -> str:
    if isinstance(value, list):
        return "array"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "boolean"
    if value is None:
        return "null"
    return "number"
