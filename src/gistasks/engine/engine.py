"""The engine of one node: the firing loop, the workers, leases and recovery.

* **Firing**: due tasks are claimed in short batched transactions that record their runs
  (:meth:`Store.claim_due` with :func:`plan_fires`); the loop then sleeps until the earliest next
  fire or a change (:meth:`Engine.wake`), never polling faster than that.
* **Execution**: a dispatcher leases queued runs to this node, a pool of threads executes them
  (in a child process for types that ask for it), a finisher records outcomes in batches, and a
  heartbeat renews the leases of running work.
* **Recovery**: runs whose lease expired (their node died) are failed with "node lost", or
  re-queued when their type is idempotent.
* **Shutdown**: stop claiming, let running work finish within the grace period, release the rest.
"""

from __future__ import annotations

import gc
import heapq
import json
import logging
import multiprocessing
import os
import queue
import socket
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any

from gistasks.engine.clock import Clock, SystemClock
from gistasks.engine.limits import ENGINE_SETTINGS
from gistasks.engine.planner import plan_fires
from gistasks.engine.settings import EngineSettings
from gistasks.secretbox import SecretBox, SecretError
from gistasks.store import ClaimedRun, FirePlan, Store, TaskRecord
from gistasks.tasktypes import Outcome, Registry, RunContext, registry

log = logging.getLogger("gistasks.engine")
LIMITS_REFRESH_S = 10.0


def node_name() -> str:
    """A name for this process, unique in a cluster: host, pid and a random suffix."""
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


@dataclass
class _Running:
    claimed: ClaimedRun
    ctx: RunContext
    process: Any = None
    cancel_reason: str = ""


@dataclass
class EngineStats:
    fires_recorded: int = 0
    runs_finished: int = 0
    runs_recovered: int = 0
    lateness_ms: list[int] = field(default_factory=list)


class Engine:
    """Scheduler and workers of one node. ``start`` runs them in threads; ``stop`` ends them."""

    def __init__(self, store: Store, settings: EngineSettings | None = None,
                 clock: Clock | None = None, types: Registry | None = None,
                 node: str | None = None, use_database_clock: bool = True,
                 record_lateness: bool = False, secrets: SecretBox | None = None) -> None:
        self.store = store
        self.secrets = secrets or SecretBox(os.urandom(32))
        """Opens the encrypted secrets of task parameters for the executors (a server passes
        the deployment's box; without one, a box whose key lives as long as this engine)."""
        self.settings = settings or EngineSettings()
        self.clock: Clock = clock or SystemClock()
        self.types = types or registry
        self.node = node or node_name()
        self.use_database_clock = use_database_clock and not store.is_sqlite and clock is None
        self.stats = EngineStats()
        self._record_lateness = record_lateness
        self._wake = threading.Event()
        self._work = threading.Event()
        self._stopping = threading.Event()
        self._stopped = threading.Event()
        self._outcomes: queue.Queue[tuple[str, Outcome, int]] = queue.Queue()
        self._running: dict[str, _Running] = {}
        self._leased: set[str] = set()  # claimed by this node, outcome not yet delivered
        self._started: set[str] = set()  # of those, the ones whose execution began
        self._starved = False  # the last lease filled the capacity: more may be waiting
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._pool: ThreadPoolExecutor | None = None
        self._limits_read_at = 0.0
        self._asleep_until_ms = 0  # when the firing loop will look again; 0: it is awake

    # -- time -----------------------------------------------------------------------------------

    def now_ms(self) -> int:
        if self.use_database_clock:
            db_now = self.store.database_now_ms()
            if db_now is not None:
                return db_now
        return self.clock.now_ms()

    def refresh_limits(self) -> None:
        """Take ``FailedRunsToDisableTask`` and ``TaskRunHistoryCount`` from the limits stored
        through ``system/limits`` (the firing loop does so every 10 s, for changes made on
        other nodes)."""
        self._limits_read_at = time.monotonic()
        stored = self.store.get_limits()
        changes = {field: stored[name] for name, field in ENGINE_SETTINGS.items()
                   if name in stored}
        if changes:
            self.settings = replace(self.settings, **changes)

    def _history_limit(self, task: TaskRecord) -> int:
        s = self.settings
        return s.history_system if task.scope == "system" else s.history_user

    def _plan(self, task: TaskRecord, now: int, busy: bool) -> FirePlan:
        return plan_fires(task, now, busy, self.settings)

    # -- firing ---------------------------------------------------------------------------------

    def fire_due(self) -> int:
        """Record every fire due now or within the look-ahead; returns how many tasks fired.

        One pass, no waiting. Fires recorded ahead of time are started at their time by the
        dispatcher.
        """
        total = 0
        while True:
            now = self.now_ms()
            due = self.store.claim_due(now, self.settings.claim_batch, self._plan,
                                       self._history_limit, now + self.settings.lookahead_ms)
            total += len(due)
            if due:
                self._work.set()
                self.store.notify_change()
            if len(due) < self.settings.claim_batch:
                break
        self.stats.fires_recorded += total
        return total

    def wake(self) -> None:
        """Tell the firing loop that schedules changed (a task was created, enabled, …), here
        and, on PostgreSQL, on every other node."""
        self._on_change()
        self.store.notify_change()

    def _on_change(self) -> None:
        self._wake.set()
        self._work.set()

    def schedule_changed(self, next_fire_at: int | None) -> None:
        """A task's next fire is now ``next_fire_at``: wake the firing loop only if it would
        otherwise sleep past that fire (so creating far-future tasks in bulk costs no passes)."""
        if next_fire_at is not None and (
                next_fire_at - self.settings.lookahead_ms >= self._asleep_until_ms > 0):
            return
        self._wake.set()
        self.store.notify_change()

    def _firing_loop(self) -> None:
        while not self._stopping.is_set():
            # Cleared before the pass, so that a change during the pass is never lost; while
            # the pass runs, every change wakes the loop again.
            self._wake.clear()
            self._asleep_until_ms = 0
            try:
                if time.monotonic() - self._limits_read_at > LIMITS_REFRESH_S:
                    self.refresh_limits()
                self.fire_due()
                earliest = self.store.earliest_fire()
            except Exception:
                log.exception("firing pass failed; retrying")
                earliest = None
            now = self.now_ms()
            sleep = self.settings.max_sleep_s
            if earliest is not None:
                ahead = earliest - self.settings.lookahead_ms - now
                sleep = min(sleep, max(0.0, ahead / 1000))
            if sleep > 0:
                # A change committed after the query above compares itself with this.
                self._asleep_until_ms = now + int(sleep * 1000)
                self.clock.wait(self._wake, sleep)

    # -- execution ------------------------------------------------------------------------------

    def execute_queued(self) -> int:
        """Run every queued run in this thread, one after the other (tests and tools)."""
        done = 0
        while True:
            claimed = self.store.claim_runs(self.node, self.now_ms(), self.settings.lease_ms, 50)
            if not claimed:
                return done
            for c in claimed:
                started = self.now_ms()
                outcome = self._execute(c)
                self.store.finish_runs(self.node, [(c.run.id, outcome.status, outcome.result,
                                                    outcome.url, started)], self.now_ms(),
                                       self.settings.failed_runs_to_disable)
                done += 1

    def _dispatch_loop(self) -> None:
        """Lease queued runs (up to the look-ahead) and start each at its scheduled time.

        It leases when runs were recorded (``_work``), when capacity frees after a lease that
        filled it (``_starved``), and every half second for runs recorded by other nodes.
        """
        assert self._pool is not None
        pending: list[tuple[int, str, ClaimedRun]] = []  # a heap by scheduled time
        capacity = self.settings.workers * (1 + self.settings.prefetch)
        next_poll = 0
        while not self._stopping.is_set():
            now = self.now_ms()
            due: list[ClaimedRun] = []
            while pending and pending[0][0] <= now:
                due.append(heapq.heappop(pending)[2])
            self._start(due)
            if self._work.is_set() or now >= next_poll:
                self._work.clear()
                next_poll = now + 500
                with self._lock:
                    free = capacity - len(self._leased)
                claimed_now: list[ClaimedRun] = []
                if free > 0:
                    try:
                        claimed_now = self.store.claim_runs(
                            self.node, now, self.settings.lease_ms, free,
                            now + self.settings.lookahead_ms)
                    except Exception:
                        log.exception("claiming runs failed; retrying")
                with self._lock:
                    self._leased.update(c.run.id for c in claimed_now)
                self._starved = len(claimed_now) >= free
                for c in claimed_now:
                    heapq.heappush(pending, (c.run.scheduled_for, c.run.id, c))
            until = next_poll if not pending else min(next_poll, pending[0][0])
            wait = (until - self.now_ms()) / 1000
            if wait > 0:
                self._work.wait(wait)
        # Runs still pending here were leased but never started: stop() releases them.

    def _start(self, due: list[ClaimedRun]) -> None:
        """Hand runs that are due to the pool.

        A burst of in-process runs (many fires at the same second) goes in chunks, about four
        per worker, so that a thousand no-op fires do not pay a thousand hand-offs; runs in
        child processes always go one by one.
        """
        assert self._pool is not None
        inline: list[ClaimedRun] = []
        for c in due:
            task_type = self.types.get(c.task_type)
            if task_type is not None and task_type.isolation == "process":
                self._pool.submit(self._run_one, c)
            else:
                inline.append(c)
        size = max(1, len(inline) // (self.settings.workers * 4))
        for k in range(0, len(inline), size):
            self._pool.submit(self._run_chunk, inline[k:k + size])

    def _run_chunk(self, chunk: list[ClaimedRun]) -> None:
        for claimed in chunk:
            if self._stopping.is_set() and claimed.run.id not in self._running:
                return  # shutting down: what has not started is released
            self._run_one(claimed)

    def _run_one(self, claimed: ClaimedRun) -> None:
        with self._lock:
            self._started.add(claimed.run.id)
        started = self.now_ms()
        if self._record_lateness:
            self.stats.lateness_ms.append(started - claimed.run.scheduled_for)
        try:
            outcome = self._execute(claimed)
        except BaseException as exc:
            outcome = Outcome("failed", f"{type(exc).__name__}: {exc}")
        self._outcomes.put((claimed.run.id, outcome, started))
        with self._lock:
            self._leased.discard(claimed.run.id)
            self._started.discard(claimed.run.id)
        if self._starved:
            self._work.set()  # capacity freed: the dispatcher may lease more

    def _execute(self, claimed: ClaimedRun) -> Outcome:
        task_type = self.types.get(claimed.task_type)
        if task_type is None:
            return Outcome("failed", f"unknown task type {claimed.task_type!r} on node "
                                     f"{self.node}")
        try:
            params = self.secrets.open(json.loads(claimed.parameters or "{}"))
        except SecretError as exc:
            return Outcome("failed", str(exc))
        except ValueError:
            return Outcome("failed", "the task's parameters are not valid JSON")
        ctx = RunContext(claimed.run.id, claimed.run.task_id, claimed.run.scheduled_for,
                         claimed.owner, params, claimed.item_id, claimed.task_url)
        running = _Running(claimed, ctx)
        with self._lock:
            self._running[claimed.run.id] = running
        try:
            if task_type.isolation == "process":
                return self._execute_in_child(running, task_type.name, task_type.time_limit_s)
            return self._execute_in_thread(running, task_type.execute, task_type.time_limit_s)
        finally:
            with self._lock:
                self._running.pop(claimed.run.id, None)

    def _execute_in_thread(self, running: _Running, execute: Callable[[RunContext], Outcome],
                           limit: float | None) -> Outcome:
        if limit is None:
            outcome = execute(running.ctx)
        else:
            box: list[Outcome | BaseException] = []

            def target() -> None:
                try:
                    box.append(execute(running.ctx))
                except BaseException as exc:
                    box.append(exc)

            worker = threading.Thread(target=target, daemon=True)
            worker.start()
            worker.join(limit)
            if worker.is_alive():
                running.ctx.cancelled.set()
                return Outcome("failed", f"time limit of {limit:g} s exceeded")
            if isinstance(box[0], BaseException):
                raise box[0]
            outcome = box[0]
        if running.cancel_reason:
            return Outcome("failed", running.cancel_reason)
        return outcome

    def _execute_in_child(self, running: _Running, type_name: str,
                          limit: float | None) -> Outcome:
        ctx = multiprocessing.get_context("spawn")
        parent, child = ctx.Pipe(duplex=False)
        c = running.ctx
        payload = {"run_id": c.run_id, "task_id": c.task_id, "scheduled_for": c.scheduled_for,
                   "owner": c.owner, "parameters": c.parameters, "item_id": c.item_id,
                   "task_url": c.task_url}
        proc = ctx.Process(target=_child_main, args=(type_name, payload, child), daemon=True)
        proc.start()
        child.close()
        running.process = proc
        deadline = None if limit is None else self.clock.now_ms() + int(limit * 1000)
        result: Outcome | None = None
        while True:
            if parent.poll(0.05):
                try:
                    status, text, url = parent.recv()
                    result = Outcome(status, text, url)
                except (EOFError, OSError):
                    result = None
                break
            if not proc.is_alive():
                break
            if running.cancel_reason or c.cancelled.is_set():
                break
            if deadline is not None and self.clock.now_ms() >= deadline:
                running.cancel_reason = f"time limit of {limit:g} s exceeded"
                break
        if proc.is_alive():
            proc.terminate()
            proc.join(2)
            if proc.is_alive():
                proc.kill()
        proc.join()
        parent.close()
        if running.cancel_reason:
            return Outcome("failed", running.cancel_reason)
        if result is None:
            return Outcome("failed", f"the run's process ended without a result (exit code "
                                     f"{proc.exitcode})")
        return result

    def running(self) -> set[str]:
        """The ids of the runs executing on this node now (leased and started)."""
        with self._lock:
            return set(self._running)

    def cancel(self, run_id: str, reason: str = "cancelled") -> bool:
        """Cancel a run executing on this node; True if it was running here."""
        with self._lock:
            running = self._running.get(run_id)
        if running is None:
            return False
        running.cancel_reason = reason
        running.ctx.cancelled.set()
        return True

    def _finish_loop(self) -> None:
        while True:
            try:
                first = self._outcomes.get(timeout=0.2)
            except queue.Empty:
                if self._stopped.is_set():
                    return
                continue
            if self._stopped.is_set():
                self._outcomes.put(first)  # stop() records what is left
                return
            # Gather for a moment: bigger batches, and no competition with a burst of starts.
            self._stopped.wait(0.1)
            batch = [first]
            while len(batch) < 2000:
                try:
                    batch.append(self._outcomes.get_nowait())
                except queue.Empty:
                    break
            try:
                self.store.finish_runs(
                    self.node, [(rid, o.status, o.result, o.url, st) for rid, o, st in batch],
                    self.now_ms(), self.settings.failed_runs_to_disable)
                self.stats.runs_finished += len(batch)
            except Exception:
                log.exception("recording %d outcomes failed", len(batch))

    def recover(self) -> int:
        """Fail or re-queue runs whose lease expired; returns how many."""
        found = self.store.recover_expired(self.now_ms(), self.types.idempotent_names(),
                                           self.settings.failed_runs_to_disable)
        if found:
            log.warning("recovered %d run(s) whose node was lost", len(found))
            self._work.set()
        self.stats.runs_recovered += len(found)
        return len(found)

    def _lease_loop(self) -> None:
        period = self.settings.lease_ms / 3000
        while not self._stopped.wait(period):
            try:
                with self._lock:
                    ids = list(self._leased)
                self.store.heartbeat(self.node, ids, self.now_ms() + self.settings.lease_ms)
                if not self._stopping.is_set():
                    self.recover()
            except Exception:
                log.exception("lease renewal failed")

    # -- life cycle -----------------------------------------------------------------------------

    def start(self) -> None:
        """Recover what dead nodes left, then start firing and executing in threads."""
        self.recover()
        # What exists now lives as long as the process: keeping it out of the collector's
        # generations shortens the collection pauses that would otherwise delay fires.
        gc.collect()
        gc.freeze()
        self._pool = ThreadPoolExecutor(self.settings.workers, thread_name_prefix="gistasks-run")
        for name, target in (("fire", self._firing_loop), ("dispatch", self._dispatch_loop),
                             ("finish", self._finish_loop), ("lease", self._lease_loop),
                             ("listen", lambda: self.store.listen(self._on_change,
                                                                  self._stopped))):
            t = threading.Thread(target=target, name=f"gistasks-{name}", daemon=True)
            t.start()
            self._threads.append(t)

    def stop(self, grace_s: float | None = None) -> None:
        """Stop claiming; wait up to the grace period for running work; release the rest."""
        grace = self.settings.shutdown_grace_s if grace_s is None else grace_s
        self._stopping.set()
        self._wake.set()
        self._work.set()
        for t in self._threads[:2]:  # the firing and dispatch loops: no more claims after this
            t.join(30)
        deadline = self.clock.now_ms() + int(grace * 1000)
        while self._running and self.clock.now_ms() < deadline:
            threading.Event().wait(0.05)
        with self._lock:
            running = list(self._running)
        for run_id in running:
            self.cancel(run_id, "the server shut down before the run finished")
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
        settle = self.clock.now_ms() + 2000  # cancelled work that cooperates ends quickly
        while self._running and self.clock.now_ms() < settle:
            threading.Event().wait(0.02)
        self._stopped.set()
        for t in self._threads[2:]:
            t.join(10)
        self._flush_outcomes()
        with self._lock:
            leftover = list(self._leased)
            started = self._started & set(leftover)
        ids = self.types.idempotent_names()
        now = self.now_ms()
        fail = self.settings.failed_runs_to_disable
        self.store.release_runs(self.node, [r for r in leftover if r in started], now, ids, fail)
        self.store.release_runs(self.node, [r for r in leftover if r not in started], now, ids,
                                fail, started=False)

    def _flush_outcomes(self) -> None:
        batch = []
        while True:
            try:
                rid, o, st = self._outcomes.get_nowait()
            except queue.Empty:
                break
            batch.append((rid, o.status, o.result, o.url, st))
        if batch:
            self.store.finish_runs(self.node, batch, self.now_ms(),
                                   self.settings.failed_runs_to_disable)


def _child_main(type_name: str, payload: dict[str, Any], conn: Any) -> None:
    """Entry point of a run's child process: execute and send (status, result, url) back."""
    task_type = registry.get(type_name)
    try:
        if task_type is None:
            outcome = Outcome("failed", f"unknown task type {type_name!r} in the child process")
        else:
            outcome = task_type.execute(RunContext(**payload))
    except BaseException as exc:
        outcome = Outcome("failed", f"{type(exc).__name__}: {exc}")
    conn.send((outcome.status, outcome.result, outcome.url))
    conn.close()
