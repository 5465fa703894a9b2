"""Reading notebooks within the bounds, pure: no kernel."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest

from gistasks.notebooks import Limits, NotebookError, read_notebook, write_notebook
from tests.notebooks import make_notebook, notebook_bytes


def test_bytes_a_path_and_a_node_give_the_same_notebook(tmp_path: Path) -> None:
    data = notebook_bytes("x = 1\ny = 2", "print(x)")
    path = tmp_path / "n.ipynb"
    path.write_bytes(data)
    node = make_notebook("x = 1\ny = 2", "print(x)")
    for source in (data, path, str(path), node):
        nb = read_notebook(source)
        assert [c.source for c in nb.cells] == ["x = 1\ny = 2", "print(x)"]
    assert read_notebook(node) is not node


def test_sources_saved_as_lists_of_lines_are_joined() -> None:
    value = json.loads(notebook_bytes("a"))
    value["cells"][0]["source"] = ["x = 1\n", "y = 2"]
    assert read_notebook(json.dumps(value).encode()).cells[0].source == "x = 1\ny = 2"


def test_a_notebook_larger_than_the_bound_is_refused(tmp_path: Path) -> None:
    data = notebook_bytes("x = '" + "a" * 5000 + "'")
    limits = Limits(max_notebook_bytes=4000)
    with pytest.raises(NotebookError, match="larger than 4000 bytes"):
        read_notebook(data, limits)
    path = tmp_path / "big.ipynb"
    path.write_bytes(data)
    with pytest.raises(NotebookError, match="larger than 4000 bytes"):
        read_notebook(path, limits)


def test_a_notebook_with_too_many_cells_is_refused() -> None:
    with pytest.raises(NotebookError, match="3 cells, more than the 2 allowed"):
        read_notebook(notebook_bytes("a", "b", "c"), Limits(max_cells=2))


@pytest.mark.parametrize(("data", "says"), [
    (b"\xff\xfe", "not UTF-8"),
    (b"{", "not JSON"),
    (b"[]", "not a JSON object"),
    (b'{"nbformat": 3, "worksheets": []}', "only nbformat 4"),
    (b'{"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [{"cell_type": "x"}]}',
     "not valid nbformat 4"),
    (b'{"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [], "n": NaN}',
     "not JSON"),
])
def test_what_is_not_a_v4_notebook_is_refused_saying_why(data: bytes, says: str) -> None:
    with pytest.raises(NotebookError, match=says):
        read_notebook(data)


def test_cells_without_ids_get_one_and_duplicates_are_made_unique() -> None:
    value = json.loads(notebook_bytes("a", "b", "c"))
    del value["cells"][0]["id"]
    value["cells"][2]["id"] = value["cells"][1]["id"]
    nb = read_notebook(json.dumps(value).encode())
    ids = [c.id for c in nb.cells]
    assert len(set(ids)) == 3
    nbformat.validate(nb)


def test_a_written_notebook_reads_back_the_same() -> None:
    nb = read_notebook(notebook_bytes("x = 1"))
    assert read_notebook(write_notebook(nb)) == nb
