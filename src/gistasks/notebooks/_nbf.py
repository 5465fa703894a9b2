"""Typed doors to the nbformat functions this package calls (nbformat leaves them untyped)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

import nbformat
import nbformat.v4
import nbformat.v4.rwbase
from nbformat import NotebookNode

new_notebook = cast(Callable[..., NotebookNode], nbformat.v4.new_notebook)
"""``new_notebook(**kwargs)``: an empty v4 notebook."""
new_code_cell = cast(Callable[..., NotebookNode], nbformat.v4.new_code_cell)
"""``new_code_cell(source="", **kwargs)``: a v4 code cell (with a fresh ``id``)."""
new_markdown_cell = cast(Callable[..., NotebookNode], nbformat.v4.new_markdown_cell)
new_raw_cell = cast(Callable[..., NotebookNode], nbformat.v4.new_raw_cell)
new_output = cast(Callable[..., NotebookNode], nbformat.v4.new_output)
"""``new_output(output_type, data=None, **kwargs)``: a v4 output."""
from_dict = cast(Callable[[Any], NotebookNode], nbformat.from_dict)
"""Plain dicts and lists as NotebookNodes."""
rejoin_lines = cast(Callable[[NotebookNode], NotebookNode], nbformat.v4.rwbase.rejoin_lines)
"""Sources and texts stored as lists of lines joined into strings, as ``nbformat.reads``."""
strip_transient = cast(Callable[[NotebookNode], NotebookNode],
                       nbformat.v4.rwbase.strip_transient)
"""Drop the fields never saved (``orig_nbformat`` and the like)."""
writes = cast(Callable[[NotebookNode], str], nbformat.writes)
"""A notebook as nbformat JSON text."""
