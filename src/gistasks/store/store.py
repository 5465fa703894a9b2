"""Every SQL statement of gistasks. Nothing above this module writes SQL.

The same statements run on SQLite (WAL, one writer at a time through ``BEGIN IMMEDIATE``) and on
PostgreSQL (psycopg 3, row locks with ``FOR UPDATE SKIP LOCKED`` so that several nodes claim
disjoint work, and the database clock).
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any

import psycopg
from alembic import command
from alembic.config import Config
from sqlalchemy import (
    Boolean,
    Connection,
    Engine,
    bindparam,
    create_engine,
    delete,
    event,
    func,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from gistasks.store.records import ClaimedRun, FirePlan, RunRecord, TaskRecord, UserRecord
from gistasks.store.schema import limits, runs, tasks, users

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
ACTIVE_RUN_STATES = ("scheduled", "executing")

Planner = Callable[[TaskRecord, int, bool], FirePlan]
"""(due task, now in ms, whether a run of it is still queued or executing) -> what to do."""


def new_id() -> str:
    """A 32-character lower-case hex id, as ArcGIS ids are."""
    return uuid.uuid4().hex


def normalise_url(url: str) -> str:
    """Use psycopg 3 for ``postgresql://`` URLs."""
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


class Store:
    """The database of one gistasks deployment (SQLite file or PostgreSQL database)."""

    def __init__(self, url: str) -> None:
        self.url = normalise_url(url)
        self.is_sqlite = make_url(self.url).get_backend_name() == "sqlite"
        self._compiled: dict[Any, Any] = {}
        if self.is_sqlite:
            path = make_url(self.url).database
            if path and path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            # A pool keeps connections open: closing the last one checkpoints the WAL.
            memory = path in (None, "", ":memory:")
            self.engine: Engine = create_engine(
                self.url, connect_args={"timeout": 30, "check_same_thread": False},
                **({"poolclass": NullPool} if memory else {"pool_size": 16, "max_overflow": 16}),
            )
            _configure_sqlite(self.engine)
        else:
            self.engine = create_engine(self.url, pool_size=8, max_overflow=8,
                                        pool_pre_ping=True)

    def close(self) -> None:
        self.engine.dispose()

    # -- schema ---------------------------------------------------------------------------------

    def migrate(self) -> None:
        """Bring the schema to the newest migration (idempotent)."""
        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        with self.engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")

    # -- transactions -----------------------------------------------------------------------------

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        with self.engine.connect() as conn:
            conn.execution_options(immediate=True)
            with conn.begin():
                yield conn

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        with self.engine.connect() as conn, conn.begin():
            yield conn

    def _one(self, stmt: Any, params: dict[str, Any]) -> tuple[Any, ...] | None:
        """The one row of a hot single-statement read (a task, a run, a user by key), through
        the DBAPI connection: about five times cheaper than a Core round trip, which matters on
        every API request. ``stmt`` is a prebuilt module-level ``select(table)``; its rows come
        back with the table's Boolean columns as ``bool``, as Core would give them."""
        compiled = self._compiled.get(stmt)
        if compiled is None:
            compiled = self._compiled[stmt] = stmt.compile(dialect=self.engine.dialect)
        args: Any = compiled.construct_params(params)
        if compiled.positiontup is not None:
            args = tuple(args[k] for k in compiled.positiontup)
        raw = self.engine.raw_connection()
        try:
            cur = raw.cursor()
            cur.execute(compiled.string, args)
            row = cur.fetchone()
            cur.close()
        finally:
            raw.close()
        if row is None:
            return None
        flags = _BOOLEAN_COLUMNS[stmt]
        return tuple(bool(v) if i in flags and v is not None else v for i, v in enumerate(row))

    def database_now_ms(self) -> int | None:
        """The database clock on PostgreSQL (one clock for every node); None on SQLite."""
        if self.is_sqlite:
            return None
        with self._read() as conn:
            value = conn.execute(
                text("SELECT (extract(epoch from clock_timestamp()) * 1000)::bigint")
            ).scalar_one()
        return int(value)

    # -- change notifications (PostgreSQL LISTEN/NOTIFY; SQLite has one node) ------------------

    CHANNEL = "gistasks_changes"

    def notify_change(self) -> None:
        """Tell every node listening on this database that tasks or runs changed."""
        if not self.is_sqlite:
            with self._write() as conn:
                conn.execute(text("SELECT pg_notify(:c, '')"), {"c": self.CHANNEL})

    def listen(self, on_change: Callable[[], None], stop: threading.Event) -> None:
        """Call ``on_change`` whenever a node notifies a change, until ``stop`` is set.

        Blocks; run it in a thread. Reconnects after a lost connection. No-op on SQLite.
        """
        if self.is_sqlite:
            return
        dsn = self.engine.url.set(drivername="postgresql").render_as_string(
            hide_password=False)
        while not stop.is_set():
            try:
                with psycopg.connect(dsn, autocommit=True) as conn:
                    conn.execute(f"LISTEN {self.CHANNEL}")
                    while not stop.is_set():
                        for _ in conn.notifies(timeout=1.0, stop_after=1):
                            on_change()
            except psycopg.Error:
                stop.wait(1.0)

    # -- tasks ------------------------------------------------------------------------------------

    def insert_task(self, task: TaskRecord) -> None:
        with self._write() as conn:
            conn.execute(_INSERT_TASK, {f: getattr(task, f) for f in TaskRecord.__slots__})

    def get_task(self, task_id: str) -> TaskRecord | None:
        row = self._one(_TASK_BY_ID, {"id": task_id})
        return None if row is None else TaskRecord.from_row(row)

    def list_tasks(self, scope: str | None = None, owner: str | None = None) -> list[TaskRecord]:
        stmt = select(tasks).order_by(tasks.c.created, tasks.c.id)
        if scope is not None:
            stmt = stmt.where(tasks.c.scope == scope)
        if owner is not None:
            stmt = stmt.where(tasks.c.owner == owner)
        with self._read() as conn:
            return [TaskRecord.from_row(r) for r in conn.execute(stmt)]

    def count_tasks(self) -> int:
        with self._read() as conn:
            return int(conn.execute(select(func.count()).select_from(tasks)).scalar_one())

    def page_tasks(self, *, scope: str, owner: str | None = None, item_id: str | None = None,
                   active: bool | None = None, types: Collection[str] | None = None,
                   sort_field: str = "created", descending: bool = False, offset: int = 0,
                   limit: int | None = None) -> tuple[int, list[TaskRecord]]:
        """(number of matching tasks, the page of them from ``offset``), sorted by
        ``sort_field`` (created, updated, title or type; ties in creation order)."""
        where = [tasks.c.scope == scope]
        if owner is not None:
            where.append(tasks.c.owner == owner)
        if item_id is not None:
            where.append(tasks.c.item_id == item_id)
        if active is not None:
            where.append(tasks.c.active.is_(active))
        if types is not None:
            where.append(tasks.c.type.in_(list(types)))
        column = tasks.c[sort_field]
        order = [column.desc() if descending else column.asc()]
        if sort_field != "created":
            order.append(tasks.c.created.desc() if descending else tasks.c.created.asc())
        order.append(tasks.c.id.desc() if descending else tasks.c.id.asc())
        stmt = select(tasks).where(*where).order_by(*order).offset(offset)
        if limit is not None:
            stmt = stmt.limit(limit)
        with self._read() as conn:
            total = int(conn.execute(
                select(func.count()).select_from(tasks).where(*where)).scalar_one())
            return total, [TaskRecord.from_row(r) for r in conn.execute(stmt)]

    def count_active(self, task_type: str, owner: str | None = None,
                     exclude_id: str | None = None) -> int:
        """Active tasks of ``task_type`` (of ``owner`` if given), not counting ``exclude_id``."""
        stmt = select(func.count()).select_from(tasks).where(
            tasks.c.type == task_type, tasks.c.active.is_(True))
        if owner is not None:
            stmt = stmt.where(tasks.c.owner == owner)
        if exclude_id is not None:
            stmt = stmt.where(tasks.c.id != exclude_id)
        with self._read() as conn:
            return int(conn.execute(stmt).scalar_one())

    def update_task(self, task_id: str, **values: Any) -> TaskRecord | None:
        """Change columns of a task; returns the new record, or None if there is no such task."""
        with self._write() as conn:
            values["generation"] = tasks.c.generation + 1
            result = conn.execute(update(tasks).where(tasks.c.id == task_id).values(**values))
            if result.rowcount == 0:
                return None
            row = conn.execute(select(tasks).where(tasks.c.id == task_id)).one()
        return TaskRecord.from_row(row)

    def delete_task(self, task_id: str) -> bool:
        """Delete a task and all its runs."""
        with self._write() as conn:
            conn.execute(delete(runs).where(runs.c.task_id == task_id))
            return bool(conn.execute(delete(tasks).where(tasks.c.id == task_id)).rowcount)

    def insert_tasks(self, records: Sequence[TaskRecord]) -> None:
        """Insert many tasks in one transaction (bulk loads and benchmarks)."""
        if records:
            with self._write() as conn:
                conn.execute(insert(tasks), [asdict(r) for r in records])

    def earliest_fire(self) -> int | None:
        """The earliest ``next_fire_at`` of an active task, or None."""
        with self._read() as conn:
            value = conn.execute(
                select(func.min(tasks.c.next_fire_at)).where(tasks.c.active.is_(True))
            ).scalar_one()
        return None if value is None else int(value)

    # -- firing -----------------------------------------------------------------------------------

    def claim_due(self, now: int, limit: int, plan: Planner,
                  history_limit: Callable[[TaskRecord], int],
                  horizon: int | None = None) -> list[TaskRecord]:
        """Record the fires of up to ``limit`` due tasks in one transaction.

        For each active task with ``next_fire_at <= horizon`` (default ``now``; a later horizon
        records fires ahead of time, to be started on time) (locked with ``SKIP LOCKED`` on
        PostgreSQL, so other nodes take other tasks), ``plan`` decides the runs to insert and the
        task's new schedule state; runs are inserted with ``ON CONFLICT DO NOTHING`` on (task,
        fire time), so a fire is never recorded twice, and ``occurrences`` grows by the rows
        actually inserted. Run history beyond ``history_limit(task)`` is pruned in the same
        transaction. Returns the tasks that were due.
        """
        with self._write() as conn:
            due_stmt = (
                select(tasks)
                .where(tasks.c.active.is_(True),
                       tasks.c.next_fire_at <= (now if horizon is None else horizon))
                .order_by(tasks.c.next_fire_at)
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
            due = [TaskRecord.from_row(r) for r in conn.execute(due_stmt)]
            if not due:
                return []
            ids = [t.id for t in due]
            busy = set(conn.execute(
                select(runs.c.task_id).where(
                    runs.c.task_id.in_(ids), runs.c.status.in_(ACTIVE_RUN_STATES)
                ).distinct()
            ).scalars())
            plans = [(t, plan(t, now, t.id in busy)) for t in due]
            new_rows = [
                {"id": r.id, "task_id": t.id, "scheduled_for": r.scheduled_for,
                 "status": r.status, "result": r.result, "url": "", "node": None,
                 "lease_until": None, "attempt": 0, "created": now, "started": None,
                 "ended": None if r.status == "scheduled" else now, "modified": now}
                for t, p in plans for r in p.runs
            ]
            inserted: dict[str, int] = {}
            if new_rows:
                for run_id in self._insert_runs(conn, new_rows):
                    inserted[run_id] = 1
            updates = []
            for t, p in plans:
                added = sum(1 for r in p.runs if r.id in inserted)
                updates.append({
                    "b_id": t.id, "b_next": p.next_fire_at,
                    "b_occ": t.occurrences + added, "b_last": p.last_start,
                    "b_state": p.task_state, "b_active": p.active,
                })
            conn.execute(
                update(tasks).where(tasks.c.id == bindparam("b_id")).values(
                    next_fire_at=bindparam("b_next"), occurrences=bindparam("b_occ"),
                    last_start=bindparam("b_last"), task_state=bindparam("b_state"),
                    active=bindparam("b_active"),
                ),
                updates,
            )
            for t, p in plans:
                keep = history_limit(t)
                if p.runs and t.occurrences + len(p.runs) > keep:
                    self._prune(conn, t.id, keep)
        return due

    def _insert_runs(self, conn: Connection, rows: list[dict[str, Any]]) -> list[str]:
        ins = (sqlite.insert(runs) if self.is_sqlite else postgresql.insert(runs))
        stmt = ins.on_conflict_do_nothing(index_elements=["task_id", "scheduled_for"]).returning(
            runs.c.id
        )
        result = conn.execute(stmt, rows)
        return list(result.scalars())

    def _prune(self, conn: Connection, task_id: str, keep: int) -> None:
        newest = (
            select(runs.c.id).where(runs.c.task_id == task_id)
            .order_by(runs.c.scheduled_for.desc()).limit(keep)
        )
        conn.execute(
            delete(runs).where(
                runs.c.task_id == task_id,
                runs.c.status.not_in(ACTIVE_RUN_STATES),
                runs.c.id.not_in(newest.scalar_subquery()),
            )
        )

    def insert_run(self, task_id: str, scheduled_for: int, now: int, status: str = "scheduled",
                   result: str = "") -> RunRecord | None:
        """Queue one run of a task (a manual run); None if that fire time is already recorded."""
        record = RunRecord(id=new_id(), task_id=task_id, scheduled_for=scheduled_for,
                           status=status, result=result, url="", node=None, lease_until=None,
                           attempt=0, created=now, started=None, ended=None, modified=now)
        with self._write() as conn:
            if not self._insert_runs(conn, [asdict(record)]):
                return None
        return record

    # -- execution --------------------------------------------------------------------------------

    def claim_runs(self, node: str, now: int, lease_ms: int, limit: int,
                   horizon: int | None = None) -> list[ClaimedRun]:
        """Lease up to ``limit`` queued runs due by ``horizon`` (default ``now``) to ``node``.

        They become ``executing``, with a lease until ``now + lease_ms``.
        """
        with self._write() as conn:
            rows = conn.execute(
                select(runs.c.id)
                .where(runs.c.status == "scheduled",
                       runs.c.scheduled_for <= (now if horizon is None else horizon))
                .order_by(runs.c.scheduled_for)
                .limit(limit)
                .with_for_update(skip_locked=True)
            ).scalars().all()
            if not rows:
                return []
            conn.execute(
                update(runs).where(runs.c.id.in_(rows)).values(
                    status="executing", node=node, lease_until=now + lease_ms,
                    started=func.max(runs.c.scheduled_for, now) if self.is_sqlite
                    else func.greatest(runs.c.scheduled_for, now),
                    attempt=runs.c.attempt + 1, modified=now,
                )
            )
            joined = conn.execute(
                select(runs, tasks.c.type.label("t_type"), tasks.c.parameters.label("t_params"),
                       tasks.c.item_id.label("t_item"), tasks.c.task_url.label("t_url"),
                       tasks.c.owner.label("t_owner"))
                .join(tasks, tasks.c.id == runs.c.task_id)
                .where(runs.c.id.in_(rows))
                .order_by(runs.c.scheduled_for)
            ).all()
        out = []
        for r in joined:
            m: dict[str, Any] = dict(r._mapping)
            record = RunRecord(**{k: m[k] for k in RunRecord.__slots__})
            out.append(ClaimedRun(record, m["t_type"], m["t_params"], m["t_item"], m["t_url"],
                                  m["t_owner"]))
        return out

    def heartbeat(self, node: str, run_ids: Collection[str], lease_until: int) -> None:
        """Extend the leases ``node`` holds on ``run_ids``."""
        if run_ids:
            with self._write() as conn:
                conn.execute(
                    update(runs).where(runs.c.id.in_(list(run_ids)), runs.c.node == node,
                                       runs.c.status == "executing")
                    .values(lease_until=lease_until)
                )

    def finish_runs(self, node: str, outcomes: Iterable[tuple[str, str, str, str, int | None]],
                    now: int, fail_threshold: int) -> int:
        """Record outcomes ``(run_id, status, result, url, started)`` of runs ``node`` executed.

        ``started`` is when execution really began (None keeps the claim's estimate).

        One transaction for the whole batch. A run whose lease was lost meanwhile (recovered by
        another node) is left alone. Consecutive failures are counted per task in completion
        order; a task reaching ``fail_threshold`` stops with state ``failed``. Returns the number
        of runs recorded.
        """
        batch = list(outcomes)
        if not batch:
            return 0
        with self._write() as conn:
            live: dict[str, str] = {}
            ids = [b[0] for b in batch]
            for k in range(0, len(ids), 500):
                live.update(conn.execute(
                    select(runs.c.id, runs.c.task_id).where(
                        runs.c.id.in_(ids[k:k + 500]), runs.c.node == node,
                        runs.c.status == "executing")
                ).all())
            done = [b for b in batch if b[0] in live]
            if not done:
                return 0
            conn.execute(
                update(runs).where(runs.c.id == bindparam("b_id")).values(
                    status=bindparam("b_status"), result=bindparam("b_result"),
                    url=bindparam("b_url"), ended=now, modified=now, lease_until=None,
                    started=func.coalesce(bindparam("b_started"), runs.c.started)),
                [{"b_id": r, "b_status": st, "b_result": res, "b_url": url, "b_started": started}
                 for r, st, res, url, started in done],
            )
            per_task: dict[str, list[str]] = {}
            for run_id, status, _, _, _ in done:
                per_task.setdefault(live[run_id], []).append(status)
            self._count_outcomes(conn, per_task, now, fail_threshold)
        return len(done)

    def _count_outcomes(self, conn: Connection, per_task: dict[str, list[str]], now: int,
                        fail_threshold: int) -> None:
        """Apply outcomes (in completion order, per task) to the consecutive-failure counts."""
        reset: list[str] = []
        set_to: list[dict[str, Any]] = []
        add: list[dict[str, Any]] = []
        for task_id, statuses in per_task.items():
            relevant = [s for s in statuses if s in ("succeeded", "failed")]
            if not relevant:
                continue
            trailing = 0
            for status in reversed(relevant):
                if status != "failed":
                    break
                trailing += 1
            if trailing == 0:
                reset.append(task_id)
            elif trailing < len(relevant):
                set_to.append({"b_id": task_id, "b_n": trailing})
            else:
                add.append({"b_id": task_id, "b_n": trailing})
        for k in range(0, len(reset), 500):
            conn.execute(update(tasks).where(tasks.c.id.in_(reset[k:k + 500]),
                                             tasks.c.consecutive_failures != 0)
                         .values(consecutive_failures=0))
        if set_to:
            conn.execute(update(tasks).where(tasks.c.id == bindparam("b_id"))
                         .values(consecutive_failures=bindparam("b_n")), set_to)
        if add:
            conn.execute(update(tasks).where(tasks.c.id == bindparam("b_id"))
                         .values(consecutive_failures=tasks.c.consecutive_failures
                                 + bindparam("b_n")), add)
        failing = [d["b_id"] for d in set_to + add]
        for k in range(0, len(failing), 500):
            conn.execute(update(tasks).where(
                tasks.c.id.in_(failing[k:k + 500]),
                tasks.c.consecutive_failures >= fail_threshold,
                tasks.c.task_state == "active",
            ).values(task_state="failed", active=False, next_fire_at=None, updated=now))

    def recover_expired(self, now: int, idempotent_types: Collection[str],
                        fail_threshold: int) -> list[RunRecord]:
        """Finish runs whose lease expired (their node died): re-queue or fail them.

        Runs of idempotent task types go back to ``scheduled``; the others become ``failed``
        with the reason. Returns the runs as they were found.
        """
        with self._write() as conn:
            found = conn.execute(
                select(runs, tasks.c.type.label("t_type"))
                .join(tasks, tasks.c.id == runs.c.task_id)
                .where(runs.c.status == "executing", runs.c.lease_until < now)
                .with_for_update(skip_locked=True, of=runs)
            ).all()
            out = []
            for r in found:
                m: dict[str, Any] = dict(r._mapping)
                record = RunRecord(**{k: m[k] for k in RunRecord.__slots__})
                out.append(record)
                if m["t_type"] in idempotent_types:
                    self._requeue(conn, record.id, now, f"re-queued: node {record.node} lost")
                else:
                    self._fail(conn, record.id, record.task_id, now, fail_threshold,
                               f"node lost: {record.node} stopped renewing its lease")
        return out

    def _requeue(self, conn: Connection, run_id: str, now: int, reason: str) -> None:
        conn.execute(update(runs).where(runs.c.id == run_id).values(
            status="scheduled", node=None, lease_until=None, modified=now, result=reason))

    def _fail(self, conn: Connection, run_id: str, task_id: str, now: int, fail_threshold: int,
              reason: str) -> None:
        conn.execute(update(runs).where(runs.c.id == run_id).values(
            status="failed", lease_until=None, ended=now, modified=now, result=reason))
        self._count_outcomes(conn, {task_id: ["failed"]}, now, fail_threshold)

    def release_runs(self, node: str, run_ids: Collection[str], now: int,
                     idempotent_types: Collection[str], fail_threshold: int,
                     started: bool = True) -> None:
        """Give back runs ``node`` could not finish before shutting down.

        Runs that never started (``started=False``) are re-queued; started ones are re-queued
        when their type is idempotent and failed with the reason otherwise.
        """
        if not run_ids:
            return
        with self._write() as conn:
            found = conn.execute(
                select(runs.c.id, runs.c.task_id, tasks.c.type)
                .join(tasks, tasks.c.id == runs.c.task_id)
                .where(runs.c.id.in_(list(run_ids)), runs.c.node == node,
                       runs.c.status == "executing")
            ).all()
            for run_id, task_id, task_type in found:
                if not started or task_type in idempotent_types:
                    self._requeue(conn, run_id, now,
                                  "re-queued: the server shut down during the run")
                else:
                    self._fail(conn, run_id, task_id, now, fail_threshold,
                               "the server shut down before the run finished")

    # -- users ------------------------------------------------------------------------------------

    def insert_user(self, user: UserRecord) -> bool:
        """Add a user; False if the name is taken (names are compared without case)."""
        with self._write() as conn:
            taken = conn.execute(select(users.c.username).where(
                _named(user.username))).first()
            if taken is not None:
                return False
            conn.execute(insert(users).values(**asdict(user)))
        return True

    def get_user(self, username: str) -> UserRecord | None:
        """The user named ``username`` (without regard to case), or None."""
        row = self._one(_USER_BY_NAME, {"name": username.lower()})
        return None if row is None else UserRecord.from_row(row)

    def list_users(self) -> list[UserRecord]:
        with self._read() as conn:
            return [UserRecord.from_row(r)
                    for r in conn.execute(select(users).order_by(users.c.username))]

    def update_user(self, username: str, **values: Any) -> UserRecord | None:
        """Change a user's columns; None if there is no such user."""
        with self._write() as conn:
            result = conn.execute(update(users).where(
                _named(username)).values(**values))
            if result.rowcount == 0:
                return None
            row = conn.execute(select(users).where(
                _named(username))).one()
        return UserRecord.from_row(row)

    # -- limits -----------------------------------------------------------------------------------

    def get_limits(self) -> dict[str, int]:
        """The limits set explicitly (names are ArcGIS ``limitName`` values)."""
        with self._read() as conn:
            return {name: int(value) for name, value in conn.execute(select(limits))}

    def set_limits(self, values: dict[str, int]) -> None:
        """Set limits, all in one transaction."""
        with self._write() as conn:
            for name, value in values.items():
                if conn.execute(update(limits).where(limits.c.name == name).values(
                        value=value)).rowcount == 0:
                    conn.execute(insert(limits).values(name=name, value=value))

    # -- runs -------------------------------------------------------------------------------------

    def runs_of(self, task_id: str) -> list[RunRecord]:
        """The runs of a task, newest first."""
        with self._read() as conn:
            rows = conn.execute(select(runs).where(runs.c.task_id == task_id)
                                .order_by(runs.c.scheduled_for.desc()))
            return [RunRecord.from_row(r) for r in rows]

    def all_runs(self) -> list[RunRecord]:
        with self._read() as conn:
            return [RunRecord.from_row(r)
                    for r in conn.execute(select(runs).order_by(runs.c.scheduled_for))]

    def update_run(self, run_id: str, **values: Any) -> RunRecord | None:
        """Change a run's columns; None if there is no such run."""
        with self._write() as conn:
            if conn.execute(update(runs).where(runs.c.id == run_id).values(**values)).rowcount \
                    == 0:
                return None
            row = conn.execute(select(runs).where(runs.c.id == run_id)).one()
        return RunRecord.from_row(row)

    def delete_run(self, run_id: str) -> bool:
        with self._write() as conn:
            return bool(conn.execute(delete(runs).where(runs.c.id == run_id)).rowcount)

    def get_run(self, run_id: str) -> RunRecord | None:
        row = self._one(_RUN_BY_ID, {"id": run_id})
        return None if row is None else RunRecord.from_row(row)


_INSERT_TASK = insert(tasks)
_TASK_BY_ID = select(tasks).where(tasks.c.id == bindparam("id"))
_RUN_BY_ID = select(runs).where(runs.c.id == bindparam("id"))
_USER_BY_NAME = select(users).where(func.lower(users.c.username) == bindparam("name"))
_BOOLEAN_COLUMNS = {
    stmt: frozenset(i for i, c in enumerate(table.columns) if isinstance(c.type, Boolean))
    for stmt, table in ((_TASK_BY_ID, tasks), (_RUN_BY_ID, runs), (_USER_BY_NAME, users))
}


def _named(username: str) -> Any:
    """User names are compared without regard to case."""
    return func.lower(users.c.username) == username.lower()


def _configure_sqlite(engine: Engine) -> None:
    """WAL, a generous busy timeout, foreign keys, and ``BEGIN IMMEDIATE`` for writes."""

    @event.listens_for(engine, "connect")
    def _connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        immediate = conn.get_execution_options().get("immediate")
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")
