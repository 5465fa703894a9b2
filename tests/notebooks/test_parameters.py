"""notebookParameters and the injected cell, pure: no kernel."""

from __future__ import annotations

import ast
import json
from typing import Any

import nbformat
import pytest
from nbformat import NotebookNode

from gistasks.notebooks import (
    INJECTED_TAG,
    _nbf,
    inject_parameters,
    parameters_source,
    parse_parameters,
)
from gistasks.notebooks.parameters import is_injected_cell


def notebook(*cells: tuple[str, list[str]]) -> NotebookNode:
    nb = _nbf.new_notebook()
    nb.cells = [_nbf.new_code_cell(src, metadata={"tags": tags} if tags else {})
                for src, tags in cells]
    return nb


def sources(nb: NotebookNode) -> list[str]:
    return [c.source.splitlines()[0] if c.source else "" for c in nb.cells]


# -- both forms --------------------------------------------------------------------------


def test_a_dict_and_its_json_text_give_the_same_parameters() -> None:
    value = {"x": 1, "y": "text", "flags": [True, False, None], "cfg": {"a": {"b": [1.5]}}}
    assert parse_parameters(value) == value
    assert parse_parameters(json.dumps(value)) == value
    assert parse_parameters(json.dumps(value).encode()) == value


@pytest.mark.parametrize("empty", [None, "", "  ", "{}", {}])
def test_no_parameters_in_any_form_is_an_empty_dict(empty: Any) -> None:
    assert parse_parameters(empty) == {}


@pytest.mark.parametrize(("text", "says"), [
    ("[1, 2]", "JSON object"),
    ('"x"', "JSON object"),
    ("{'x': 1}", "not a JSON object"),
    ('{"x": NaN}', "NaN"),
    ("{", "not a JSON object"),
])
def test_text_that_is_not_a_json_object_is_refused_saying_so(text: str, says: str) -> None:
    with pytest.raises(ValueError, match="notebookParameters") as caught:
        parse_parameters(text)
    assert says in str(caught.value)


def test_names_that_are_not_identifiers_are_refused_naming_each() -> None:
    with pytest.raises(ValueError) as caught:
        parse_parameters({"ok": 1, "two words": 2, "1st": 3, "class": 4, "x-y": 5})
    message = str(caught.value)
    for bad in ("'two words'", "'1st'", "'class'", "'x-y'"):
        assert bad in message
    assert "'ok'" not in message
    with pytest.raises(ValueError, match="'a;b'"):
        parse_parameters('{"a;b": 1}')


def test_python_values_that_are_not_json_are_refused_naming_the_parameter() -> None:
    with pytest.raises(ValueError, match=r"'when'.*set"):
        parse_parameters({"when": {1, 2}})
    with pytest.raises(ValueError, match="'n'"):
        parse_parameters({"n": float("nan")})
    loop: list[Any] = []
    loop.append(loop)
    with pytest.raises(ValueError):
        parse_parameters({"loop": loop})


def test_parameters_longer_than_the_bound_are_refused() -> None:
    with pytest.raises(ValueError, match="longer than 100 bytes"):
        parse_parameters({"s": "x" * 200}, max_bytes=100)
    with pytest.raises(ValueError, match="longer than 100 bytes"):
        parse_parameters(json.dumps({"s": "x" * 200}), max_bytes=100)


# -- the injected source -----------------------------------------------------------------


def test_the_injected_source_is_assignments_of_python_literals() -> None:
    params = {"flag": True, "none": None, "n": -3, "f": 2.5e-10, "s": "it's \"q\"\n\u2028x",
              "nested": {"a": [1, {"b": False}], "c": None}}
    source = parameters_source(params)
    lines = source.splitlines()
    assert lines[0] == "# Parameters"
    assert lines[1:] == [f"{k} = {v!r}" for k, v in params.items()]
    assert lines[1] == "flag = True" and lines[2] == "none = None"
    tree = ast.parse(source)  # one assignment per parameter, nothing else
    assert len(tree.body) == len(params)
    values = {a.targets[0].id: ast.literal_eval(a.value)  # type: ignore[attr-defined]
              for a in tree.body if isinstance(a, ast.Assign)}
    assert values == params


# -- placement ---------------------------------------------------------------------------


def test_the_cell_goes_after_the_cell_tagged_parameters() -> None:
    nb = notebook(("import os", []), ("x = 0", ["parameters"]), ("print(x)", []))
    assert inject_parameters(nb, {"x": 1}) == 2
    assert sources(nb) == ["import os", "x = 0", "# Parameters", "print(x)"]
    injected = nb.cells[2]
    assert injected.metadata.tags == [INJECTED_TAG] and is_injected_cell(injected)
    assert injected.source == "# Parameters\nx = 1\n"
    nbformat.validate(nb)


def test_the_cell_goes_after_a_cell_the_author_tagged_injected_parameters() -> None:
    nb = notebook(("x = 0", [INJECTED_TAG]), ("print(x)", []))
    assert inject_parameters(nb, {"x": 1}) == 1
    assert sources(nb) == ["x = 0", "# Parameters", "print(x)"]


def test_the_first_tagged_cell_wins() -> None:
    nb = notebook(("a = 0", ["other", "parameters"]), ("b = 0", ["parameters"]))
    assert inject_parameters(nb, {"a": 1}) == 1


def test_without_a_tagged_cell_the_cell_goes_at_the_top() -> None:
    nb = notebook(("print(x)", []), ("y = 2", ["other"]))
    assert inject_parameters(nb, {"x": 1}) == 0
    assert sources(nb) == ["# Parameters", "print(x)", "y = 2"]


def test_a_cell_a_previous_run_injected_is_replaced_not_run_twice() -> None:
    nb = notebook(("x = 0", ["parameters"]), ("print(x)", []))
    inject_parameters(nb, {"x": 1})  # saved by an earlier run with saveInjectedParameters
    assert inject_parameters(nb, {"x": 2, "y": 3}) == 1
    assert sources(nb) == ["x = 0", "# Parameters", "print(x)"]
    assert nb.cells[1].source == "# Parameters\nx = 2\ny = 3\n"
    assert sum(is_injected_cell(c) for c in nb.cells) == 1


def test_no_parameters_leave_the_notebook_as_it_is() -> None:
    nb = notebook(("x = 0", ["parameters"]))
    before = _nbf.writes(nb)
    assert inject_parameters(nb, {}) is None
    assert _nbf.writes(nb) == before


def test_a_notebook_older_than_4_5_gets_a_cell_without_an_id() -> None:
    nb = notebook(("x = 0", []))
    nb.nbformat_minor = 4
    for cell in nb.cells:
        del cell["id"]
    inject_parameters(nb, {"x": 1})
    assert "id" not in nb.cells[0]
    nbformat.validate(nb)
