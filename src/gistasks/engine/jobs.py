"""The geoprocessing jobs of one node: claim queued jobs, run each in a reusable worker
process, report its messages and progress while it runs, record how it ended.

One **manager** thread owns the workers: it claims as many jobs as it has idle workers
(within each service's concurrency limit, across nodes), hands each to a worker, reads the
workers' events, and stops a job by killing its worker: when its time limit passes
(``esriJobTimedOut``), when somebody cancels it (``esriJobCancelled``; a cancel made on
another node is seen within half a second), or when its process dies (``esriJobFailed``, the
exit code or signal in the message). A killed worker is replaced by a **spawner** thread; a
worker whose memory grew past its bound is retired after its job. A **writer** thread records
messages, progress and outcomes in batches, renews this node's leases, and ends the jobs of
nodes that died.

Jobs survive restarts: queued ones stay queued and run when a node starts; running ones of a
node that stopped end ``esriJobFailed`` with the reason (at once on a single-node SQLite
deployment, when their lease expires in a cluster).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import queue
import shutil
import socket
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any, Protocol

from gistasks.engine import pool
from gistasks.engine.pool import Worker
from gistasks.engine.settings import positive
from gistasks.gp import Catalog
from gistasks.gp.tool import MessageType
from gistasks.store import Store
from gistasks.store.jobs import message, messages_list
from gistasks.store.records import JobOutcome, JobRecord, JobStatus

log = logging.getLogger("gistasks.gp")

ENTRY = "gistasks.gp.execution:run_job"
PRELOAD = (ENTRY, "gistasks.gp.geometry:Buffer")
POLL_S = 0.5
"""How often the manager looks for jobs and cancellations made on other nodes."""
REPORT_S = 0.5
"""How often the messages and progress of running jobs are recorded."""
EVENTS_PER_READ = 256
"""Events read from one worker before the manager turns to the others."""
MAX_RESULTS_BYTES = 32 * 1024 * 1024
"""The largest results one job may record (JSON); a job with more fails saying so."""


@dataclass(frozen=True)
class JobSettings:
    """How one node runs jobs."""

    workers: int = 4
    """Worker processes: jobs run at once on this node."""
    lease_ms: int = 30_000
    memory_limit_mb: int | None = 4096
    """Address space of a worker (a job that needs more fails with MemoryError)."""
    recycle_rss_mb: int = 1024
    """A worker that holds more memory than this after a job is replaced."""
    shutdown_grace_s: float = 30.0

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> JobSettings:
        return job_settings_from(environ)


def _now_ms() -> int:
    return int(time.time() * 1000)


def _stamp(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


@dataclass
class _Running:
    job: JobRecord
    worker: Worker
    messages: list[dict[str, str]]
    progress: dict[str, Any] | None = None
    dirty: bool = False
    stop: JobStatus | None = None
    """Why its worker was killed: cancelled or timed out."""


@dataclass
class RunnerStats:
    finished: int = 0
    killed: int = 0
    spawned: int = 0
    recovered: int = 0
    per_status: dict[str, int] = field(default_factory=dict)


class JobRunning(Protocol):
    """What the services need of a node's job runner: :class:`JobRunner` in this process, or
    ``jobhost.JobHost``, which runs one in a process of its own."""

    node: str
    catalog: Catalog
    jobs_dir: Path

    def start(self) -> None: ...
    def stop(self, grace_s: float | None = None) -> None: ...
    def wake(self) -> None: ...
    def cancel(self, job_id: str) -> None: ...
    def wait(self, job_id: str, timeout_s: float) -> JobRecord | None: ...
    def folder(self, job_id: str) -> Path: ...
    def remove_folder(self, job_id: str) -> None: ...


class NodeJobs:
    """What a node's runner and the handle on its job host share: the store the jobs are in,
    their folders (``jobs_dir/<job id>``), and waiting for a job's end. Whoever records ends
    calls :meth:`ended`; a waiter that read its job just before is woken all the same (it
    waits for the count of ends to change, not for a notification it may have missed)."""

    def __init__(self, store: Store, jobs_dir: Path) -> None:
        self.store = store
        self.jobs_dir = jobs_dir
        self._ends = threading.Condition()
        self._ended_count = 0

    def folder(self, job_id: str) -> Path:
        """The job's folder (inputs, outputs and scratch files)."""
        return self.jobs_dir / job_id

    def remove_folder(self, job_id: str) -> None:
        shutil.rmtree(self.folder(job_id), ignore_errors=True)

    def ended(self) -> None:
        """Some jobs' ends are recorded: wake the waiters."""
        with self._ends:
            self._ended_count += 1
            self._ends.notify_all()

    def wait(self, job_id: str, timeout_s: float) -> JobRecord | None:
        """Wait until job ``job_id`` has ended (or ``timeout_s`` passed); the job as stored
        then. Ends recorded by another node are seen by reading at least every POLL_S."""
        deadline = time.monotonic() + timeout_s
        while True:
            with self._ends:
                seen = self._ended_count
            job = self.store.jobs.get(job_id)
            if job is None or job.status.finished:
                return job
            left = deadline - time.monotonic()
            if left <= 0:
                return job
            with self._ends:
                self._ends.wait_for(partial(self._changed, seen), min(left, POLL_S))

    def _changed(self, seen: int) -> bool:
        return self._ended_count != seen


class JobRunner(NodeJobs):
    """Runs the geoprocessing jobs of one node."""

    def __init__(self, store: Store, catalog: Catalog, data_dir: Path, node: str,
                 settings: JobSettings | None = None,
                 now_ms: Callable[[], int] = _now_ms,
                 on_ended: Callable[[list[str]], None] | None = None) -> None:
        """``on_ended(job ids)`` is called (from the runner's threads) once the ends of
        jobs are recorded, for whoever waits on them in another process."""
        super().__init__(store, data_dir / "jobs")
        self.on_ended = on_ended
        self.catalog = catalog
        self.node = node
        self.machine = socket.gethostname()
        self.settings = settings or JobSettings()
        self.now_ms = now_ms
        self.stats = RunnerStats()
        self._workers: list[Worker] = []
        self._running: dict[str, _Running] = {}
        self._ready: queue.Queue[Worker] = queue.Queue()
        self._spawn_requests: queue.Queue[int] = queue.Queue()
        self._writes: queue.Queue[tuple[str, Any]] = queue.Queue()
        self._cancel_here: set[str] = set()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._stopped = threading.Event()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._threads: list[threading.Thread] = []
        self._spawning = 0

    # -- what the services call -----------------------------------------------------------------

    def wake(self) -> None:
        """A job was queued (or cancelled) here: look now, not at the next poll."""
        with contextlib.suppress(OSError):
            self._wake_w.send(b"x")

    def cancel(self, job_id: str) -> None:
        """A job this node may be running was asked to stop: stop it now."""
        with self._lock:
            self._cancel_here.add(job_id)
        self.wake()

    # -- life cycle -----------------------------------------------------------------------------

    def start(self) -> None:
        """End what stopped nodes left running, start the workers and the threads."""
        self.jobs_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.recover(everything=self.store.is_sqlite)
        for name, target in (("gp-manager", self._manage), ("gp-writer", self._write_loop),
                             ("gp-spawner", self._spawn_loop)):
            t = threading.Thread(target=target, name=f"gistasks-{name}", daemon=True)
            t.start()
            self._threads.append(t)
        self._grow(1)  # one warm worker; more as jobs come, up to the setting

    def stop(self, grace_s: float | None = None) -> None:
        """Stop claiming; let running jobs end within the grace period; fail the rest (queued
        jobs stay queued for the next start)."""
        grace = self.settings.shutdown_grace_s if grace_s is None else grace_s
        deadline = time.monotonic() + grace
        self._stopping.set()
        self.wake()
        while self._running and time.monotonic() < deadline:
            time.sleep(0.02)
        self._stopped.set()
        self.wake()
        self._spawn_requests.put(0)
        for t in self._threads:
            t.join(10)
        with self._lock:
            left = list(self._running.values())
            self._running.clear()
        outcomes = []
        for r in left:
            r.worker.kill()
            r.messages.append(message("The server shut down before the job finished.",
                                      MessageType.ERROR))
            outcomes.append(self._outcome(r, JobStatus.FAILED, None))
        self._drain_writes(outcomes)  # recorded first: retiring the workers takes a while
        for w in self._workers:
            w.retire()
        self._workers.clear()
        while True:
            try:
                self._workers.append(self._ready.get_nowait())
            except queue.Empty:
                break
        for w in self._workers:
            w.retire()
        self._wake_r.close()
        self._wake_w.close()

    def recover(self, everything: bool = False) -> int:
        """End the running jobs of nodes that stopped; returns how many."""
        found = self.store.jobs.recover(self.now_ms(), everything=everything)
        if found:
            log.warning("ended %d job(s) left running by stopped nodes", len(found))
            self.stats.recovered += len(found)
            self._tell_ended([j.id for j in found])
        return len(found)

    # -- the spawner ----------------------------------------------------------------------------

    def _spawn_loop(self) -> None:
        while not self._stopped.is_set():
            try:
                count = self._spawn_requests.get(timeout=1)
            except queue.Empty:
                continue
            for _ in range(count):
                if self._stopped.is_set():
                    return
                try:
                    worker = pool.spawn(PRELOAD, self.settings.memory_limit_mb)
                    self.stats.spawned += 1
                except Exception:
                    log.exception("starting a GP worker process failed")
                    time.sleep(1)
                    self._spawn_requests.put(1)
                    continue
                self._ready.put(worker)  # counted twice for a moment, never not at all
                with self._lock:
                    self._spawning -= 1
                self.wake()

    def _grow(self, count: int) -> None:
        """Ask for ``count`` more workers, within the setting."""
        with self._lock:
            room = (self.settings.workers - len(self._workers) - self._ready.qsize()
                    - self._spawning)
            count = min(count, room)
            if count <= 0 or self._stopping.is_set():
                return
            self._spawning += count
        self._spawn_requests.put(count)

    def _replace(self, worker: Worker) -> None:
        if worker in self._workers:
            self._workers.remove(worker)
        self._grow(1)

    # -- the manager ----------------------------------------------------------------------------

    def _manage(self) -> None:
        next_poll = 0.0
        while not self._stopped.is_set():
            while True:
                try:
                    self._workers.append(self._ready.get_nowait())
                except queue.Empty:
                    break
            woken = self._drain_wake()
            now = time.monotonic()
            if woken or now >= next_poll:
                if now >= next_poll:
                    next_poll = now + POLL_S
                    if self._running:
                        self._look_for_cancels()
                self._apply_cancels()
                if not self._stopping.is_set():
                    self._claim()
            self._enforce_deadlines()
            timeout = max(0.0, min(next_poll, self._next_deadline()) - time.monotonic())
            try:
                ready = pool.wait(self._workers, [self._wake_r], timeout)
            except OSError:
                ready = []
            for conn in ready:
                if conn is self._wake_r:
                    continue
                worker = next((w for w in self._workers if w.conn is conn), None)
                if worker is not None:
                    self._read(worker)

    def _drain_wake(self) -> bool:
        woken = False
        try:
            while self._wake_r.recv(4096):
                woken = True
        except (BlockingIOError, OSError):
            pass
        return woken

    def _claim(self) -> None:
        idle = [w for w in self._workers if w.call_id is None]
        if not idle:
            self._grow(1)  # busy: jobs may be waiting for a worker
            return
        try:
            claimed = self.store.jobs.claim(
                self.node, self.machine, self.now_ms(), self.settings.lease_ms, len(idle),
                self.catalog.max_concurrent(), self.settings.workers)
        except Exception:
            log.exception("claiming GP jobs failed; retrying")
            return
        for job, worker in zip(claimed, idle, strict=False):
            self._dispatch(job, worker)
        if len(claimed) == len(idle):
            self._grow(1)  # every worker is busy now: more jobs may be queued

    def _dispatch(self, job: JobRecord, worker: Worker) -> None:
        started = job.started or self.now_ms()
        messages = messages_list(job.messages)
        messages.append(message(f"Executing (node {self.node})."))
        messages.append(message(f"Start Time: {_stamp(started)}"))
        service = self.catalog.get(job.service)
        tool = service.tool(job.tool) if service is not None else None
        running = _Running(job, worker, messages, dirty=True)
        if service is None or tool is None:
            running.messages.append(message(
                f"The tool {job.tool} of {job.service} does not exist on node {self.node}.",
                MessageType.ERROR))
            self._writes.put(("finish", self._outcome(running, JobStatus.FAILED, None)))
            return
        spec = {"id": job.id, "tool": tool.import_path(), "inputs": json.loads(job.inputs),
                "files": json.loads(job.files or "{}"), "folder": str(self.folder(job.id))}
        with self._lock:
            self._running[job.id] = running
        worker.send(job.id, ENTRY, {"job": spec}, service.time_limit_s)

    def _read(self, worker: Worker) -> None:
        """Everything ``worker`` sent; its death ends its job."""
        try:
            # A bounded batch: a tool that sends messages without pause must not keep the
            # manager from the other workers and from the deadlines (its own too).
            for _ in range(EVENTS_PER_READ):
                if not worker.conn.poll():
                    break
                self._handle(worker, worker.conn.recv())
        except (EOFError, OSError):
            self._died(worker)

    def _handle(self, worker: Worker, event: tuple[Any, ...]) -> None:
        kind, call_id = event[0], event[1]
        running = self._running.get(call_id)
        if kind == "event":
            if running is not None:
                self._event(running, event[2])
            return
        ok, value, rss = event[2], event[3], event[4]
        worker.idle()
        if running is not None:
            with self._lock:
                self._running.pop(call_id, None)
            if running.stop is not None:  # killed meanwhile: its outcome is recorded
                return
            self._done(running, ok, value)
        if rss > self.settings.recycle_rss_mb * 1024 * 1024:
            log.info("retiring GP worker %s: it holds %d MB", worker.pid, rss >> 20)
            self._replace(worker)
            threading.Thread(target=worker.retire, daemon=True).start()
        elif running is not None:
            self.wake()  # a worker is free: claim the next job now

    def _event(self, running: _Running, event: tuple[Any, ...]) -> None:
        if event[0] == "message":
            if len(running.messages) < 1100:
                running.messages.append(message(str(event[2]), str(event[1])))
        elif event[0] == "progress":
            running.progress = {"type": "default", "message": event[2] or "",
                                "percent": event[1]}
        running.dirty = True

    def _done(self, running: _Running, ok: bool, value: Any) -> None:
        name = running.job.tool
        if not ok:
            running.messages.append(message(str(value), MessageType.ERROR))
            running.messages.append(message(f"Failed to execute ({name})."))
            self._writes.put(("finish", self._outcome(running, JobStatus.FAILED, None)))
            return
        results = json.dumps(value.get("results", {}), separators=(",", ":"))
        if len(results) > MAX_RESULTS_BYTES:
            running.messages.append(message(
                f"The results are larger than {MAX_RESULTS_BYTES >> 20} MB: not kept.",
                MessageType.ERROR))
            self._writes.put(("finish", self._outcome(running, JobStatus.FAILED, None)))
            return
        self._writes.put(("finish", self._outcome(running, JobStatus.SUCCEEDED, results)))

    def _outcome(self, running: _Running, status: JobStatus, results: str | None
                 ) -> JobOutcome:
        ended = self.now_ms()
        started = running.job.started or ended
        word = {JobStatus.SUCCEEDED: "Succeeded", JobStatus.CANCELLED: "Cancelled",
                JobStatus.TIMED_OUT: "Timed out"}.get(status, "Failed")
        running.messages.append(message(
            f"{word} at {_stamp(ended)} (Elapsed Time: {(ended - started) / 1000:.2f} "
            f"seconds)"))
        self.stats.finished += 1
        self.stats.per_status[status] = self.stats.per_status.get(status, 0) + 1
        return JobOutcome(running.job.id, status, results,
                          json.dumps(running.messages, separators=(",", ":")), ended)

    def _died(self, worker: Worker) -> None:
        job_id = worker.call_id
        self._replace(worker)
        # How it ended, read before it is killed for good: our SIGKILL must not stand in for
        # its own exit code.
        how = worker.exit_text() if job_id is not None else ""
        worker.kill()
        if job_id is None:
            return
        with self._lock:
            running = self._running.pop(job_id, None)
        if running is None or running.stop is not None:
            return
        running.messages.append(message(
            f"The tool's process ended unexpectedly ({how}).", MessageType.ERROR))
        running.messages.append(message(f"Failed to execute ({running.job.tool})."))
        self._writes.put(("finish", self._outcome(running, JobStatus.FAILED, None)))

    def _stop(self, running: _Running, status: JobStatus, text: str) -> None:
        """Kill the job's worker and record the job as ``status``."""
        with self._lock:
            if self._running.get(running.job.id) is not running:
                return
            self._running.pop(running.job.id)
        running.stop = status
        self.stats.killed += 1
        running.worker.kill()
        self._replace(running.worker)
        running.messages.append(message(text, MessageType.ERROR if status ==
                                        JobStatus.TIMED_OUT else MessageType.INFORMATIVE))
        self._writes.put(("finish", self._outcome(running, status, None)))

    def _enforce_deadlines(self) -> None:
        now = time.monotonic()
        for running in list(self._running.values()):
            deadline = running.worker.deadline
            if deadline is not None and now >= deadline:
                limit = deadline - running.worker.started
                self._stop(running, JobStatus.TIMED_OUT,
                           f"The job exceeded its time limit of {limit:g} seconds.")

    def _next_deadline(self) -> float:
        deadlines = [r.worker.deadline for r in self._running.values()
                     if r.worker.deadline is not None]
        return min(deadlines, default=time.monotonic() + POLL_S)

    def _look_for_cancels(self) -> None:
        try:
            found = self.store.jobs.cancelling(self.node)
        except Exception:
            log.exception("looking for cancelled GP jobs failed")
            return
        with self._lock:
            self._cancel_here.update(found)

    def _apply_cancels(self) -> None:
        with self._lock:
            wanted, self._cancel_here = self._cancel_here, set()
        for job_id in wanted:
            running = self._running.get(job_id)
            if running is not None:
                self._stop(running, JobStatus.CANCELLED, "The job was cancelled.")

    # -- the writer -----------------------------------------------------------------------------

    def _write_loop(self) -> None:
        next_report = time.monotonic() + REPORT_S
        next_lease = time.monotonic() + self.settings.lease_ms / 3000
        while True:
            outcomes: list[JobOutcome] = []
            try:
                item = self._writes.get(timeout=0.1)
                outcomes.append(item[1])
                while True:
                    outcomes.append(self._writes.get_nowait()[1])
            except queue.Empty:
                pass
            if outcomes:
                self._drain_writes(outcomes)
            now = time.monotonic()
            if now >= next_report:
                next_report = now + REPORT_S
                self._report()
            if now >= next_lease:
                next_lease = now + self.settings.lease_ms / 3000
                try:
                    self.store.jobs.heartbeat(self.node, self.now_ms() + self.settings.lease_ms)
                    if not self._stopping.is_set():
                        self.recover()
                except Exception:
                    log.exception("renewing GP job leases failed")
            if self._stopped.is_set() and self._writes.empty():
                return

    def _report(self) -> None:
        with self._lock:
            dirty = [r for r in self._running.values() if r.dirty]
            for r in dirty:
                r.dirty = False
        updates = [(r.job.id, json.dumps(r.messages, separators=(",", ":")),
                    None if r.progress is None else json.dumps(r.progress)) for r in dirty]
        if updates:
            try:
                self.store.jobs.report(self.node, self.now_ms(), updates)
            except Exception:
                log.exception("recording the progress of %d GP job(s) failed", len(updates))

    def _drain_writes(self, outcomes: list[JobOutcome]) -> None:
        while True:
            try:
                outcomes.append(self._writes.get_nowait()[1])
            except queue.Empty:
                break
        if not outcomes:
            return
        try:
            recorded = self.store.jobs.finish(self.node, outcomes)
        except Exception:
            log.exception("recording %d GP job outcome(s) failed", len(outcomes))
            return
        for job_id, deleted in recorded.items():
            if deleted:
                self.remove_folder(job_id)
        self._tell_ended(list(recorded))

    def _tell_ended(self, job_ids: list[str]) -> None:
        self.ended()
        if self.on_ended is not None and job_ids:
            try:
                self.on_ended(job_ids)
            except Exception:
                log.exception("telling the server that %d GP job(s) ended failed",
                              len(job_ids))


def default_workers() -> int:
    """Two worker processes per core, at least two."""
    return max(2, 2 * (os.cpu_count() or 1))


def job_settings_from(environ: Mapping[str, str] | None = None) -> JobSettings:
    """``JobSettings`` with ``GISTASKS_GP_WORKERS``, ``GISTASKS_GP_MEMORY_MB`` (0: no limit),
    ``GISTASKS_GP_RECYCLE_MB``, ``GISTASKS_LEASE_SECONDS`` and
    ``GISTASKS_SHUTDOWN_GRACE_SECONDS``; ConfigError naming a bad one."""
    env = os.environ if environ is None else environ
    s = JobSettings(workers=default_workers())
    if env.get("GISTASKS_GP_WORKERS"):
        s = replace(s, workers=int(positive(env, "GISTASKS_GP_WORKERS")))
    if env.get("GISTASKS_GP_MEMORY_MB"):
        value = int(positive(env, "GISTASKS_GP_MEMORY_MB", zero=True))
        s = replace(s, memory_limit_mb=value or None)
    if env.get("GISTASKS_GP_RECYCLE_MB"):
        s = replace(s, recycle_rss_mb=int(positive(env, "GISTASKS_GP_RECYCLE_MB")))
    if env.get("GISTASKS_LEASE_SECONDS"):
        s = replace(s, lease_ms=int(positive(env, "GISTASKS_LEASE_SECONDS") * 1000))
    if env.get("GISTASKS_SHUTDOWN_GRACE_SECONDS"):
        s = replace(s, shutdown_grace_s=positive(env, "GISTASKS_SHUTDOWN_GRACE_SECONDS"))
    return s
