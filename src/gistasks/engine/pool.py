"""Reusable worker processes: each runs one call at a time, streams its events back, and can
be killed and replaced without touching the others.

A worker is a ``spawn``-ed child (nothing of the server's state is inherited) that imports
what it is told to preload, then loops: receive ``(call_id, "module:function", kwargs)``, call
``function(**kwargs, emit=...)``, send back every event the call emits and, at the end,
``("done", call_id, ok, value, rss_bytes)``. A call that must stop (cancelled, over its time)
is stopped by killing its worker; a worker whose memory grew past a bound is retired between
calls. The parent side (:class:`Worker`) is driven by one thread, which waits on the workers'
connections together (:func:`wait`).
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import resource
import signal
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.connection import wait as wait_for
from typing import Any

from gistasks.plugins import load_object

EXIT_WAIT_S = 2.0
"""How long a worker whose pipe closed may take to be done exiting."""
PROGRESS_EVERY_S = 0.2
"""A call's progress events are sent at most this often (the last one always)."""


class CallFailedError(Exception):
    """What a call raised, as text (sent back instead of the exception)."""


def _rss_bytes() -> int:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _describe(exc: BaseException, memory_limit_mb: int | None) -> str:
    if isinstance(exc, MemoryError):
        return ("the job ran out of memory" + (f" (its limit is {memory_limit_mb} MB)"
                                               if memory_limit_mb else ""))
    text = str(exc)
    # A failure a tool reports on purpose carries its own words; anything else says its type.
    if type(exc).__name__ == "ToolFailedError" or isinstance(exc, CallFailedError):
        return text
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class _Emitter:
    """Sends one call's events to the parent; progress at most every PROGRESS_EVERY_S."""

    def __init__(self, conn: Connection, call_id: str) -> None:
        self.conn = conn
        self.call_id = call_id
        self.last_progress = 0.0

    def __call__(self, event: tuple[Any, ...]) -> None:
        if event and event[0] == "progress":
            now = time.monotonic()
            if now - self.last_progress < PROGRESS_EVERY_S and event[1] != 100.0:
                return
            self.last_progress = now
        self.conn.send(("event", self.call_id, event))


PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """Ask Linux to kill this process when the server dies, even by SIGKILL: a job must not
    outlive the server that would record it (elsewhere, the parent check below does it)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        pass


def worker_main(conn: Connection, preload: Sequence[str], memory_limit_mb: int | None,
                parent: int | None = None) -> None:
    """The loop of a worker process (the target of ``multiprocessing``)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the server stops its workers itself
    die_with_parent()
    if parent is not None and os.getppid() != parent:
        return  # the server died while this process started
    if memory_limit_mb:
        limit = memory_limit_mb * 1024 * 1024
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    functions: dict[str, Callable[..., Any]] = {}
    for name in preload:
        with contextlib.suppress(Exception):
            loaded = load_object(name)
            if callable(loaded):
                functions[name] = loaded
    home = os.getcwd()
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            return
        if message is None:
            return
        call_id, target, kwargs = message
        emit = _Emitter(conn, call_id)

        try:
            function = functions.get(target)
            if function is None:
                loaded = load_object(target)
                if not callable(loaded):
                    raise TypeError(f"{target} is not callable")
                function = functions[target] = loaded
            reply: tuple[Any, ...] = ("done", call_id, True, function(**kwargs, emit=emit))
        except BaseException as exc:
            reply = ("done", call_id, False, _describe(exc, memory_limit_mb))
        finally:
            with contextlib.suppress(OSError):
                os.chdir(home)
        try:
            conn.send((*reply, _rss_bytes()))
        except (TypeError, AttributeError, ValueError) as exc:  # the value does not pickle
            conn.send(("done", call_id, False, f"the result cannot be sent back ({exc})",
                       _rss_bytes()))


@dataclass
class Worker:
    """The parent's handle on one worker process."""

    process: Any
    conn: Connection
    call_id: str | None = None
    """The call it runs now; None while idle."""
    deadline: float | None = None
    """``time.monotonic()`` by which the call must end."""
    started: float = 0.0

    @property
    def pid(self) -> int | None:
        return self.process.pid  # type: ignore[no-any-return]

    def send(self, call_id: str, target: str, kwargs: dict[str, Any],
             time_limit_s: float | None) -> None:
        self.call_id = call_id
        self.started = time.monotonic()
        self.deadline = None if time_limit_s is None else self.started + time_limit_s
        self.conn.send((call_id, target, kwargs))

    def idle(self) -> None:
        self.call_id = None
        self.deadline = None

    def kill(self) -> None:
        """End the process at once (SIGKILL) and reap it."""
        with contextlib.suppress(Exception):
            self.process.kill()
        self.process.join(5)
        with contextlib.suppress(OSError):
            self.conn.close()

    def retire(self) -> None:
        """Ask an idle worker to end, and reap it (killed after a moment)."""
        with contextlib.suppress(OSError, ValueError):
            self.conn.send(None)
        self.process.join(2)
        if self.process.is_alive():
            self.kill()
        with contextlib.suppress(OSError):
            self.conn.close()

    def exit_text(self) -> str:
        """How the process ended, for a message (``exit code 3``, ``signal SIGSEGV``)."""
        deadline = time.monotonic() + EXIT_WAIT_S
        self.process.join(EXIT_WAIT_S)
        # Starting a process reaps the finished children (multiprocessing's _cleanup): when
        # the replacement worker starts at this moment, that reaping may take the exit
        # status from under our join, which then returns early; the status arrives on the
        # process object a moment later.
        while self.process.exitcode is None and time.monotonic() < deadline:
            time.sleep(0.01)
        code = self.process.exitcode
        if code is None:
            return "it stopped answering"
        if code < 0:
            try:
                return f"signal {signal.Signals(-code).name}"
            except ValueError:
                return f"signal {-code}"
        return f"exit code {code}"


def spawn(preload: Sequence[str], memory_limit_mb: int | None) -> Worker:
    """A new worker process (it imports ``preload`` before its first call)."""
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe(duplex=True)
    process = ctx.Process(target=worker_main,
                          args=(child, list(preload), memory_limit_mb, os.getpid()),
                          daemon=True, name="gistasks-gp-worker")
    process.start()
    child.close()
    return Worker(process, parent)


def wait(workers: Sequence[Worker], extra: Sequence[Any], timeout: float | None) -> list[Any]:
    """The connections (of ``workers``, or among ``extra``) ready to read, or whose process
    ended, within ``timeout`` seconds."""
    objects: list[Any] = [w.conn for w in workers] + list(extra)
    return list(wait_for(objects, timeout))
