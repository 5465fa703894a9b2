"""Executors: where a piece of work runs, with time limits, cancellation and crash isolation.

Two kinds, usable by task runs and geoprocessing jobs alike:

* :func:`run_in_thread` calls a function in the caller's thread, or, with a time limit, in a
  helper thread it waits for. Python cannot kill a thread: work that overruns its limit is
  abandoned (its cancellation is set, so cooperative work stops soon) and the execution fails.
* :func:`run_in_child` calls a function (named ``module:function``) in a fresh child process
  (``spawn``: nothing of the server's state is inherited). A time limit or a cancellation
  terminates the process, and its crash fails only the execution.

Both raise :class:`ExecutionError` with the reason a user reads (``time limit of 4 s
exceeded``, the cancellation's reason, ``the run's process ended without a result (exit code
3)``, or the child's exception); whatever the work returns is handed back as it is.
"""

from __future__ import annotations

import multiprocessing
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from gistasks.tasktypes import load_object

T = TypeVar("T")

POLL_S = 0.05
"""How often the parent looks at a child between messages (cancellation, time limit)."""
KILL_GRACE_S = 2.0
"""How long a terminated child has to exit before it is killed."""


class ExecutionError(Exception):
    """The work did not deliver a result; ``str(exc)`` is the reason, for the user."""


class Cancellation:
    """A handle to stop one execution: ``cancel`` records the first reason and sets
    ``event``, which cooperative work polls and the executors watch."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self.reason = ""

    def cancel(self, reason: str) -> None:
        if not self.reason:
            self.reason = reason
        self.event.set()

    @property
    def cancelled(self) -> bool:
        return self.event.is_set()


def _time_limit_text(limit: float) -> str:
    return f"time limit of {limit:g} s exceeded"


def run_in_thread(work: Callable[[], T], time_limit_s: float | None,
                  cancellation: Cancellation) -> T:
    """``work()`` with a time limit; raises ExecutionError if it overran its limit or was
    cancelled meanwhile (a cancelled run fails with the cancellation's reason, whatever the
    work returned). Exceptions of ``work`` propagate."""
    if time_limit_s is None:
        result = work()
    else:
        box: list[tuple[bool, Any]] = []

        def target() -> None:
            try:
                box.append((True, work()))
            except BaseException as exc:
                box.append((False, exc))

        helper = threading.Thread(target=target, daemon=True, name="gistasks-limited")
        helper.start()
        helper.join(time_limit_s)
        if helper.is_alive():
            cancellation.cancel(_time_limit_text(time_limit_s))
            raise ExecutionError(_time_limit_text(time_limit_s))
        ok, value = box[0]
        if not ok:
            raise value
        result = value
    if cancellation.reason:
        raise ExecutionError(cancellation.reason)
    return result


def _child_main(target: str, kwargs: dict[str, Any], conn: Any) -> None:
    """Entry point of a child: call the target and send ``(True, result)`` or ``(False,
    "Type: message")`` back."""
    try:
        function = load_object(target)
        assert callable(function), target
        message: tuple[bool, Any] = (True, function(**kwargs))
    except BaseException as exc:
        message = (False, f"{type(exc).__name__}: {exc}")
    conn.send(message)
    conn.close()


def run_in_child(target: str, kwargs: dict[str, Any], time_limit_s: float | None,
                 cancellation: Cancellation, on_start: Callable[[Any], None] | None = None
                 ) -> Any:
    """``target(**kwargs)`` in a new child process; its return value (which must pickle).

    ``on_start`` gets the process once it runs (for monitoring). Raises ExecutionError when
    the time limit passes or the execution is cancelled (the child is terminated, then
    killed), when the child ends without a result (a crash: its exit code is in the reason),
    or when the target raised (its exception type and message are the reason).
    """
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child_main, args=(target, kwargs, child), daemon=True)
    proc.start()
    child.close()
    if on_start is not None:
        on_start(proc)
    deadline = None if time_limit_s is None else time.monotonic() + time_limit_s
    message: tuple[bool, Any] | None = None
    try:
        while True:
            if parent.poll(POLL_S):
                try:
                    message = parent.recv()
                except (EOFError, OSError):
                    message = None
                break
            if not proc.is_alive() or cancellation.cancelled:
                break
            if deadline is not None and time.monotonic() >= deadline:
                assert time_limit_s is not None
                cancellation.cancel(_time_limit_text(time_limit_s))
                break
    finally:
        if proc.is_alive():
            proc.terminate()
            proc.join(KILL_GRACE_S)
            if proc.is_alive():
                proc.kill()
        proc.join()
        parent.close()
    if cancellation.reason:
        raise ExecutionError(cancellation.reason)
    if message is None:
        raise ExecutionError(f"the run's process ended without a result (exit code "
                              f"{proc.exitcode})")
    ok, value = message
    if not ok:
        raise ExecutionError(str(value))
    return value
