"""The notebook engine's tests, and what they share: notebooks written in a line, and whether
a process is gone."""

from __future__ import annotations

import time
from pathlib import Path

from nbformat import NotebookNode

from gistasks.notebooks import _nbf


def make_notebook(*cells: str | tuple[str, list[str]]) -> NotebookNode:
    """A v4.5 notebook of code cells; a cell is its source, or (source, tags)."""
    nb = _nbf.new_notebook()
    for cell in cells:
        source, tags = (cell, []) if isinstance(cell, str) else cell
        metadata = {"tags": tags} if tags else {}
        nb.cells.append(_nbf.new_code_cell(source, metadata=metadata))
    return nb


def notebook_bytes(*cells: str | tuple[str, list[str]]) -> bytes:
    return _nbf.writes(make_notebook(*cells)).encode()


def gone(pid: int) -> bool:
    """Whether process ``pid`` no longer runs (absent, or a zombie waiting for its reaper)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return True
    state = stat.rsplit(")", 1)[1].split()[0]
    return state in ("Z", "X")


def wait_until(condition: object, timeout_s: float = 10.0) -> bool:
    """Poll ``condition()`` until it is true or ``timeout_s`` passed; its last value."""
    assert callable(condition)
    deadline = time.monotonic() + timeout_s
    while True:
        if condition():
            return True
        if time.monotonic() > deadline:
            return bool(condition())
        time.sleep(0.02)


def stream_text(nb: NotebookNode, index: int) -> str:
    """The stdout and stderr a cell wrote."""
    return "".join(o.get("text", "") for o in nb.cells[index].get("outputs", [])
                   if o.get("output_type") == "stream")
