"""GP tools for tests, served by the test servers' ``gp-services.toml`` (``SERVICES_TOML``).

Each does one thing a test needs to watch: echo its inputs, sleep while reporting progress,
fail, crash its process, never return, eat memory, write outside its folder.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from gistasks.gp import (
    Direction,
    GPBoolean,
    GPDataFile,
    GPDate,
    GPDouble,
    GPFeatureRecordSetLayer,
    GPLinearUnit,
    GPLong,
    GPMultiValue,
    GPRecordSet,
    GPString,
    JobContext,
    Parameter,
    Tool,
)
from gistasks.store import Store
from gistasks.store.records import JobRecord, JobStatus

OUT = Direction.OUTPUT


class Echo(Tool):
    """Answers its text, after an optional delay."""

    name = "Echo"
    parameters = (
        Parameter("Text", GPString(), "Text", "What to echo.", required=True),
        Parameter("Delay", GPDouble(), "Delay", "Seconds to wait first.", default=0.0),
        Parameter("Answer", GPString(), "Answer", direction=OUT),
    )

    def execute(self, job: JobContext, inputs: Mapping[str, Any]) -> dict[str, Any]:
        if inputs["Delay"]:
            time.sleep(inputs["Delay"])
        job.message(f"echoing {len(inputs['Text'])} characters")
        return {"Answer": f"echo: {inputs['Text']}"}


class Sleep(Tool):
    """Sleeps, reporting progress every tenth of the time."""

    name = "Sleep"
    parameters = (
        Parameter("Seconds", GPDouble(), "Seconds", required=True),
        Parameter("Slept", GPDouble(), "Slept", direction=OUT),
    )

    def execute(self, job: JobContext, inputs: Mapping[str, Any]) -> dict[str, Any]:
        total = inputs["Seconds"]
        for k in range(10):
            job.progress(k * 10, f"step {k + 1} of 10")
            time.sleep(total / 10)
        return {"Slept": total}


class Fail(Tool):
    """Fails with the message it is given, after a warning."""

    name = "Fail"
    parameters = (Parameter("Reason", GPString(), "Reason", default="it had to"),)

    def execute(self, job: JobContext, inputs: Mapping[str, Any]) -> dict[str, Any]:
        job.warning("about to fail")
        raise ValueError(f"the tool failed: {inputs['Reason']}")


class Crash(Tool):
    """Ends its process at once (as a segfault in native code would)."""

    name = "Crash"
    parameters = (Parameter("Code", GPLong(), "Exit code", default=3),)

    def execute(self, job: JobContext, inputs: Mapping[str, Any]) -> dict[str, Any]:
        os._exit(inputs["Code"])


class Hang(Tool):
    """Never returns (and ignores SIGTERM)."""

    name = "Hang"
    parameters = ()

    def execute(self, job: JobContext, inputs: Mapping[str, Any]) -> dict[str, Any]:
        import signal

        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        job.message("hanging")
        while True:
            time.sleep(1)


class Hog(Tool):
    """Allocates the megabytes it is asked for."""

    name = "Hog"
    parameters = (Parameter("Megabytes", GPLong(), "Megabytes", required=True),
                  Parameter("Held", GPLong(), "Held", direction=OUT))

    def execute(self, job: JobContext, inputs: Mapping[str, Any]) -> dict[str, Any]:
        blocks = [bytearray(1024 * 1024) for _ in range(inputs["Megabytes"])]
        return {"Held": len(blocks)}


class Escape(Tool):
    """Tries to write outside its job folder through the API it is given."""

    name = "Escape"
    parameters = (Parameter("Target", GPString(), "Target", required=True),
                  Parameter("Wrote", GPString(), "Wrote", direction=OUT))

    def execute(self, job: JobContext, inputs: Mapping[str, Any]) -> dict[str, Any]:
        path = job.path(inputs["Target"])
        path.write_text("escaped")
        return {"Wrote": str(path)}


class Types(Tool):
    """Takes a value of every data type and gives each back as the tool received it."""

    name = "Types"
    parameters = (
        Parameter("S", GPString(), "S", choices=("a", "b", "c"), default="a"),
        Parameter("L", GPLong(), "L", default=1),
        Parameter("D", GPDouble(), "D", default=1.5),
        Parameter("B", GPBoolean(), "B", default=False),
        Parameter("T", GPDate(), "T"),
        Parameter("U", GPLinearUnit(), "U"),
        Parameter("File", GPDataFile(), "File"),
        Parameter("R", GPRecordSet(), "R"),
        Parameter("FS", GPFeatureRecordSetLayer(), "FS"),
        Parameter("M", GPMultiValue(GPLong()), "M"),
        Parameter("Report", GPString(), "Report", direction=OUT),
        Parameter("When", GPDate(), "When", direction=OUT),
        Parameter("Unit", GPLinearUnit(), "Unit", direction=OUT),
        Parameter("Copy", GPDataFile(), "Copy", direction=OUT),
    )

    def execute(self, job: JobContext, inputs: Mapping[str, Any]) -> dict[str, Any]:
        import json

        report = {name: type(value).__name__ for name, value in inputs.items()}
        out: dict[str, Any] = {"Report": json.dumps(report, sort_keys=True),
                               "When": inputs["T"], "Unit": inputs["U"]}
        source = inputs["File"]
        if isinstance(source, Path):
            copy = job.path("copy/" + source.name)
            copy.write_bytes(source.read_bytes())
            out["Copy"] = copy
        return out


class WriteFile(Tool):
    """Writes a text file (a GPDataFile result)."""

    name = "WriteFile"
    parameters = (Parameter("Content", GPString(), "Content", required=True),
                  Parameter("File", GPDataFile(), "File", direction=OUT))

    def execute(self, job: JobContext, inputs: Mapping[str, Any]) -> dict[str, Any]:
        path = job.path("out/result.txt")
        path.write_text(inputs["Content"])
        return {"File": path}


SERVICES_TOML = """\
[services."Tests/Tools"]
tools = ["tests.support.gptools:Echo", "tests.support.gptools:Sleep",
         "tests.support.gptools:Fail", "tests.support.gptools:Crash",
         "tests.support.gptools:Hang", "tests.support.gptools:Hog",
         "tests.support.gptools:Escape", "tests.support.gptools:Types",
         "tests.support.gptools:WriteFile"]
max_concurrent_jobs = 2
time_limit_seconds = 4
max_job_age_minutes = 1

[services."Tests/Sync"]
tools = ["tests.support.gptools:Echo", "tests.support.gptools:Fail"]
execution = "synchronous"

[services."Tests/Public"]
tools = ["tests.support.gptools:Echo"]
public = true
"""


def write_services(data_dir: Path, extra: str = "") -> Path:
    """The test services file in ``data_dir`` (created if need be)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / "gp-services.toml"
    path.write_text(SERVICES_TOML + extra)
    return path


def wait_for_status(store: Store, job: JobRecord, status: JobStatus,
                    timeout: float = 20) -> JobRecord:
    """The job as stored once it has ``status``; AssertionError after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    found = None
    while time.monotonic() < deadline:
        found = store.jobs.get(job.id)
        assert found is not None
        if found.status == status:
            return found
        time.sleep(0.02)
    raise AssertionError(f"{job.id} never became {status}: {found}")
