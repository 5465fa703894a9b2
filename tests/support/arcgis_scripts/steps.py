"""Records the outcome of each step of a client script and prints them all as one JSON object.

A step that raises records its traceback and the script goes on with the next step, so one
incompatibility shows up in the one test that checks that step. The JSON goes to the real
stdout at the end; anything the client prints while running goes to stderr instead.
"""

from __future__ import annotations

import json
import os
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, NoReturn

Record = dict[str, Any]


class Steps:
    def __init__(self) -> None:
        self.results: dict[str, Record] = {}
        self._stdout = sys.stdout
        sys.stdout = sys.stderr  # keep stdout for the JSON alone

    @contextmanager
    def step(self, name: str) -> Iterator[Record]:
        """Run a block as the step ``name``; what it stores in the record is its result."""
        record: Record = {}
        self.results[name] = record
        started = time.monotonic()
        try:
            yield record
        except Exception:
            record["error"] = traceback.format_exc()
        finally:
            record["seconds"] = round(time.monotonic() - started, 3)

    def finish(self) -> NoReturn:
        """Print every record as JSON; exit 1 when a step failed."""
        self._stdout.write(json.dumps(self.results, default=str) + "\n")
        self._stdout.flush()
        failed = [name for name, r in self.results.items() if "error" in r]
        for name in failed:
            sys.stderr.write(f"step {name!r} failed:\n{self.results[name]['error']}\n")
        sys.exit(1 if failed else 0)


def setting(name: str) -> str:
    """A required setting from the environment the test passes in."""
    value = os.environ.get(name)
    if not value:
        raise SystemExit(f"{name} is not set")
    return value


def wait_for(probe: Callable[[], Any], timeout: float, interval: float = 0.5) -> Any:
    """Call ``probe`` until it returns something truthy; its last answer after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        answer = probe()
        if answer or time.monotonic() >= deadline:
            return answer
        time.sleep(interval)
