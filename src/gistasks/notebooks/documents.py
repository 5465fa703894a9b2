"""Notebook documents: the bounds the engine keeps, and reading and writing nbformat v4.

A notebook comes from a user's item, so it is read strictly and within bounds before anything
runs: at most ``Limits.max_notebook_bytes`` of UTF-8, strict JSON (no ``NaN``, no lone
surrogates; :mod:`gistasks.jsonsafe`), nbformat 4, valid against the nbformat schema, at most
``Limits.max_cells`` cells. Anything else is a :class:`NotebookError` (a ``ValueError``) whose
message says what is wrong, for the user.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat
from nbformat import NotebookNode

from gistasks import jsonsafe
from gistasks.notebooks import _nbf

MIB = 1024 * 1024

NotebookSource = bytes | bytearray | memoryview | str | os.PathLike[str] | NotebookNode
"""What a notebook is given as: its JSON as bytes, a path (``str`` is always a path, never
JSON text), or a parsed :class:`nbformat.NotebookNode` (copied, never changed)."""

_CELL_ID = re.compile(r"[a-zA-Z0-9_-]{1,64}")

MAX_JSON_DEPTH = 64
"""Nesting levels accepted in a notebook's JSON (the format itself needs about 8; JSON
outputs nest further)."""


class NotebookError(ValueError):
    """A notebook that cannot be run or exported; ``str(exc)`` says why, for the user."""


@dataclass(frozen=True, slots=True)
class Limits:
    """What one run may make the engine hold. Every bound is checked, none is optional.

    Output sizes are counted in characters of text (a stream's text, each MIME value of a
    display; base64 images count their encoded length), which is what the saved notebook holds.
    """

    max_notebook_bytes: int = 16 * MIB
    """The largest notebook read (UTF-8 bytes of its JSON)."""
    max_cells: int = 5000
    """The most cells a notebook may have (the injected cell included)."""
    max_output_per_cell: int = 2 * MIB
    """Output kept per cell; beyond it the cell's further output is dropped and one notice
    says so (``clear_output`` starts the count again)."""
    max_output_total: int = 32 * MIB
    """Output kept for the whole run, all cells together; beyond it, likewise dropped."""
    max_message_bytes: int = 64 * MIB
    """The largest single message read from the kernel (ZeroMQ's ``MAXMSGSIZE``): a kernel
    that sends a larger one is disconnected for that message instead of filling memory."""
    max_traceback_chars: int = 4000
    """The longest traceback summary in a result (its end is kept)."""
    max_html_bytes: int = 64 * MIB
    """The largest HTML export."""
    max_parameters_bytes: int = 1 * MIB
    """The longest ``notebookParameters`` (as JSON)."""

    def __post_init__(self) -> None:
        for name in self.__slots__:
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"Limits.{name} must be a positive integer, not {value!r}")


DEFAULT_LIMITS = Limits()


def read_notebook(source: NotebookSource, limits: Limits = DEFAULT_LIMITS) -> NotebookNode:
    """A fresh, valid nbformat v4 notebook from ``source``.

    Raises NotebookError when the notebook is too large, is not UTF-8 JSON, is not nbformat 4,
    fails the schema or has more than ``limits.max_cells`` cells; OSError when a path cannot
    be read. A given NotebookNode is deep-copied (and checked like the others).
    """
    if isinstance(source, NotebookNode):
        value: Any = _plain(source)
        text = None
    else:
        data = _read_bytes(source, limits.max_notebook_bytes)
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise NotebookError(f"the notebook is not UTF-8 text (byte {exc.start})") from None
        try:
            value = jsonsafe.loads(text, limits.max_notebook_bytes, MAX_JSON_DEPTH)
        except jsonsafe.JsonError as exc:
            raise NotebookError(f"the notebook is not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise NotebookError("the notebook is not a JSON object")
    if value.get("nbformat") != 4:
        raise NotebookError(
            f"only nbformat 4 notebooks can be run (this one says {value.get('nbformat')!r})")
    cells = value.get("cells")
    if isinstance(cells, list) and len(cells) > limits.max_cells:
        raise NotebookError(
            f"the notebook has {len(cells)} cells, more than the {limits.max_cells} allowed")
    nb = _nbf.from_dict(value)
    _validate(nb)
    # As nbformat.reads leaves it: multi-line texts as one string each.
    return _nbf.strip_transient(_nbf.rejoin_lines(nb))


def write_notebook(nb: NotebookNode) -> bytes:
    """The notebook as UTF-8 nbformat JSON (the indentation Jupyter writes)."""
    return _nbf.writes(nb).encode("utf-8")


def _plain(node: Any) -> Any:
    """A deep copy of a notebook node as plain dicts and lists, without recursion."""
    root: list[Any] = [None]
    stack: list[tuple[Any, Any, Any]] = [(node, root, 0)]
    while stack:
        item, parent, key = stack.pop()
        if isinstance(item, dict):
            copy_d: dict[str, Any] = {}
            parent[key] = copy_d
            stack.extend((v, copy_d, k) for k, v in item.items())
        elif isinstance(item, list):
            copy_l: list[Any] = [None] * len(item)
            parent[key] = copy_l
            stack.extend((v, copy_l, i) for i, v in enumerate(item))
        else:
            parent[key] = item
    return root[0]


def _read_bytes(source: NotebookSource, max_bytes: int) -> bytes:
    if isinstance(source, bytes | bytearray | memoryview):
        data = bytes(source)
    elif isinstance(source, str | os.PathLike):
        path = Path(source)
        with path.open("rb") as f:
            data = f.read(max_bytes + 1)
    else:
        raise TypeError(f"a notebook is bytes, a path or a NotebookNode, not {type(source)}")
    if len(data) > max_bytes:
        raise NotebookError(f"the notebook is larger than {max_bytes} bytes")
    return data


def _validate(nb: NotebookNode) -> None:
    minor = nb.get("nbformat_minor")
    if not isinstance(minor, int) or isinstance(minor, bool) or minor < 0:
        raise NotebookError("the notebook's nbformat_minor is not a number")
    if minor >= 5:
        # Cells without ids are a common, harmless omission (older writers): give them one
        # rather than refuse the notebook; duplicate ids are made unique the same way.
        seen: set[str] = set()
        for cell in nb.get("cells") or []:
            if isinstance(cell, dict):
                cid = cell.get("id")
                if not isinstance(cid, str) or not _CELL_ID.fullmatch(cid) or cid in seen:
                    cell["id"] = _nbf.new_code_cell().id
                seen.add(cell["id"])
    try:
        nbformat.validate(nb)
    except nbformat.ValidationError as exc:
        where = "/".join(str(p) for p in getattr(exc, "absolute_path", ()) or ())
        text = str(getattr(exc, "message", exc)).splitlines()[0][:300]
        raise NotebookError(
            "the notebook is not valid nbformat 4" + (f" at {where}" if where else "")
            + f": {text}") from None
