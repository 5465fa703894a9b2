"""The job runner in a process of its own, beside the server's.

The server's process answers HTTP on one event loop; the runner claims jobs, hands them to
worker processes, reads their events and records how they ended. In one process both share
one interpreter lock, and the runner's bookkeeping (a few database transactions and a few
messages per job) delays every answer. :class:`JobHost` runs the :class:`JobRunner` in a
``spawn``-ed child (the *job host*) over the same store, and keeps the runner's interface for
the services:

* ``wake`` and ``cancel`` are messages on a pipe (the host wakes its runner at once);
* ``wait`` reads the store, woken by the host's ``("ended", job ids)`` messages;
* ``folder`` and ``remove_folder`` are paths under the data directory, as in the runner.

The queue is the store's, as between cluster nodes: a job submitted while the host starts or
restarts is claimed when it is up. The host dies with the server (``PR_SET_PDEATHSIG``), and
its workers with it; it ignores SIGINT and SIGTERM (a Ctrl-C reaches the whole process group)
and stops when the server tells it to, or when its pipe closes, letting running jobs end
within the grace period. A host that dies while the server runs (the kernel's OOM killer) is
replaced at once; the new one ends the jobs the old one was running, as after a restart.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import multiprocessing
import os
import signal
import threading
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from gistasks.config import configure_logging
from gistasks.engine.jobs import JobRunner, JobSettings, NodeJobs
from gistasks.engine.pool import die_with_parent
from gistasks.gp import Catalog
from gistasks.store import Store

log = logging.getLogger("gistasks.gp")

HOST_NICENESS = 10
"""The host and its workers yield the processor to the server's process when both want it:
under load, a client's requests are answered first and jobs wait, rather than the reverse."""
START_TIMEOUT_S = 120.0
"""How long the host may take to start (import, recover the jobs of the last run)."""
STOP_MARGIN_S = 15.0
"""How long past the grace period the host may take to stop before it is killed."""
RESTART_PAUSE_S = 1.0
MAX_RESTART_PAUSE_S = 60.0
"""The pause before trying again to start a host that failed to start, doubling up to this."""


def host_main(conn: Connection, database_url: str, data_dir: str, node: str,
              settings: JobSettings, parent: int) -> None:
    """The job host's loop (the target of ``multiprocessing``): start a runner over the
    store at ``database_url`` with the services of ``data_dir``, say ``("ready",)``, then
    obey ``("wake",)``, ``("cancel", job id)`` and ``("stop", grace seconds)``."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    die_with_parent()
    if os.getppid() != parent:
        return  # the server died while this process started
    with contextlib.suppress(OSError):
        os.nice(HOST_NICENESS)  # its workers inherit it
    configure_logging()
    sending = threading.Lock()

    def send(message: tuple[Any, ...]) -> None:
        with sending, contextlib.suppress(OSError, ValueError):
            conn.send(message)

    store = Store(database_url)
    runner = JobRunner(store, Catalog.default(Path(data_dir)), Path(data_dir), node, settings,
                       on_ended=lambda ids: send(("ended", ids)))
    try:
        runner.start()
    except Exception as exc:
        log.exception("the GP job host could not start")
        send(("failed", f"{type(exc).__name__}: {exc}"))
        return
    gc.collect()
    gc.freeze()  # what start-up made lives for ever: full collections need not walk it
    send(("ready",))
    grace = settings.shutdown_grace_s
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            break  # the server is gone: stop as if told to
        if message[0] == "wake":
            runner.wake()
        elif message[0] == "cancel":
            runner.cancel(str(message[1]))
        elif message[0] == "stop":
            grace = float(message[1])
            break
    runner.stop(grace)
    send(("stopped",))
    store.close()


def _kill(process: Any) -> None:
    with contextlib.suppress(Exception):
        process.kill()
        process.join(5)


class JobHost(NodeJobs):
    """The server's handle on its job host: the interface of :class:`JobRunner` that the
    services use, with the runner in another process."""

    def __init__(self, store: Store, database_url: str, catalog: Catalog, data_dir: Path,
                 node: str, settings: JobSettings | None = None) -> None:
        """``catalog`` is the server's copy of the services (the host loads its own from
        ``data_dir``, the same way); ``store`` is the server's, read by ``wait``."""
        super().__init__(store, data_dir / "jobs")
        self.database_url = database_url
        self.catalog = catalog
        self.data_dir = data_dir
        self.node = node
        self.settings = settings or JobSettings()
        self._process: Any = None
        self._conn: Connection | None = None
        self._sending = threading.Lock()
        self._supervisor: threading.Thread | None = None
        self._stopping = threading.Event()
        self.restarts = 0
        """How many times a host that died was replaced."""

    # -- life cycle -----------------------------------------------------------------------------

    def start(self) -> None:
        """Start the host and wait until its runner is up (the jobs the last run left
        running are ended by then). RuntimeError if it cannot start."""
        self.jobs_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._stopping.clear()
        self._launch()
        # Linux kills a child when the *thread* that started it ends (PR_SET_PDEATHSIG): the
        # first host belongs to the caller's thread (the server's main thread in serve), the
        # ones that replace it to the supervisor, which outlives each of them.
        self._supervisor = threading.Thread(target=self._supervise,
                                            name="gistasks-gp-host-supervisor", daemon=True)
        self._supervisor.start()

    def _launch(self) -> None:
        ctx = multiprocessing.get_context("spawn")
        mine, theirs = ctx.Pipe(duplex=True)
        # Not a daemon: a daemonic process may not start the worker processes.
        process = ctx.Process(
            target=host_main, name="gistasks-gp-host",
            args=(theirs, self.database_url, str(self.data_dir), self.node, self.settings,
                  os.getpid()))
        process.start()
        theirs.close()
        deadline = time.monotonic() + START_TIMEOUT_S
        first: tuple[Any, ...] = ("ended",)
        while first[0] == "ended":  # the jobs it recovered as it started
            while not mine.poll(min(0.5, max(0.0, deadline - time.monotonic()))):
                if self._stopping.is_set() or time.monotonic() >= deadline:
                    _kill(process)
                    raise RuntimeError("the GP job host did not start in time"
                                       if not self._stopping.is_set() else
                                       "the server stopped while the GP job host started")
            try:
                first = mine.recv()
            except (EOFError, OSError):
                _kill(process)
                raise RuntimeError("the GP job host ended as it started") from None
            if first[0] == "ended":
                self.ended()
        if first[0] != "ready":
            _kill(process)
            raise RuntimeError(f"the GP job host could not start: {first[1]}")
        with self._sending:
            if self._stopping.is_set():  # stop() has begun: it will not see this one
                _kill(process)
                raise RuntimeError("the server stopped while the GP job host started")
            self._process, self._conn = process, mine

    def stop(self, grace_s: float | None = None) -> None:
        """Tell the host to stop (running jobs may end within the grace period; the rest
        fail, queued ones stay queued) and wait for it; killed if it takes too long."""
        with self._sending:
            self._stopping.set()  # from here on no host is launched (see _launch)
            process, conn = self._process, self._conn
        if process is None:
            return
        grace = self.settings.shutdown_grace_s if grace_s is None else grace_s
        self._send(("stop", grace))
        process.join(grace + STOP_MARGIN_S)
        if process.is_alive():
            log.warning("the GP job host did not stop in time: killed")
            _kill(process)
        if conn is not None:
            with contextlib.suppress(OSError):
                conn.close()
        if self._supervisor is not None:
            self._supervisor.join(10)
        self._process = None

    def _supervise(self) -> None:
        """Read what the host says; start a new host if it dies (killed by the kernel's OOM
        killer, say) while the server runs. The jobs it was running are ended by the new
        host's recovery, as after a restart."""
        while True:
            conn = self._conn
            assert conn is not None
            while True:
                try:
                    message = conn.recv()
                except (EOFError, OSError):
                    break
                if message[0] in ("ended", "stopped"):
                    self.ended()
            self.ended()
            if self._stopping.is_set():
                return
            code = None
            if self._process is not None:
                self._process.join(1)
                code = self._process.exitcode
            log.warning("the GP job host ended (exit code %s): starting another", code)
            pause = RESTART_PAUSE_S
            while not self._stopping.is_set():
                try:
                    self._launch()
                    self.restarts += 1
                    break
                except Exception:
                    if self._stopping.is_set():
                        return
                    log.exception("starting the GP job host again failed; retrying in "
                                  "%.0f s", pause)
                    self._stopping.wait(pause)
                    pause = min(pause * 2, MAX_RESTART_PAUSE_S)
            if self._stopping.is_set():
                return

    def _send(self, message: tuple[Any, ...]) -> None:
        if self._conn is None:
            return
        with self._sending, contextlib.suppress(OSError, ValueError):
            self._conn.send(message)

    # -- what the services call -----------------------------------------------------------------

    def wake(self) -> None:
        """A job was queued here: the host looks now, not at its next poll."""
        self._send(("wake",))

    def cancel(self, job_id: str) -> None:
        """A job the host may be running was asked to stop: it stops it now."""
        self._send(("cancel", job_id))


