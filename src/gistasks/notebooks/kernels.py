"""Kernel processes: starting one, killing it for sure, and a pool of pre-started ones.

A kernel is ``<python> -m ipykernel_launcher -f <connection file>`` started directly (no
kernelspec is looked up: :class:`KernelCommand` is the whole command), in a session of its
own (``start_new_session``: its process group is its pid, so :meth:`Kernel.kill` reaches the
processes its cells started too) and with ``JPY_PARENT_PID`` set, so that ipykernel ends
itself should this process die without killing it. Each kernel serves one run and is then
killed (SIGKILL to the group, the process reaped, its connection and socket files and its
IPython profile directory removed: nothing of one run reaches the next).

The kernel listens on Unix sockets in a private directory (``ipc`` transport) where the path
fits, TCP on 127.0.0.1 otherwise; the messages are signed with a fresh key either way.

:class:`KernelPool` keeps a few kernels started ahead of need. ``take`` hands out the oldest
live one (a kernel that died while idle is discarded, never handed out) and wakes the filler
thread, which starts the replacement; kernels that keep dying right after their start are
retried with a growing pause instead of in a loop.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jupyter_client.connect import write_connection_file

log = logging.getLogger(__name__)

STDERR_TAIL_BYTES = 4096
"""How much of a kernel's own stderr is kept to explain its death."""
KILL_WAIT_S = 5.0
"""How long a killed kernel is waited for before it is given up on (it cannot refuse
SIGKILL; only an uninterruptible sleep in the OS delays it)."""
MAX_IPC_PATH = 90
"""Unix socket paths longer than this (the OS limit is about 107 bytes) use TCP instead."""


@dataclass(frozen=True, slots=True)
class KernelCommand:
    """How a kernel is started: the interpreter (it must have ipykernel) and its arguments.

    ``python`` defaults to this process's interpreter; point it at another environment's
    ``bin/python`` to run notebooks there. ``args`` are appended to ipykernel's command line
    (``--IPKernelApp.…`` options).
    """

    python: str = sys.executable
    args: tuple[str, ...] = ()

    def argv(self, connection_file: str) -> list[str]:
        """The command line for a kernel that reads ``connection_file``."""
        return [self.python, "-m", "ipykernel_launcher", "-f", connection_file,
                # No history database per kernel: nothing to write, nothing to lock.
                "--HistoryManager.hist_file=:memory:", *self.args]


class KernelStartError(RuntimeError):
    """A kernel process could not be started, or ended before it was ready."""


class Kernel:
    """One kernel process. ``connection_info`` is what a client connects with.

    Thread-safe: ``kill`` may be called from any thread, any number of times.
    """

    def __init__(self, process: subprocess.Popen[bytes], connection_file: Path,
                 connection_info: dict[str, Any], warm: bool,
                 private_dir: Path | None = None) -> None:
        self.process = process
        self.private_dir = private_dir
        """A directory of the kernel's own (its IPython profile), removed by ``kill``."""
        self.pid = process.pid
        self.connection_file = connection_file
        self.connection_info = connection_info
        self.started_at = time.monotonic()
        self.warm = warm
        """Whether it was started ahead of its run (by the pool)."""
        self._stderr_tail = bytearray()
        self._lock = threading.Lock()
        self._killed = False
        self._drain: threading.Thread | None = None
        if process.stderr is not None:
            self._drain = threading.Thread(target=self._read_stderr, daemon=True,
                                           name=f"gistasks-kernel-{self.pid}-stderr")
            self._drain.start()

    def alive(self) -> bool:
        """Whether the process is still running. A dead one is left unreaped (a zombie keeps
        its pid, so ``kill`` can never signal a stranger's process group that reused it)."""
        if self.process.returncode is not None:
            return False
        try:
            info = os.waitid(os.P_PID, self.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:  # reaped elsewhere
            return False
        return info is None

    @property
    def returncode(self) -> int | None:
        """The exit status once it was killed and reaped (negative: the signal that ended
        it); None before ``kill``."""
        return self.process.returncode

    def stderr_tail(self) -> str:
        """The last few KB the process wrote to its own stderr (not the notebook's)."""
        with self._lock:
            return self._stderr_tail.decode("utf-8", "replace")

    def signal(self, signum: int) -> None:
        """Send ``signum`` to the kernel's process group (e.g. SIGINT to interrupt); nothing
        once it was killed."""
        with self._lock:
            if not self._killed:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(self.pid, signum)

    def kill(self) -> None:
        """End the kernel and everything in its process group now, reap it and remove its
        files. Idempotent; never raises for a process that is already gone."""
        with self._lock:  # signalled before anyone can reap it (its pid stays ours)
            first = not self._killed
            self._killed = True
            if first:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(self.pid, signal.SIGKILL)
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(self.pid, signal.SIGKILL)  # in case it left its own group
        try:
            self.process.wait(KILL_WAIT_S)
        except subprocess.TimeoutExpired:
            log.warning("kernel %s did not end %s s after SIGKILL", self.pid, KILL_WAIT_S)
        if first:
            self._remove_files()

    def _remove_files(self) -> None:
        paths = [self.connection_file]
        if self.connection_info.get("transport") == "ipc":
            ip = self.connection_info["ip"]
            paths += [Path(f"{ip}-{self.connection_info[k]}") for k in _PORT_KEYS]
        for path in paths:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
        if self.private_dir is not None:
            shutil.rmtree(self.private_dir, ignore_errors=True)

    def _read_stderr(self) -> None:
        stream = self.process.stderr
        assert stream is not None
        with contextlib.suppress(OSError, ValueError):
            while chunk := os.read(stream.fileno(), 65536):
                with self._lock:
                    self._stderr_tail += chunk
                    del self._stderr_tail[:-STDERR_TAIL_BYTES]
        with contextlib.suppress(OSError):
            stream.close()

    def __repr__(self) -> str:
        return f"<Kernel pid={self.pid} warm={self.warm} alive={self.alive()}>"


_PORT_KEYS = ("shell_port", "iopub_port", "stdin_port", "control_port", "hb_port")


class KernelLauncher:
    """Starts kernel processes with one command, in one private runtime directory.

    ``base_env`` is the environment every kernel starts with (the caller decides what of the
    server's own environment a notebook may see); ``launch`` adds a run's variables to it.
    """

    def __init__(self, command: KernelCommand, runtime_dir: Path,
                 base_env: Mapping[str, str], transport: str = "auto") -> None:
        if transport not in ("auto", "ipc", "tcp"):
            raise ValueError(f"transport must be auto, ipc or tcp, not {transport!r}")
        self.command = command
        self.runtime_dir = runtime_dir
        self.base_env = dict(base_env)
        probe = str(runtime_dir / f"k-{uuid.uuid4().hex[:12]}-00000")
        ipc_fits = os.name == "posix" and len(probe) <= MAX_IPC_PATH
        self.transport = ("ipc" if ipc_fits else "tcp") if transport == "auto" else transport

    def launch(self, env: Mapping[str, str] | None = None, cwd: str | Path | None = None,
               warm: bool = False) -> Kernel:
        """Start a kernel process (it is not ready yet: clients wait for its answer).

        ``env`` is added to the base environment; ``cwd`` defaults to the runtime directory
        (an empty, private place). Raises KernelStartError when the process cannot start."""
        kernel_id = uuid.uuid4().hex[:12]
        connection_file = self.runtime_dir / f"k-{kernel_id}.json"
        ip = str(self.runtime_dir / f"k-{kernel_id}") if self.transport == "ipc" else "127.0.0.1"
        _, info = write_connection_file(
            str(connection_file), ip=ip, key=secrets.token_hex(32).encode("ascii"),
            transport=self.transport, signature_scheme="hmac-sha256", kernel_name="gistasks")
        # IPython's profile directory is the kernel's own, made anew and removed with it:
        # neither the server user's startup files nor what an earlier run left there run.
        ipython_dir = self.runtime_dir / f"k-{kernel_id}.ipython"
        ipython_dir.mkdir(mode=0o700)
        full_env = {**self.base_env, "IPYTHONDIR": str(ipython_dir), **(env or {}),
                    "JPY_PARENT_PID": str(os.getpid())}
        try:
            process = subprocess.Popen(
                self.command.argv(str(connection_file)), env=full_env,
                cwd=str(cwd) if cwd is not None else str(self.runtime_dir),
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                start_new_session=True, close_fds=True)
        except OSError as exc:
            with contextlib.suppress(FileNotFoundError):
                connection_file.unlink()
            shutil.rmtree(ipython_dir, ignore_errors=True)
            raise KernelStartError(
                f"the kernel could not be started with {self.command.python}: {exc}") from exc
        return Kernel(process, connection_file, dict(info), warm, ipython_dir)


class KernelPool:
    """Up to ``size`` kernels started ahead of their runs; each is handed out once.

    Thread-safe. ``start`` launches the filler thread; ``take`` never blocks (None when no live
    kernel is idle: the caller starts one itself); ``shutdown`` stops the filler and kills
    every idle kernel. A pool of size 0 holds nothing and starts no thread.
    """

    RETRY_MIN_S = 0.5
    RETRY_MAX_S = 60.0
    YOUNG_DEATH_S = 10.0
    """An idle kernel that dies this soon after its start counts as a failed start."""
    CHECK_S = 1.0
    """How often the filler looks for idle kernels that died."""

    def __init__(self, launcher: KernelLauncher, size: int) -> None:
        if size < 0:
            raise ValueError(f"a pool size is 0 or more, not {size}")
        self.launcher = launcher
        self.size = size
        self._idle: deque[Kernel] = deque()
        self._cond = threading.Condition()
        self._closed = False
        self._failures = 0
        self._retry_at = 0.0
        self._thread: threading.Thread | None = None
        self.started = 0
        """How many kernels the pool has launched (for tests and statistics)."""
        self.discarded = 0
        """How many idle kernels were found dead and discarded."""

    def start(self) -> None:
        """Start filling the pool in the background (once; no-op for size 0)."""
        with self._cond:
            if self._closed:
                raise RuntimeError("the kernel pool is shut down")
            if self.size == 0 or self._thread is not None:
                return
            self._thread = threading.Thread(target=self._fill, daemon=True,
                                            name="gistasks-kernel-pool")
            self._thread.start()

    def take(self) -> Kernel | None:
        """The oldest idle kernel that is alive, removed from the pool, or None. Dead ones
        met on the way are discarded. A replacement is started in the background."""
        dead: list[Kernel] = []
        kernel = None
        with self._cond:
            while self._idle:
                candidate = self._idle.popleft()
                if candidate.alive():
                    kernel = candidate
                    break
                dead.append(candidate)
            self._cond.notify_all()
        for k in dead:
            self._discard(k)
        return kernel

    @property
    def idle(self) -> int:
        """How many kernels wait in the pool now (alive or not yet checked)."""
        with self._cond:
            return len(self._idle)

    def idle_pids(self) -> list[int]:
        """The process ids of the idle kernels, oldest first."""
        with self._cond:
            return [k.pid for k in self._idle]

    def idle_ages(self) -> list[float]:
        """How long ago each idle kernel was started (seconds), oldest first: a kernel needs
        about half a second on an idle machine before it answers."""
        now = time.monotonic()
        with self._cond:
            return [now - k.started_at for k in self._idle]

    def shutdown(self, timeout_s: float = 10.0) -> None:
        """Stop starting kernels and kill the idle ones. Idempotent."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
            thread = self._thread
        if thread is not None:
            thread.join(timeout_s)
        with self._cond:
            idle = list(self._idle)
            self._idle.clear()
        for k in idle:
            k.kill()

    def _discard(self, kernel: Kernel) -> None:
        young = time.monotonic() - kernel.started_at < self.YOUNG_DEATH_S
        log.warning("an idle kernel (pid %s) died (status %s)%s", kernel.pid,
                    kernel.returncode, f": {kernel.stderr_tail()[-500:]}" if young else "")
        kernel.kill()
        with self._cond:
            self.discarded += 1
            if young:
                self._failures += 1
                pause = min(self.RETRY_MAX_S, self.RETRY_MIN_S * 2 ** (self._failures - 1))
                self._retry_at = time.monotonic() + pause

    def _fill(self) -> None:
        while True:
            with self._cond:
                if self._closed:
                    return
                dead = [k for k in self._idle if not k.alive()]
                for k in dead:
                    self._idle.remove(k)
            for k in dead:
                self._discard(k)
            with self._cond:
                if self._closed:
                    return
                now = time.monotonic()
                missing = self.size - len(self._idle)
                if missing <= 0 or now < self._retry_at:
                    wait = self.CHECK_S if missing <= 0 else min(self.CHECK_S,
                                                                 self._retry_at - now)
                    self._cond.wait(wait)
                    continue
                # An idle kernel that survives its youth proves the command works again.
                if any(now - k.started_at > self.YOUNG_DEATH_S for k in self._idle):
                    self._failures = 0
            fresh: list[Kernel] = []
            try:
                for _ in range(missing):
                    fresh.append(self.launcher.launch(warm=True))
            except KernelStartError as exc:
                log.warning("the kernel pool could not start a kernel: %s", exc)
                with self._cond:
                    self._failures += 1
                    pause = min(self.RETRY_MAX_S, self.RETRY_MIN_S * 2 ** (self._failures - 1))
                    self._retry_at = time.monotonic() + pause
            with self._cond:
                self.started += len(fresh)
                if not self._closed:
                    self._idle.extend(fresh)
                    continue
            for k in fresh:  # shut down while they were being started
                k.kill()
            return


def default_env(names: Sequence[str], source: Mapping[str, str] | None = None) -> dict[str, str]:
    """The variables of ``source`` (default: this process's environment) named in ``names``
    (a trailing ``*`` matches a prefix, e.g. ``LC_*``)."""
    source = os.environ if source is None else source
    exact = {n for n in names if not n.endswith("*")}
    prefixes = tuple(n[:-1] for n in names if n.endswith("*"))
    return {k: v for k, v in source.items() if k in exact or (prefixes and k.startswith(prefixes))}
