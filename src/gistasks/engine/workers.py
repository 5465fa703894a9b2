"""The workers of one node: lease queued runs, start each at its time, execute it in the
executor its type asks for, record outcomes in batches, renew the leases of running work, and
recover the runs of nodes that died.

* A **dispatcher** thread leases runs (up to the look-ahead) and starts each at its scheduled
  time in a pool of threads; a run of a type with ``isolation = "process"`` runs in a child
  process (:mod:`gistasks.engine.executors`).
* A **finisher** thread records outcomes in batches of up to 2,000 per transaction.
* A **heartbeat** thread renews this node's leases every third of the lease time and fails or
  re-queues the runs whose lease expired elsewhere.
"""

from __future__ import annotations

import heapq
import json
import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from gistasks.engine.executors import Cancellation, ExecutionError, run_in_child, run_in_thread
from gistasks.engine.settings import EngineSettings
from gistasks.security.secretbox import SecretBox, SecretError
from gistasks.store import Store
from gistasks.store.records import ClaimedRun, RunOutcome, RunStatus, bounded
from gistasks.tasktypes import Isolation, Outcome, Registry, RunContext, TaskType

log = logging.getLogger("gistasks.engine")

CHILD_ENTRY = "gistasks.tasktypes.base:execute_in_child"
"""What a child process runs: the type made anew from its class, then executed."""
OUTCOME_BATCH = 2000
POLL_MS = 500
"""How often the dispatcher looks for runs recorded by other nodes."""
SETTLE_S = 2.0
"""How long cancelled work has to end at shutdown (cooperative work ends quickly)."""


def _recorded(claimed: ClaimedRun, outcome: Outcome, started: int) -> RunOutcome:
    """What the store records of an execution: its texts within their bound."""
    return RunOutcome(claimed.run.id, outcome.status, bounded(outcome.result),
                      bounded(outcome.url), started)


@dataclass
class _Running:
    claimed: ClaimedRun
    cancellation: Cancellation


@dataclass
class WorkerStats:
    runs_finished: int = 0
    runs_recovered: int = 0
    lateness_ms: list[int] = field(default_factory=list)


class Workers:
    """Execution on one node. ``settings`` and ``now_ms`` are the engine's (its settings
    change when limits are refreshed; its clock is the database's in a cluster)."""

    def __init__(self, store: Store, types: Registry, secrets: SecretBox, node: str,
                 settings: Callable[[], EngineSettings], now_ms: Callable[[], int],
                 record_lateness: bool = False) -> None:
        self.store = store
        self.types = types
        self.secrets = secrets
        self.node = node
        self._settings = settings
        self.now_ms = now_ms
        self.stats = WorkerStats()
        self._record_lateness = record_lateness
        self.work = threading.Event()
        """Set when runs may be waiting: recorded, recovered, or capacity freed."""
        self._stopping = threading.Event()
        self._stopped = threading.Event()
        self._outcomes: queue.Queue[RunOutcome] = queue.Queue()
        self._running: dict[str, _Running] = {}
        self._leased: set[str] = set()  # claimed by this node, outcome not yet delivered
        self._started: set[str] = set()  # of those, the ones whose execution began
        self._starved = False  # the last lease filled the capacity: more may be waiting
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._pool: ThreadPoolExecutor | None = None

    @property
    def settings(self) -> EngineSettings:
        return self._settings()

    def execute_queued(self) -> int:
        """Run every queued run in this thread, one after the other (tests and tools)."""
        done = 0
        while True:
            claimed = self.store.leases.claim(self.node, self.now_ms(), self.settings.lease_ms,
                                              50)
            if not claimed:
                return done
            for c in claimed:
                started = self.now_ms()
                outcome = self._execute(c)
                self.store.leases.finish(self.node, [_recorded(c, outcome, started)],
                                         self.now_ms(), self.settings.failed_runs_to_disable)
                done += 1

    def _dispatch_loop(self) -> None:
        """Lease queued runs (up to the look-ahead) and start each at its scheduled time.

        It leases when runs were recorded (``work``), when capacity frees after a lease that
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
            if self.work.is_set() or now >= next_poll:
                self.work.clear()
                next_poll = now + POLL_MS
                with self._lock:
                    free = capacity - len(self._leased)
                claimed_now: list[ClaimedRun] = []
                if free > 0:
                    try:
                        claimed_now = self.store.leases.claim(
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
                self.work.wait(wait)
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
            if task_type is not None and task_type.isolation == Isolation.PROCESS:
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
            outcome = Outcome(RunStatus.FAILED, f"{type(exc).__name__}: {exc}")
        self._outcomes.put(_recorded(claimed, outcome, started))
        with self._lock:
            self._leased.discard(claimed.run.id)
            self._started.discard(claimed.run.id)
        if self._starved:
            self.work.set()  # capacity freed: the dispatcher may lease more

    def _execute(self, claimed: ClaimedRun) -> Outcome:
        """One run, in the executor its type asks for; every way it can end is an Outcome."""
        task_type = self.types.get(claimed.task_type)
        if task_type is None:
            return Outcome(RunStatus.FAILED, f"unknown task type {claimed.task_type!r} on "
                                             f"node {self.node}")
        try:
            params = self.secrets.open(json.loads(claimed.parameters or "{}"),
                                       claimed.run.task_id)
        except SecretError as exc:
            return Outcome(RunStatus.FAILED, str(exc))
        except (ValueError, RecursionError):
            return Outcome(RunStatus.FAILED, "the task's parameters cannot be read; update "
                                             "the task to replace them")
        running = _Running(claimed, Cancellation())
        run = claimed.run
        ctx = RunContext(run.id, run.task_id, run.scheduled_for, claimed.owner, params,
                         claimed.item_id, claimed.task_url, running.cancellation.event)
        with self._lock:
            self._running[run.id] = running
        try:
            return self._in_executor(task_type, ctx, running.cancellation)
        except ExecutionError as exc:
            return Outcome(RunStatus.FAILED, str(exc))
        finally:
            with self._lock:
                self._running.pop(run.id, None)

    @staticmethod
    def _in_executor(task_type: TaskType, ctx: RunContext,
                     cancellation: Cancellation) -> Outcome:
        if task_type.isolation == Isolation.PROCESS:
            context = {"run_id": ctx.run_id, "task_id": ctx.task_id,
                       "scheduled_for": ctx.scheduled_for, "owner": ctx.owner,
                       "parameters": ctx.parameters, "item_id": ctx.item_id,
                       "task_url": ctx.task_url}
            status, result, url = run_in_child(
                CHILD_ENTRY, {"type_path": task_type.import_path(), "context": context},
                task_type.time_limit_s, cancellation)
            return Outcome(RunStatus(status), result, url)
        return run_in_thread(lambda: task_type.execute(ctx), task_type.time_limit_s,
                             cancellation)

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
        running.cancellation.cancel(reason)
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
            while len(batch) < OUTCOME_BATCH:
                try:
                    batch.append(self._outcomes.get_nowait())
                except queue.Empty:
                    break
            try:
                self.store.leases.finish(self.node, batch, self.now_ms(),
                                         self.settings.failed_runs_to_disable)
                self.stats.runs_finished += len(batch)
            except Exception:
                log.exception("recording %d outcomes failed", len(batch))

    def recover(self) -> int:
        """Fail or re-queue runs whose lease expired; returns how many."""
        found = self.store.leases.recover_expired(self.now_ms(), self.types.idempotent_names(),
                                                  self.settings.failed_runs_to_disable)
        if found:
            log.warning("recovered %d run(s) whose node was lost", len(found))
            self.work.set()
        self.stats.runs_recovered += len(found)
        return len(found)

    def _lease_loop(self) -> None:
        period = self.settings.lease_ms / 3000
        while not self._stopped.wait(period):
            try:
                with self._lock:
                    ids = list(self._leased)
                self.store.leases.heartbeat(self.node, ids,
                                            self.now_ms() + self.settings.lease_ms)
                if not self._stopping.is_set():
                    self.recover()
            except Exception:
                log.exception("lease renewal failed")

    # -- life cycle -----------------------------------------------------------------------------

    def start(self) -> None:
        self._pool = ThreadPoolExecutor(self.settings.workers, thread_name_prefix="gistasks-run")
        for name, target in (("dispatch", self._dispatch_loop), ("finish", self._finish_loop),
                             ("lease", self._lease_loop)):
            t = threading.Thread(target=target, name=f"gistasks-{name}", daemon=True)
            t.start()
            self._threads.append(t)

    def stop(self, grace_s: float) -> None:
        """Stop leasing; wait up to ``grace_s`` for running work; cancel what still runs;
        record every outcome; give back what is left (re-queued if it never started or its
        type is idempotent, failed otherwise)."""
        self._stopping.set()
        self.work.set()
        if self._threads:
            self._threads[0].join(30)  # the dispatcher: no more leases after this
        self._wait_for_running(grace_s)
        with self._lock:
            running = list(self._running)
        for run_id in running:
            self.cancel(run_id, "the server shut down before the run finished")
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
        self._wait_for_running(SETTLE_S)
        self._stopped.set()
        for t in self._threads[1:]:
            t.join(10)
        self._flush_outcomes()
        with self._lock:
            leftover = list(self._leased)
            started = self._started & set(leftover)
        ids = self.types.idempotent_names()
        now = self.now_ms()
        fail = self.settings.failed_runs_to_disable
        self.store.leases.release(self.node, [r for r in leftover if r in started], now, ids,
                                  fail)
        self.store.leases.release(self.node, [r for r in leftover if r not in started], now,
                                  ids, fail, started=False)

    def _wait_for_running(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while self._running and time.monotonic() < deadline:
            self._stopped.wait(0.02)

    def _flush_outcomes(self) -> None:
        batch = []
        while True:
            try:
                batch.append(self._outcomes.get_nowait())
            except queue.Empty:
                break
        if batch:
            self.store.leases.finish(self.node, batch, self.now_ms(),
                                     self.settings.failed_runs_to_disable)
