"""The database every part of the store shares: connections, transactions, fast single-row
reads, the database clock, change notifications and migrations.

The same statements run on SQLite (WAL, one writer at a time through ``BEGIN IMMEDIATE``) and on
PostgreSQL (psycopg 3, row locks with ``FOR UPDATE SKIP LOCKED`` so that several nodes claim
disjoint work, and the database clock).
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import time
import uuid
import weakref
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from enum import Enum
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Boolean,
    ClauseElement,
    Connection,
    Engine,
    Select,
    Table,
    create_engine,
    event,
    func,
    text,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

BUSY_TIMEOUT_MS = 30_000
"""How long a statement may wait for SQLite's writer lock before it fails."""
FIRST_RETRY_S = 0.00005
LAST_RETRY_S = 0.001
"""A write transaction that finds SQLite's writer lock taken (by another process: the job
host, another CLI) tries again after 50 µs, backing off to 1 ms: SQLite's own busy handler
sleeps 1, 2, 5, 10... ms, far longer than the other process's transactions take, and the
server's event loop may be the one waiting."""
class _Reader:
    """A thread's own SQLite connection (a connection cannot be weakly referenced)."""

    __slots__ = ("__weakref__", "conn")

    def __init__(self, conn: Any) -> None:
        self.conn = conn


class RawTransaction:
    """The statements of one :meth:`Database.raw_write` transaction."""

    def __init__(self, db: Database, cursor: Any) -> None:
        self.db = db
        self.cursor = cursor

    def run(self, stmt: ClauseElement, params: Mapping[str, Any]) -> None:
        """Execute the prebuilt ``stmt`` with ``params``."""
        self.cursor.execute(self.db._compile(stmt).string, self.db._args(stmt, params))

    def first(self, stmt: Select[Any], params: Mapping[str, Any]) -> tuple[Any, ...] | None:
        """The first row of the prebuilt ``stmt`` with ``params``."""
        self.run(stmt, params)
        return self.db._row(stmt, self.cursor.fetchone())


MIGRATIONS = Path(__file__).resolve().parent / "migrations"
CHANNEL = "gistasks_changes"


def new_id() -> str:
    """A 32-character lower-case hex id, as ArcGIS ids are."""
    return uuid.uuid4().hex


def normalise_url(url: str) -> str:
    """Use psycopg 3 for ``postgresql://`` URLs."""
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


class Database:
    """One SQLite file or PostgreSQL database, shared by the parts of the store."""

    def __init__(self, url: str) -> None:
        self.url = normalise_url(url)
        self.is_sqlite = make_url(self.url).get_backend_name() == "sqlite"
        self._compiled: dict[Any, Any] = {}
        self._booleans: dict[Any, frozenset[int]] = {}
        self._local = threading.local()
        self._readers: weakref.WeakSet[_Reader] = weakref.WeakSet()
        """The threads' readers, for close(); one goes (and its connection closes) with
        its thread."""
        self._memory = False
        self._writer = threading.Lock()
        """SQLite has one writer at a time: this process's writers queue here, woken the
        moment the writer before them commits, instead of in SQLite's busy handler (which
        sleeps 1, 2, 5, 10… ms between tries)."""
        if self.is_sqlite:
            path = make_url(self.url).database
            memory = path in (None, "", ":memory:")
            self._memory = memory
            if not memory:
                _create_private(Path(str(path)))
            # A pool keeps connections open: closing the last one checkpoints the WAL.
            self.engine: Engine = create_engine(
                self.url, connect_args={"timeout": 30, "check_same_thread": False},
                **({"poolclass": NullPool} if memory else {"pool_size": 16, "max_overflow": 16}),
            )
            _configure_sqlite(self.engine)
        else:
            self.engine = create_engine(self.url, pool_size=8, max_overflow=8,
                                        pool_pre_ping=True)

    def close(self) -> None:
        """Close every connection: the pool's and the threads' readers (the last to close
        checkpoints SQLite's WAL)."""
        for reader in list(self._readers):
            with contextlib.suppress(Exception):
                reader.conn.close()
        self._readers = weakref.WeakSet()
        self._local = threading.local()
        self.engine.dispose()

    def describe(self) -> str:
        """The URL without its password, for banners and logs."""
        return self.engine.url.render_as_string(hide_password=True)

    def migrate(self) -> None:
        """Bring the schema to the newest migration (idempotent)."""
        from alembic import command  # a fifth of a second to import: only when migrating
        from alembic.config import Config

        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        with self.engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")

    # -- transactions -----------------------------------------------------------------------------

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A write transaction (``BEGIN IMMEDIATE`` on SQLite: the writer lock up front, so two
        writers queue instead of failing half-way)."""
        if not self.is_sqlite:
            with self.engine.connect() as conn, conn.begin():
                yield conn
            return
        with self._writer, self.engine.connect() as conn:
            conn.execution_options(immediate=True)
            with conn.begin():
                yield conn

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A read transaction: one consistent snapshot."""
        with self.engine.connect() as conn, conn.begin():
            yield conn

    def _compile(self, stmt: ClauseElement) -> Any:
        compiled = self._compiled.get(stmt)
        if compiled is None:
            compiled = stmt.compile(dialect=self.engine.dialect)
            if "POSTCOMPILE" in compiled.string:
                raise ValueError("the raw paths cannot expand IN lists: spell them with OR")
            self._compiled[stmt] = compiled
            columns = getattr(stmt, "selected_columns", ())
            self._booleans[stmt] = frozenset(
                i for i, c in enumerate(columns) if isinstance(c.type, Boolean))
        return compiled

    def _args(self, stmt: ClauseElement, params: Mapping[str, Any]) -> Any:
        compiled = self._compile(stmt)
        args: Any = compiled.construct_params(
            {k: v.value if isinstance(v, Enum) else v for k, v in params.items()})
        if compiled.positiontup is not None:
            args = tuple(args[k] for k in compiled.positiontup)
        return args

    def _row(self, stmt: ClauseElement, row: Any) -> tuple[Any, ...] | None:
        if row is None:
            return None
        flags = self._booleans[stmt]
        return tuple(bool(v) if i in flags and v is not None else v for i, v in enumerate(row))

    def one(self, stmt: Select[Any], params: dict[str, Any]) -> tuple[Any, ...] | None:
        """The first row of a hot single-statement read (a task, a run, a user by key),
        through the DBAPI connection: about five times cheaper than a Core round trip, which
        matters on every API request. ``stmt`` is a prebuilt module-level ``select``; its rows
        come back with Boolean columns as ``bool``, as Core would give them."""
        args = self._args(stmt, params)
        if self.is_sqlite and not self._memory:
            reader = self._reader()
            cur = reader.cursor()
            try:
                cur.execute(self._compile(stmt).string, args)
                row = cur.fetchone()
            finally:
                cur.close()
            return self._row(stmt, row)
        raw = self.engine.raw_connection()
        try:
            cur = raw.cursor()
            cur.execute(self._compile(stmt).string, args)
            row = cur.fetchone()
            cur.close()
        finally:
            raw.close()
        return self._row(stmt, row)

    def _reader(self) -> Any:
        """This thread's own SQLite connection for the hot reads, taken out of the pool once
        (a checkout and return per read cost more than the read): in autocommit mode, each
        read is its own snapshot and holds nothing between reads. It closes with its thread."""
        held: _Reader | None = getattr(self._local, "reader", None)
        if held is None:
            fairy = self.engine.raw_connection()
            held = _Reader(fairy.driver_connection)
            fairy.detach()  # ours now: never returned to the pool
            self._local.reader = held
            self._readers.add(held)
        return held.conn

    @contextmanager
    def raw_write(self) -> Iterator[RawTransaction]:
        """A write transaction straight on the DBAPI connection, for the hottest writes (a
        job submitted, on the event loop): prebuilt statements compiled once, none of Core's
        per-statement work. Committed at the end, rolled back if the block raises."""
        with self._writer if self.is_sqlite else contextlib.nullcontext():
            raw = self.engine.raw_connection()
            try:
                dbapi: Any = raw.driver_connection
                if self.is_sqlite:
                    _begin_immediate(dbapi)
                cur = dbapi.cursor()
                try:
                    yield RawTransaction(self, cur)
                except BaseException:
                    dbapi.rollback()  # a no-op when no transaction is open (the first error
                    raise              # stands)
                dbapi.commit()
                cur.close()
            finally:
                raw.close()

    def insert_new(self, conn: Connection, table: Table, rows: list[dict[str, Any]],
                   unique: list[str]) -> list[str]:
        """Insert ``rows``, skipping any whose ``unique`` columns are taken
        (``ON CONFLICT DO NOTHING``); returns the ids of the rows really inserted."""
        ins = sqlite.insert(table) if self.is_sqlite else postgresql.insert(table)
        stmt = ins.on_conflict_do_nothing(index_elements=unique).returning(table.c.id)
        return list(conn.execute(stmt, rows).scalars())

    def serialise(self, conn: Connection, key: int) -> None:
        """Hold the cluster-wide lock ``key`` until ``conn``'s transaction ends (a PostgreSQL
        advisory lock; on SQLite a write transaction holds the one writer lock already)."""
        if not self.is_sqlite:
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": key})

    def greatest(self, *values: Any) -> Any:
        """SQL ``greatest`` (``max`` of several values on SQLite)."""
        return func.max(*values) if self.is_sqlite else func.greatest(*values)

    def now_ms(self) -> int | None:
        """The database clock on PostgreSQL (one clock for every node); None on SQLite."""
        if self.is_sqlite:
            return None
        with self.read() as conn:
            value = conn.execute(
                text("SELECT (extract(epoch from clock_timestamp()) * 1000)::bigint")
            ).scalar_one()
        return int(value)

    # -- change notifications (PostgreSQL LISTEN/NOTIFY; SQLite has one node) ------------------

    def notify_change(self) -> None:
        """Tell every node listening on this database that tasks or runs changed."""
        if not self.is_sqlite:
            with self.write() as conn:
                conn.execute(text("SELECT pg_notify(:c, '')"), {"c": CHANNEL})

    def listen(self, on_change: Callable[[], None], stop: threading.Event) -> None:
        """Call ``on_change`` whenever a node notifies a change, until ``stop`` is set.

        Blocks; run it in a thread. Reconnects after a lost connection. No-op on SQLite.
        """
        if self.is_sqlite:
            return
        import psycopg  # a tenth of a second to import: SQLite deployments never need it

        dsn = self.engine.url.set(drivername="postgresql").render_as_string(
            hide_password=False)
        while not stop.is_set():
            try:
                with psycopg.connect(dsn, autocommit=True) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    while not stop.is_set():
                        for _ in conn.notifies(timeout=1.0, stop_after=1):
                            on_change()
            except psycopg.Error:
                stop.wait(1.0)


def _create_private(path: Path) -> None:
    """Create the SQLite file 0600 before SQLite opens it: SQLite gives its ``-wal`` and
    ``-shm`` files the mode of the database file, so the password hashes stay private."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))


def _configure_sqlite(engine: Engine) -> None:
    """WAL, a generous busy timeout, foreign keys, and ``BEGIN IMMEDIATE`` for writes."""

    @event.listens_for(engine, "connect")
    def _connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cur.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        if conn.get_execution_options().get("immediate"):
            _begin_immediate(conn.connection.dbapi_connection)
        else:
            conn.exec_driver_sql("BEGIN")


def _begin_immediate(dbapi_conn: Any) -> None:
    """``BEGIN IMMEDIATE``, retried briefly while another process holds the writer lock
    (its own busy wait off meanwhile), for up to ``BUSY_TIMEOUT_MS``."""
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA busy_timeout=0")
    try:
        deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
        delay = FIRST_RETRY_S
        while True:
            try:
                cur.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) and "busy" not in str(exc):
                    raise
                if time.monotonic() >= deadline:
                    raise
            time.sleep(delay)
            delay = min(delay * 2, LAST_RETRY_S)
    finally:
        cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cur.close()
