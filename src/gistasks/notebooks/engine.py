"""The notebook engine: one run of a notebook in a fresh kernel, with bounds, a time limit,
cancellation, a pool of pre-started kernels and a cap on concurrent runs.

:meth:`NotebookEngine.run` blocks its thread until the run has ended and its kernel is dead;
many threads may run at once (each run has an event loop of its own). A run:

1. reads the notebook within the bounds and injects the parameters (bad input raises
   ValueError before any kernel is touched);
2. takes a slot: at most ``max_concurrent`` runs execute at once (``acquire`` waits with a
   timeout, ``try_acquire`` does not wait; the caller picks, or passes ``wait_s`` to ``run``);
3. takes a pre-started kernel from the pool, or starts one (``pool_size=0``: always); a
   pre-started kernel that fails to answer is replaced by a fresh one, once;
4. runs the hidden setup (``os.chdir(cwd)``, ``os.environ.update(env)``) and then every cell
   in order, under the run's deadline and the caller's cancellation;
5. kills the kernel and its process group: on success, error, time-out, cancel or shutdown
   alike. No kernel outlives its run.

The time limit covers steps 3-5 (waiting for a slot does not count). A cell still running at
the deadline is stopped by killing the kernel; the result names it, and the cell's saved
output ends with a note of why it stopped.

Security: a kernel runs arbitrary code as this server's OS user. It sees only the
environment variables named in ``EngineConfig.inherit_env`` plus those of its run, but it can
read whatever files that user can; untrusted authors need an OS-level sandbox around the
server (a separate user, a container).
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import functools
import logging
import os
import shutil
import signal
import tempfile
import threading
import time
import weakref
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import zmq
import zmq.asyncio
from nbclient.exceptions import CellExecutionError, DeadKernelError
from nbformat import NotebookNode

from gistasks.notebooks import _nbf
from gistasks.notebooks.client import (
    BoundedNotebookClient,
    KernelClient,
    KernelGoneError,
    SetupError,
    apply_setup,
    connect,
    setup_code,
)
from gistasks.notebooks.documents import (
    DEFAULT_LIMITS,
    Limits,
    NotebookError,
    NotebookSource,
    read_notebook,
)
from gistasks.notebooks.kernels import (
    Kernel,
    KernelCommand,
    KernelLauncher,
    KernelPool,
    KernelStartError,
    default_env,
)
from gistasks.notebooks.parameters import inject_parameters, parse_parameters
from gistasks.notebooks.results import (
    CellError,
    CellRef,
    NotebookResult,
    Outcome,
    first_line,
    summarize_traceback,
)

log = logging.getLogger(__name__)

SUPERVISE_S = 0.025
"""How often a run looks at its cancellation, its deadline and its kernel's life."""

INHERITED_ENV = ("PATH", "HOME", "USER", "LOGNAME", "LANG", "LANGUAGE", "LC_*", "TZ",
                 "TMPDIR", "SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE",
                 "CURL_CA_BUNDLE", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy",
                 "https_proxy", "no_proxy", "SYSTEMROOT")
"""What a kernel gets of the server's environment by default: where programs and the home
are, the locale, the time zone, certificates and proxies; never the server's own settings
(``GISTASKS_*``, database URLs, keys)."""


RUNTIME_PREFIX = "gistasks-nb-"
OWNER_FILE = "owner.pid"


def remove_abandoned_runtime_dirs(parent: Path | None = None) -> list[Path]:
    """Remove the temporary runtime directories of engines whose process is gone (a server
    killed without its shutdown leaves one: connection files, sockets, profiles); the ones
    removed. Only this user's directories that name their owner's pid are looked at."""
    removed = []
    for path in Path(parent or tempfile.gettempdir()).glob(RUNTIME_PREFIX + "*"):
        try:
            if path.is_symlink() or path.stat().st_uid != os.getuid():
                continue
            pid = int((path / OWNER_FILE).read_text().strip())
        except (OSError, ValueError):
            continue
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
        except PermissionError:  # alive, someone else's
            pass
    return removed


class NoSlotError(RuntimeError):
    """No run slot became free within the wait (every allowed kernel is executing)."""


class EngineClosedError(RuntimeError):
    """The engine has been shut down."""


@dataclass(frozen=True, slots=True)
class EngineConfig:
    """How the engine runs notebooks; every value is checked when the engine is made."""

    pool_size: int = 2
    """Kernels started ahead of their runs (0: every run starts its own kernel)."""
    max_concurrent: int = 4
    """Runs executing at once on this node (the cap ``acquire`` and ``try_acquire`` keep)."""
    python: str | None = None
    """The interpreter that runs kernels (it needs ipykernel); None: this process's own."""
    kernel_args: tuple[str, ...] = ()
    """Extra ipykernel options, appended to its command line."""
    startup_timeout_s: float = 60.0
    """How long a kernel may take to answer its first request (within the run's limit)."""
    limits: Limits = DEFAULT_LIMITS
    inherit_env: tuple[str, ...] = INHERITED_ENV
    """Names of this process's environment variables every kernel gets (``LC_*``: prefix)."""
    extra_env: Mapping[str, str] = field(default_factory=dict)
    """Variables every kernel gets in addition (a run's own ``env`` overrides them)."""
    runtime_dir: Path | None = None
    """Where connection files and sockets go (made private, 0700); None: a fresh temporary
    directory, removed at shutdown (or by the next engine made, should this process die
    without one)."""
    transport: str = "auto"
    """``ipc`` (Unix sockets), ``tcp`` (127.0.0.1) or ``auto`` (ipc when the path fits)."""

    def __post_init__(self) -> None:
        for name in ("pool_size", "max_concurrent"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ValueError(f"EngineConfig.{name} must be an integer >= 0, not {value!r}")
        if self.max_concurrent < 1:
            raise ValueError("EngineConfig.max_concurrent must be at least 1")
        if not self.startup_timeout_s > 0:
            raise ValueError("EngineConfig.startup_timeout_s must be positive")
        if self.transport not in ("auto", "ipc", "tcp"):
            raise ValueError(f"EngineConfig.transport must be auto, ipc or tcp, "
                             f"not {self.transport!r}")
        _check_env(self.extra_env, "EngineConfig.extra_env")


class Slot:
    """The right to execute one run; ``release`` (or leaving its ``with``) gives it back.
    Releasing twice is harmless."""

    def __init__(self, slots: Slots) -> None:
        self._slots: Slots | None = slots

    def release(self) -> None:
        slots, self._slots = self._slots, None
        if slots is not None:
            slots._release()

    @property
    def held(self) -> bool:
        return self._slots is not None

    def __enter__(self) -> Slot:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


class Slots:
    """A counting semaphore of ``limit`` run slots (thread-safe)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._in_use = 0
        self._cond = threading.Condition()

    def acquire(self, timeout_s: float | None = None) -> Slot | None:
        """A slot, waiting up to ``timeout_s`` (None: as long as it takes); None if none
        became free in time."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        with self._cond:
            while self._in_use >= self.limit:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return None
                self._cond.wait(remaining)
            self._in_use += 1
            return Slot(self)

    def try_acquire(self) -> Slot | None:
        """A slot if one is free now, else None (never waits)."""
        return self.acquire(0)

    @property
    def in_use(self) -> int:
        with self._cond:
            return self._in_use

    def _release(self) -> None:
        with self._cond:
            self._in_use -= 1
            self._cond.notify()


@dataclass(frozen=True, slots=True)
class _Stop:
    """Why a run was stopped from outside its cells."""

    outcome: Outcome
    why: str


@dataclass(eq=False)
class _Run:
    """One run's state shared between its thread and ``shutdown``."""

    deadline: float
    time_limit_s: float
    cancel: threading.Event
    stop: threading.Event = field(default_factory=threading.Event)
    kernel: Kernel | None = None
    kc: KernelClient | None = None
    client: BoundedNotebookClient | None = None
    executing_cells: bool = False
    done: threading.Event = field(default_factory=threading.Event)


class NotebookEngine:
    """Runs notebooks, each in a fresh kernel (see the module). Thread-safe.

    Use as a context manager, or call ``start`` and ``shutdown``. A run without ``start``
    works too: it starts its own kernel (the pool is filled only after ``start``).
    """

    def __init__(self, config: EngineConfig | None = None) -> None:
        self.config = config = config or EngineConfig()
        self.limits = config.limits
        self._own_runtime = config.runtime_dir is None
        if config.runtime_dir is None:
            remove_abandoned_runtime_dirs()
            self.runtime_dir = Path(tempfile.mkdtemp(prefix=RUNTIME_PREFIX))
            (self.runtime_dir / OWNER_FILE).write_text(str(os.getpid()))
        else:
            self.runtime_dir = Path(config.runtime_dir).absolute()
            self.runtime_dir.mkdir(parents=True, exist_ok=True)
        self.runtime_dir.chmod(0o700)
        base_env = {
            **default_env(config.inherit_env),
            "PYDEVD_DISABLE_FILE_VALIDATION": "1",
            **config.extra_env,
        }
        command = KernelCommand(config.python or KernelCommand().python, config.kernel_args)
        self.launcher = KernelLauncher(command, self.runtime_dir, base_env, config.transport)
        self.pool = KernelPool(self.launcher, config.pool_size)
        self.slots = Slots(config.max_concurrent)
        self._context = zmq.asyncio.Context()
        self._context.setsockopt(zmq.LINGER, 0)
        self._context.setsockopt(zmq.MAXMSGSIZE, self.limits.max_message_bytes)
        self._runs: set[_Run] = set()
        self._lock = threading.Lock()
        self._closed = False
        self._atexit = functools.partial(_shutdown_at_exit, weakref.ref(self))
        atexit.register(self._atexit)

    # -- life ------------------------------------------------------------------------------

    def start(self) -> None:
        """Start filling the kernel pool (in the background; returns at once)."""
        self._check_open()
        self.pool.start()

    def shutdown(self, timeout_s: float = 10.0) -> None:
        """Stop every run (each ends ``CANCELLED``, its kernel killed), kill the idle kernels
        and remove the runtime directory. Waits up to ``timeout_s`` for the runs to end.
        Idempotent."""
        with self._lock:
            already = self._closed
            self._closed = True
            runs = list(self._runs)
        if not already:
            atexit.unregister(self._atexit)
        for run in runs:
            run.stop.set()
        deadline = time.monotonic() + timeout_s
        for run in runs:
            run.done.wait(max(0.0, deadline - time.monotonic()))
        for run in runs:  # what did not end in time: its kernel dies anyway
            if run.kernel is not None:
                run.kernel.kill()
        self.pool.shutdown(max(0.0, deadline - time.monotonic()))
        if already:
            return
        with self._lock:
            still_running = bool(self._runs)
        if not still_running:
            self._context.destroy(linger=0)
            if self._own_runtime:
                shutil.rmtree(self.runtime_dir, ignore_errors=True)

    def __enter__(self) -> NotebookEngine:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()

    @property
    def closed(self) -> bool:
        return self._closed

    # -- slots -----------------------------------------------------------------------------

    def acquire(self, timeout_s: float | None = None) -> Slot | None:
        """A run slot, waiting up to ``timeout_s`` (None: without end); None if none freed."""
        self._check_open()
        return self.slots.acquire(timeout_s)

    def try_acquire(self) -> Slot | None:
        """A run slot if one is free now, else None: the caller may skip the run."""
        self._check_open()
        return self.slots.try_acquire()

    @property
    def running(self) -> int:
        """How many runs are executing now."""
        with self._lock:
            return len(self._runs)

    # -- a run -----------------------------------------------------------------------------

    def run(self, notebook: NotebookSource, *, time_limit_s: float,
            parameters: Mapping[str, Any] | str | bytes | None = None,
            env: Mapping[str, str] | None = None, cwd: str | os.PathLike[str] | None = None,
            cancel: threading.Event | None = None, save_injected_parameters: bool = False,
            slot: Slot | None = None, wait_s: float | None = None) -> NotebookResult:
        """Run every cell of ``notebook`` in a fresh kernel; block until it ended and the
        kernel is dead.

        ``parameters``: ``notebookParameters`` in either form (:func:`parse_parameters`),
        injected as a cell (:func:`inject_parameters`). ``env``: variables the kernel sees
        in ``os.environ`` from the first cell on (with a pre-started kernel they are set
        after its start, so variables Python reads when it starts, such as ``PYTHONPATH``,
        have no effect). ``cwd``: the working directory of the cells, an existing directory
        (None: a fresh empty one, removed after the run). ``cancel``: set it from any
        thread to stop the run (``CANCELLED``). ``save_injected_parameters``: keep the
        injected cell in the returned notebook. ``slot``: a slot the caller already holds
        (from ``acquire``/``try_acquire``); the run releases it when it ends. Without one,
        the run waits ``wait_s`` for a slot (None: as long as it takes; 0: not at all) and
        raises NoSlotError if none came.

        Raises ValueError (NotebookError for the notebook itself) for bad input, NoSlotError,
        EngineClosedError; everything that happens once the kernel is involved is in the
        result's ``outcome`` (see :class:`Outcome`).
        """
        try:
            self._check_open()
            if not time_limit_s > 0:
                raise ValueError(f"time_limit_s must be positive, not {time_limit_s!r}")
            run_env = _check_env(env or {}, "env")
            run_cwd = _check_cwd(cwd)
            params = parse_parameters(parameters, self.limits.max_parameters_bytes)
            nb = read_notebook(notebook, self.limits)
            injected = inject_parameters(nb, params)
            if len(nb.cells) > self.limits.max_cells:
                raise NotebookError(
                    f"the notebook has more than {self.limits.max_cells} cells")
            if slot is None:
                slot = self.slots.acquire(wait_s)
                if slot is None:
                    raise NoSlotError(f"all {self.slots.limit} notebook kernels are busy")
            result, started = self._run_in_slot(nb, run_env, run_cwd, cancel,
                                                time_limit_s)
        finally:
            if slot is not None:
                slot.release()
        result.duration_s = time.monotonic() - started
        result.parameters = params
        return _finish(result, injected, save_injected_parameters)

    def _run_in_slot(self, nb: NotebookNode, env: dict[str, str], cwd: str | None,
                     cancel: threading.Event | None,
                     time_limit_s: float) -> tuple[NotebookResult, float]:
        """Execute ``nb`` (a slot is held); the result and when the run started."""
        started = time.monotonic()
        run = _Run(deadline=started + time_limit_s, time_limit_s=time_limit_s,
                   cancel=cancel or threading.Event())
        with self._lock:
            if self._closed:
                raise EngineClosedError("the notebook engine is shut down")
            self._runs.add(run)
        temp_cwd = None
        try:
            if cwd is None:
                cwd = temp_cwd = tempfile.mkdtemp(prefix="run-", dir=self.runtime_dir)
            result = asyncio.run(self._execute(run, nb, env, cwd))
        finally:
            if run.kernel is not None:
                run.kernel.kill()
            with self._lock:
                self._runs.discard(run)
            run.done.set()
            if temp_cwd is not None:
                shutil.rmtree(temp_cwd, ignore_errors=True)
        return result, started

    async def _execute(self, run: _Run, nb: NotebookNode, env: dict[str, str],
                       cwd: str) -> NotebookResult:
        task = asyncio.ensure_future(self._drive(run, nb, env, cwd))
        stopped: _Stop | None = None
        try:
            stopped = await self._supervise(run, task)
        finally:
            if stopped is not None or not task.done():
                if run.kernel is not None:
                    run.kernel.kill()
                task.cancel()
            with contextlib.suppress(BaseException):
                await task
            if run.kc is not None:
                run.kc.close()
        if stopped is not None:
            return self._stopped_result(run, nb, stopped)
        exc = task.exception()
        if exc is None:
            return NotebookResult(Outcome.SUCCEEDED, nb, "Notebook executed successfully.",
                                  kernel_pid=_pid(run), warm=_warm(run))
        return self._failed_result(run, nb, exc)

    async def _supervise(self, run: _Run, task: asyncio.Future[None]) -> _Stop | None:
        """Wait for ``task``; the reason to stop it first, if one came."""
        while True:
            remaining = run.deadline - time.monotonic()
            if remaining <= 0:
                return _Stop(Outcome.TIMED_OUT,
                             f"the run's time limit of {run.time_limit_s:g} s was reached")
            done, _ = await asyncio.wait({task}, timeout=min(SUPERVISE_S, remaining))
            if done:
                return None
            if run.cancel.is_set():
                return _Stop(Outcome.CANCELLED, "the run was cancelled")
            if run.stop.is_set():
                return _Stop(Outcome.CANCELLED, "the notebook engine shut down")
            kernel = run.kernel
            if run.executing_cells and kernel is not None and not kernel.alive():
                return _Stop(Outcome.KERNEL_DIED, "the kernel died")

    async def _drive(self, run: _Run, nb: NotebookNode, env: dict[str, str],
                     cwd: str) -> None:
        kc, info = await self._ready_kernel(run, env, cwd)
        run.kc = kc
        client = BoundedNotebookClient(nb, kc, self.limits)
        run.client = client
        await apply_setup(kc, setup_code(cwd, env))
        run.executing_cells = True
        await client.execute_cells(info.get("language_info"))

    async def _ready_kernel(self, run: _Run, env: dict[str, str],
                            cwd: str) -> tuple[KernelClient, dict[str, Any]]:
        """A connected, answering kernel: a pre-started one if the pool has one (and it
        answers), else a fresh one started with the run's env and cwd."""
        kernel = self.pool.take()
        if kernel is not None:
            run.kernel = kernel
            try:
                return await self._connect(run, kernel)
            except KernelGoneError:
                log.warning("pre-started kernel %s ended before it answered; starting another",
                            kernel.pid)
                kernel.kill()
        run.kernel = kernel = self.launcher.launch(env=env, cwd=cwd)
        return await self._connect(run, kernel)

    async def _connect(self, run: _Run, kernel: Kernel) -> tuple[KernelClient,
                                                                 dict[str, Any]]:
        try:
            return await asyncio.wait_for(connect(kernel, self._context),
                                          self.config.startup_timeout_s)
        except TimeoutError:
            raise KernelStartError(f"the kernel did not answer within "
                                   f"{self.config.startup_timeout_s:g} s") from None

    # -- results ---------------------------------------------------------------------------

    def _cell_ref(self, nb: NotebookNode, index: int | None) -> CellRef | None:
        if index is None or not 0 <= index < len(nb.cells):
            return None
        cell = nb.cells[index]
        count = cell.get("execution_count")
        return CellRef(index, count if isinstance(count, int) else None,
                       first_line(cell.get("source")))

    def _stopped_result(self, run: _Run, nb: NotebookNode, stopped: _Stop) -> NotebookResult:
        client = run.client
        index = client.current if client is not None else None
        if client is not None and index is not None and nb.cells[index].get(
                "cell_type") == "code" and nb.cells[index].get("execution_count") is None:
            # Stopped before its reply: it gets the count it was sent with, as it shows.
            nb.cells[index]["execution_count"] = client.code_cells_executed or None
        cell = self._cell_ref(nb, index)
        detail = ""
        if stopped.outcome is Outcome.KERNEL_DIED and run.kernel is not None:
            detail = _exit_text(run.kernel)
        if cell is not None:
            ename = {Outcome.TIMED_OUT: "TimeoutError",
                     Outcome.KERNEL_DIED: "DeadKernelError"}.get(stopped.outcome, "Cancelled")
            evalue = (f"{stopped.why}{detail}" if stopped.outcome is Outcome.KERNEL_DIED
                      else f"{stopped.why}; the kernel was stopped")
            nb.cells[cell.index].setdefault("outputs", []).append(_nbf.new_output(
                "error", ename=ename, evalue=evalue, traceback=[]))
            message = f"{_capital(stopped.why)} in {cell.describe()}{detail}."
        elif run.executing_cells:
            message = f"{_capital(stopped.why)}{detail}."
        else:
            message = f"{_capital(stopped.why)} before the first cell ran."
        return NotebookResult(stopped.outcome, nb, message, cell=cell, kernel_pid=_pid(run),
                              warm=_warm(run))

    def _failed_result(self, run: _Run, nb: NotebookNode, exc: BaseException) -> NotebookResult:
        client = run.client
        index = client.current if client is not None else None
        cell = self._cell_ref(nb, index)
        if isinstance(exc, CellExecutionError) and client is not None:
            reply = client.errors[-1] if client.errors else {}
            error = CellError(
                str(reply.get("ename", exc.ename)), str(reply.get("evalue", exc.evalue)),
                summarize_traceback(reply.get("traceback") or [], self.limits.max_traceback_chars))
            where = cell.describe() if cell is not None else "a cell"
            text = f"{error.ename}: {error.evalue}" if error.evalue else error.ename
            return NotebookResult(Outcome.FAILED, nb, f"{_capital(where)} failed: "
                                  f"{_one_line(text)}", cell=cell, error=error,
                                  kernel_pid=_pid(run), warm=_warm(run))
        if isinstance(exc, SetupError):
            return NotebookResult(Outcome.FAILED, nb, "The run's working directory or "
                                  f"environment could not be applied: {_one_line(str(exc))}",
                                  kernel_pid=_pid(run), warm=_warm(run))
        if isinstance(exc, DeadKernelError | KernelGoneError | KernelStartError):
            kernel = run.kernel
            detail = _exit_text(kernel) if kernel is not None else ""
            if isinstance(exc, KernelStartError) or not run.executing_cells:
                tail = kernel.stderr_tail().strip().splitlines() if kernel is not None else []
                last = f": {_one_line(tail[-1])}" if tail else ""
                text = f"The kernel did not start ({exc}{detail}){last}."
                if isinstance(exc, KernelGoneError):
                    text = f"The kernel ended before it was ready{detail}{last}."
                return NotebookResult(Outcome.KERNEL_DIED, nb, text, kernel_pid=_pid(run),
                                      warm=_warm(run))
            where = f" in {cell.describe()}" if cell is not None else ""
            return NotebookResult(Outcome.KERNEL_DIED, nb, f"The kernel died{where}{detail}.",
                                  cell=cell, kernel_pid=_pid(run), warm=_warm(run))
        raise exc

    def _check_open(self) -> None:
        if self._closed:
            raise EngineClosedError("the notebook engine is shut down")


def _finish(result: NotebookResult, injected: int | None, keep: bool) -> NotebookResult:
    """Mark the injected cell in the result's cell, and drop it from the notebook unless
    it is to be kept."""
    if injected is None:
        return result
    cell = result.cell
    if cell is not None and cell.index == injected:
        result.cell = CellRef(cell.index, cell.execution_count, cell.first_line, injected=True)
    if not keep:
        del result.notebook.cells[injected]
        if cell is not None and cell.index > injected:
            result.cell = CellRef(cell.index - 1, cell.execution_count, cell.first_line)
    return result


def _check_env(env: Mapping[str, str], what: str) -> dict[str, str]:
    checked: dict[str, str] = {}
    for key, value in env.items():
        if (not isinstance(key, str) or not key or "=" in key or "\0" in key
                or not isinstance(value, str) or "\0" in value):
            raise ValueError(f"{what}: {key!r} is not a usable environment variable"[:200])
        checked[key] = value
    return checked


def _check_cwd(cwd: str | os.PathLike[str] | None) -> str | None:
    if cwd is None:
        return None
    path = Path(cwd).absolute()
    if not path.is_dir():
        raise ValueError(f"cwd {str(path)!r} is not a directory")
    return str(path)


def _exit_text(kernel: Kernel) -> str:
    kernel.kill()  # reaps it: its status is known from here on
    code = kernel.returncode
    if code is None:
        return ""
    if code < 0:
        with contextlib.suppress(ValueError):
            return f" (ended by {signal.Signals(-code).name})"
        return f" (ended by signal {-code})"
    return f" (exit status {code})"


def _pid(run: _Run) -> int | None:
    return run.kernel.pid if run.kernel is not None else None


def _warm(run: _Run) -> bool:
    return run.kernel.warm if run.kernel is not None else False


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


def _one_line(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _shutdown_at_exit(ref: weakref.ReferenceType[NotebookEngine]) -> None:
    engine = ref()
    if engine is not None:
        engine.shutdown(timeout_s=2.0)
