"""pygeoapi input metadata mapped to GP parameters."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gistasks.gp import JobContext, Tool
from gistasks.gp.datatypes import GPMultiValue
from gistasks.gp.pygeoapi import _input
from gistasks.gp.tool import check_tool


def test_an_array_input_with_a_default_list_makes_a_well_declared_tool() -> None:
    tags = _input("tags", {"title": "Tags", "schema": {
        "type": "array", "items": {"type": "string"}, "default": ["a", "b"]}})
    assert isinstance(tags.data_type, GPMultiValue) and tags.default == ["a", "b"]

    class Tagged(Tool):
        name = "Tagged"
        parameters = (tags,)

        def execute(self, job: JobContext, inputs: Mapping[str, Any]) -> dict[str, Any]:
            return {}

    assert check_tool(Tagged) is Tagged
