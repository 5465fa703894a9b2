"""The trivial tool of the GP benchmark: pygeoapi's hello-world, as a gistasks tool."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gistasks.gp import Direction, GPString, JobContext, Parameter, Tool


class Hello(Tool):
    """Greets a name (what pygeoapi's hello-world process does)."""

    name = "Hello"
    parameters = (
        Parameter("name", GPString(), "Name", "Who to greet.", required=True),
        Parameter("message", GPString(), "Message", "Added to the greeting."),
        Parameter("echo", GPString(), "Echo", direction=Direction.OUTPUT),
    )

    def execute(self, job: JobContext, inputs: Mapping[str, Any]) -> dict[str, Any]:
        return {"echo": f"Hello {inputs['name']}! {inputs['message'] or ''}".strip()}
