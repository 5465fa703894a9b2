"""The services file: what it declares is served, and what is wrong in it stops the start with
the file and the line."""

from __future__ import annotations

from pathlib import Path

import pytest

from gistasks.gp import Catalog, CatalogError, Execution
from gistasks.gp.datatypes import GPString
from gistasks.gp.tool import Direction, Parameter, Tool, check_tool


def load(tmp_path: Path, text: str) -> Catalog:
    (tmp_path / "gp-services.toml").write_text(text)
    return Catalog.default(tmp_path)


def test_the_built_in_service_is_there_without_a_file(tmp_path: Path) -> None:
    service = Catalog.default(tmp_path).get("utilities/geometry")
    assert service is not None and service.path == "Utilities/Geometry"
    assert list(service.tools) == ["Buffer", "Project", "ExportFeatures"]
    assert service.max_job_age_minutes == 360 and service.execution == Execution.ASYNCHRONOUS


def test_a_services_file_adds_services_with_their_settings(tmp_path: Path) -> None:
    catalog = load(tmp_path, """
[services."Tests/Sync"]
tools = ["tests.support.gptools:Echo"]
execution = "synchronous"
max_concurrent_jobs = 3
time_limit_seconds = 1.5
max_job_age_minutes = 10
public = true

[services."Utilities/Geometry"]
max_job_age_minutes = 60
""")
    sync = catalog.get("Tests/Sync")
    assert sync is not None and sync.execution == Execution.SYNCHRONOUS
    assert (sync.max_concurrent_jobs, sync.time_limit_s, sync.max_job_age_minutes,
            sync.public) == (3, 1.5, 10, True)
    geometry = catalog.get("Utilities/Geometry")
    assert geometry is not None and geometry.max_job_age_minutes == 60
    assert list(geometry.tools) == ["Buffer", "Project", "ExportFeatures"]
    assert catalog.folders() == ["Tests", "Utilities"]


@pytest.mark.parametrize(("text", "says"), [
    ('[services."Tests/X"]\ntools = = ["x.y:Z"]', "line 2, column 9"),  # TOML syntax
    ('[services."Tests/X"]\ntools = ["tests.support.gptools:Echo"]\ncolour = "red"',
     "line 3: service 'Tests/X': 'colour' unknown setting"),
    ('\n\n[services."Tests/X"]\ntools = ["no.such.module:Tool"]',
     "line 4: service 'Tests/X': 'tools' 'no.such.module:Tool': No module named 'no'"),
    ('[services."Tests/X"]\ntools = ["tests.support.gptools:ERIN"]', "line 2"),
    ('[services."Tests/X"]\ntools = ["tests.support.gptools:Echo"]\n'
     'max_concurrent_jobs = 0', "line 3: service 'Tests/X': 'max_concurrent_jobs' must be"),
    ('[services."Tests/X"]\ntools = ["tests.support.gptools:Echo"]\nexecution = "later"',
     "line 3: service 'Tests/X': 'execution' must be asynchronous or synchronous"),
    ('[services."NoSlash"]\ntools = []', "line 1: service 'NoSlash'"),
    ('[services."Tests/Empty"]\ndescription = "nothing"', "has no tools"),
    ('[servicez."Tests/X"]', "unknown table"),
    ('[services."Tests/X"]\npublic = "yes"', "line 2: service 'Tests/X': 'public' has the "
     "wrong type"),
])
def test_a_bad_services_file_names_the_file_and_the_line(tmp_path: Path, text: str,
                                                         says: str) -> None:
    with pytest.raises(CatalogError) as raised:
        load(tmp_path, text)
    assert str(tmp_path / "gp-services.toml") in str(raised.value)
    assert says in str(raised.value)


def test_a_badly_declared_tool_is_refused_naming_every_problem() -> None:
    class Bad(Tool):
        name = "1bad"
        parameters = (Parameter("f", GPString()),
                      Parameter("Out", GPString(), required=True, direction=Direction.OUTPUT),
                      Parameter("Choice", GPString(), choices=(1,)))

        def execute(self, job, inputs):  # type: ignore[no-untyped-def]
            return {}

    with pytest.raises(TypeError) as raised:
        check_tool(Bad)
    text = str(raised.value)
    assert "its name '1bad'" in text and "'f': the name is reserved" in text
    assert "output 'Out' cannot be required" in text and "'Choice'" in text
