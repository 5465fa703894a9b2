"""Runs the real Quartz 2.3.2 ``CronExpression`` (Debian's libquartz2-java) as a test oracle.

``QuartzOracle.java`` beside this file is compiled once per session into a cache directory and
fed a batch of cases on stdin; see its header for the line protocol.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
QUARTZ_JARS = (
    Path("/usr/share/java/quartz2.jar"),
    Path("/usr/share/maven-repo/org/quartz-scheduler/quartz/2.3.2/quartz-2.3.2.jar"),
)


class OracleUnavailableError(RuntimeError):
    """Java or the Quartz jar is missing (``make test`` installs both)."""


@dataclass(frozen=True)
class Case:
    expression: str
    zone: str
    start_ms: int
    count: int


@dataclass(frozen=True)
class Answer:
    kind: str  # OK, ERR, HANG or EXC
    fires_ms: tuple[int, ...]
    message: str


def quartz_jar() -> Path:
    for jar in QUARTZ_JARS:
        if jar.exists():
            return jar
    raise OracleUnavailableError(
        "libquartz2-java is not installed (apt-get install libquartz2-java)"
    )


def compile_oracle(cache_dir: Path) -> Path:
    """Compile the oracle into ``cache_dir`` (once per source version) and return the class dir."""
    javac = shutil.which("javac")
    if javac is None or shutil.which("java") is None:
        raise OracleUnavailableError(
            "a JDK is not installed (apt-get install default-jdk-headless)"
        )
    source = HERE / "QuartzOracle.java"
    digest = hashlib.sha256(source.read_bytes()).hexdigest()[:16]
    out = cache_dir / f"quartz-oracle-{digest}"
    if not (out / "QuartzOracle.class").exists():
        out.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [javac, "-nowarn", "-d", str(out), "-cp", str(quartz_jar()), str(source)],
            check=True,
            capture_output=True,
        )
    return out


def run_oracle(classes: Path, cases: list[Case]) -> tuple[int, list[Answer]]:
    """Evaluate ``cases`` with Quartz; return its MAX_YEAR and one answer per case."""
    lines = "".join(
        f"{i}\t{c.expression}\t{c.zone}\t{c.start_ms}\t{c.count}\n" for i, c in enumerate(cases)
    )
    env = dict(os.environ, TZ="UTC")
    proc = subprocess.run(
        ["java", "-Xss4m", "-cp", f"{classes}:{quartz_jar()}", "QuartzOracle"],
        input=lines,
        capture_output=True,
        text=True,
        check=True,
        env=env,
        timeout=900,
    )
    out = proc.stdout.splitlines()
    header = out[0].split("\t")
    assert header[0] == "MAX_YEAR", proc.stdout[:200]
    answers: list[Answer | None] = [None] * len(cases)
    for line in out[1:]:
        idx, kind, *rest = line.split("\t")
        payload = rest[0] if rest else ""
        if kind == "OK":
            fires = tuple(int(x) for x in payload.split(",") if x)
            answers[int(idx)] = Answer("OK", fires, "")
        else:
            answers[int(idx)] = Answer(kind, (), payload)
    missing = [i for i, a in enumerate(answers) if a is None]
    assert not missing, f"the oracle gave no answer for cases {missing[:5]}"
    return int(header[1]), [a for a in answers if a is not None]
