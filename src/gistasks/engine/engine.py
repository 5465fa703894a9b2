"""The engine of one node: the firing loop, and the workers that execute what it records.

* **Firing**: due tasks are claimed in short batched transactions that record their runs
  (``store.fires.claim_due`` with :func:`plan_fires`); the loop then sleeps until the
  earliest next fire or a change (:meth:`Engine.wake`), never polling faster than that.
* **Execution** (:mod:`gistasks.engine.workers`): runs are leased to this node, started on
  time in threads or child processes, and their outcomes recorded in batches.
* **Recovery**: runs whose lease expired (their node died) are failed with "node lost", or
  re-queued when their type is idempotent.
* **Shutdown**: stop claiming, let running work finish within the grace period, release the rest.
"""

from __future__ import annotations

import gc
import logging
import os
import socket
import threading
import time
import uuid
from dataclasses import replace
from importlib.metadata import PackageNotFoundError, version

from gistasks.engine.clock import Clock, SystemClock
from gistasks.engine.planner import plan_fires
from gistasks.engine.settings import ENGINE_LIMITS, EngineSettings
from gistasks.engine.workers import Workers
from gistasks.security.secretbox import SecretBox
from gistasks.store import Store
from gistasks.store.records import FirePlan, NodeRecord, Scope, TaskRecord
from gistasks.tasktypes import Registry

log = logging.getLogger("gistasks.engine")
LIMITS_REFRESH_S = 10.0
NODE_BEAT_S = 15.0
"""How often a node records that it lives (the dashboard shows it)."""


def node_name() -> str:
    """A name for this process, unique in a cluster: host, pid and a random suffix."""
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


class Engine:
    """Scheduler and workers of one node. ``start`` runs them in threads; ``stop`` ends them.

    ``types`` are the task types this node executes (the server's registry); ``secrets``
    opens the sealed secrets of task parameters for the executors (the deployment's box, so
    that what one node seals every node opens)."""

    def __init__(self, store: Store, *, types: Registry, secrets: SecretBox,
                 settings: EngineSettings | None = None, clock: Clock | None = None,
                 node: str | None = None, use_database_clock: bool = True,
                 record_lateness: bool = False) -> None:
        self.store = store
        self.types = types
        self.secrets = secrets
        self.settings = settings or EngineSettings()
        self.clock: Clock = clock or SystemClock()
        self.node = node or node_name()
        self.use_database_clock = use_database_clock and not store.is_sqlite and clock is None
        self.fires_recorded = 0
        self.workers = Workers(store, types, secrets, self.node, lambda: self.settings,
                               self.now_ms, record_lateness)
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self._limits_read_at = 0.0
        self._asleep_until_ms = 0  # when the firing loop will look again; 0: it is awake

    # -- time and limits ------------------------------------------------------------------------

    def now_ms(self) -> int:
        """The one clock of the engine: the database's on PostgreSQL (the same for every
        node), else the injected or system clock."""
        if self.use_database_clock:
            db_now = self.store.db.now_ms()
            if db_now is not None:
                return db_now
        return self.clock.now_ms()

    def refresh_limits(self) -> None:
        """Take ``FailedRunsToDisableTask`` and ``TaskRunHistoryCount`` from the limits stored
        through ``system/limits`` (the firing loop does so every 10 s, for changes made on
        other nodes)."""
        self._limits_read_at = time.monotonic()
        stored = self.store.limits.get()
        changes = {field: stored[name] for name, field in ENGINE_LIMITS.items()
                   if name in stored}
        if changes:
            self.settings = replace(self.settings, **changes)

    def history_limit(self, task: TaskRecord) -> int:
        """How many runs of ``task`` are kept (``TaskRunHistoryCount`` for user tasks)."""
        s = self.settings
        return s.history_system if task.scope == Scope.SYSTEM else s.history_user

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
            due = self.store.fires.claim_due(now, self.settings.claim_batch, self._plan,
                                             self.history_limit,
                                             now + self.settings.lookahead_ms)
            total += len(due)
            if due:
                self.workers.work.set()
                self.store.db.notify_change()
            if len(due) < self.settings.claim_batch:
                break
        self.fires_recorded += total
        return total

    def wake(self) -> None:
        """Tell the firing loop and the workers that schedules or runs changed (a task was
        created, a run queued, …), here and, on PostgreSQL, on every other node."""
        self._on_change()
        self.store.db.notify_change()

    def _on_change(self) -> None:
        self._wake.set()
        self.workers.work.set()

    def schedule_changed(self, next_fire_at: int | None) -> None:
        """A task's next fire is now ``next_fire_at``: wake the firing loop only if it would
        otherwise sleep past that fire (so creating far-future tasks in bulk costs no passes)."""
        if next_fire_at is not None and (
                next_fire_at - self.settings.lookahead_ms >= self._asleep_until_ms > 0):
            return
        self._wake.set()
        self.store.db.notify_change()

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
                earliest = self.store.tasks.earliest_fire()
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

    def _node_loop(self) -> None:
        """Record this node's heartbeat every :data:`NODE_BEAT_S` until it stops."""
        try:
            release = version("gistasks")
        except PackageNotFoundError:  # pragma: no cover - run from a source tree
            release = "unknown"
        started = self.now_ms()
        while True:
            try:
                self.store.nodes.beat(NodeRecord(self.node, socket.gethostname(), os.getpid(),
                                                 release, started, self.now_ms(), 0))
            except Exception:
                log.exception("recording the node's heartbeat failed; retrying")
            if self._stopping.wait(NODE_BEAT_S):
                break
        try:
            self.store.nodes.stopped(self.node, self.now_ms())
        except Exception:
            log.exception("recording the node's stop failed")

    # -- execution (the workers') ---------------------------------------------------------------

    def execute_queued(self) -> int:
        """Run every queued run in this thread, one after the other (tests and tools)."""
        return self.workers.execute_queued()

    def running(self) -> set[str]:
        """The ids of the runs executing on this node now (leased and started)."""
        return self.workers.running()

    def cancel(self, run_id: str, reason: str = "cancelled") -> bool:
        """Cancel a run executing on this node; True if it was running here."""
        return self.workers.cancel(run_id, reason)

    def recover(self) -> int:
        """Fail or re-queue runs whose lease expired; returns how many."""
        return self.workers.recover()

    # -- life cycle -----------------------------------------------------------------------------

    def start(self) -> None:
        """Recover what dead nodes left, then start firing and executing in threads."""
        self.recover()
        # What exists now lives as long as the process: keeping it out of the collector's
        # generations shortens the collection pauses that would otherwise delay fires.
        gc.collect()
        gc.freeze()
        self.workers.start()
        for name, target in (("fire", self._firing_loop), ("node", self._node_loop),
                             ("listen", lambda: self.store.db.listen(self._on_change,
                                                                     self._stopping))):
            t = threading.Thread(target=target, name=f"gistasks-{name}", daemon=True)
            t.start()
            self._threads.append(t)

    def stop(self, grace_s: float | None = None) -> None:
        """Stop claiming; wait up to the grace period for running work; release the rest."""
        self._stopping.set()
        self._wake.set()
        if self._threads:
            self._threads[0].join(30)  # the firing loop: no more fires recorded after this
        self.workers.stop(self.settings.shutdown_grace_s if grace_s is None else grace_s)
        for t in self._threads[1:]:
            t.join(10)
