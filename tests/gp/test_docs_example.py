"""The example tool of docs/gp.md, the file a newcomer copies, works as the page says."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

from gistasks.gp.execution import run_job
from gistasks.gp.tool import check_tool
from gistasks.plugins import load_object

DOC = Path(__file__).resolve().parents[2] / "docs" / "gp.md"


def test_the_documented_tool_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    code = re.search(r"```python\n# my_tools.py\n(.*?)```", DOC.read_text(), re.S)
    assert code is not None, "docs/gp.md lost its example"
    (tmp_path / "my_tools.py").write_text(code[1])
    monkeypatch.syspath_prepend(str(tmp_path))
    check_tool(load_object("my_tools:CountNear"))
    features = {"geometryType": "esriGeometryPoint", "spatialReference": {"wkid": 32632},
                "features": [{"geometry": {"x": 500_000 + dx, "y": 5_500_000},
                              "attributes": {}} for dx in (0, 500, 5000)]}
    events: list[tuple[object, ...]] = []
    out = run_job({"id": "j1", "tool": "my_tools:CountNear", "folder": str(tmp_path / "j1"),
                   "inputs": {"Features": features, "Place": "500000,5500000",
                              "Distance": {"distance": 1.0, "units": "esriKilometers"}}},
                  events.append)
    assert out == {"results": {"Count": "2"}}
    assert ("message", "esriJobMessageTypeInformative", "2 of 3 features are near") in events
    sys.modules.pop("my_tools", None)
