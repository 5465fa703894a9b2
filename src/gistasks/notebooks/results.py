"""What a run gives back: how it ended, the executed notebook, and the cell that stopped it."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from nbformat import NotebookNode

from gistasks.notebooks.documents import write_notebook

ANSI = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[@-Z\\-_])")
"""Terminal escape sequences (IPython colours its tracebacks with them)."""
FIRST_LINE_CHARS = 120


class Outcome(StrEnum):
    """How a run ended."""

    SUCCEEDED = "succeeded"
    """Every cell ran without an error."""
    FAILED = "failed"
    """A cell raised (``NotebookResult.error`` says what), or the run's working directory or
    environment could not be applied."""
    TIMED_OUT = "timed_out"
    """The run's time limit was reached; the kernel was killed."""
    CANCELLED = "cancelled"
    """The caller's cancellation was set, or the engine shut down; the kernel was killed."""
    KERNEL_DIED = "kernel_died"
    """The kernel did not start, did not answer in time, or ended by itself during the run
    (a crash, ``os._exit``, out of memory)."""


@dataclass(frozen=True, slots=True)
class CellRef:
    """A cell of the executed notebook: its position, the ``In [n]`` it got, its first line.

    ``index`` is 0-based, in ``NotebookResult.notebook`` as returned. ``injected`` is true for
    the injected parameters cell; when that cell is not kept, ``index`` is where it was.
    """

    index: int
    execution_count: int | None
    first_line: str
    injected: bool = False

    def describe(self) -> str:
        """``cell 3 (In [2]: x = 1 / 0)``: 1-based, as a reader counts."""
        what = "the injected parameters cell" if self.injected else f"cell {self.index + 1}"
        prompt = f"In [{self.execution_count}]" if self.execution_count else "In [ ]"
        return f"{what} ({prompt}: {self.first_line})" if self.first_line else what


@dataclass(frozen=True, slots=True)
class CellError:
    """The error a cell raised: exception name and value, and the traceback without colour
    codes, at most ``Limits.max_traceback_chars`` (its end is kept)."""

    ename: str
    evalue: str
    traceback: str


@dataclass(slots=True)
class NotebookResult:
    """The outcome of one run.

    ``notebook`` is the executed notebook (outputs of the cells that ran, the stopped cell's
    output so far and a note of why it stopped); it holds the injected cell only when
    ``save_injected_parameters`` was set. ``message`` is one line for the run's result text.
    ``cell`` is the cell that failed, or that was running when the run was stopped (None when
    the run stopped before the first cell); ``error`` is set for ``FAILED`` by a cell.
    """

    outcome: Outcome
    notebook: NotebookNode
    message: str
    cell: CellRef | None = None
    error: CellError | None = None
    parameters: dict[str, Any] = field(default_factory=dict)
    kernel_pid: int | None = None
    warm: bool = False
    """Whether the run used a pre-started kernel from the pool."""
    duration_s: float = 0.0
    """From the start of the run (its slot held) to its kernel killed."""

    @property
    def succeeded(self) -> bool:
        return self.outcome is Outcome.SUCCEEDED

    def notebook_bytes(self) -> bytes:
        """The executed notebook as ``.ipynb`` JSON (UTF-8)."""
        return write_notebook(self.notebook)


def strip_ansi(text: str) -> str:
    """``text`` without terminal escape sequences."""
    return ANSI.sub("", text)


def summarize_traceback(lines: Sequence[str], max_chars: int) -> str:
    """A traceback's lines, colour codes removed, joined, and cut to its last ``max_chars``
    characters (the end says where and what; a cut start is marked with ``…``)."""
    text = strip_ansi("\n".join(str(line) for line in lines)).strip("\n")
    if len(text) > max_chars:
        text = "…" + text[len(text) - max_chars + 1:]
    return text


def first_line(source: Any) -> str:
    """The first line of a cell's source that is not blank, stripped and bounded."""
    text = "".join(source) if isinstance(source, list) else str(source or "")
    for line in text.splitlines():
        if line.strip():
            line = strip_ansi(line.strip())
            return line if len(line) <= FIRST_LINE_CHARS else line[:FIRST_LINE_CHARS - 1] + "…"
    return ""
