"""The database every part of the store shares: connections, transactions, fast single-row
reads, the database clock, change notifications and migrations.

The same statements run on SQLite (WAL, one writer at a time through ``BEGIN IMMEDIATE``) and on
PostgreSQL (psycopg 3, row locks with ``FOR UPDATE SKIP LOCKED`` so that several nodes claim
disjoint work, and the database clock).
"""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
from alembic import command
from alembic.config import Config
from sqlalchemy import (
    Boolean,
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
        if self.is_sqlite:
            path = make_url(self.url).database
            memory = path in (None, "", ":memory:")
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
        self.engine.dispose()

    def describe(self) -> str:
        """The URL without its password, for banners and logs."""
        return self.engine.url.render_as_string(hide_password=True)

    def migrate(self) -> None:
        """Bring the schema to the newest migration (idempotent)."""
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
        with self.engine.connect() as conn:
            conn.execution_options(immediate=True)
            with conn.begin():
                yield conn

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A read transaction: one consistent snapshot."""
        with self.engine.connect() as conn, conn.begin():
            yield conn

    def one(self, stmt: Select[Any], table: Table,
            params: dict[str, Any]) -> tuple[Any, ...] | None:
        """The one row of a hot single-statement read (a task, a run, a user by key), through
        the DBAPI connection: about five times cheaper than a Core round trip, which matters on
        every API request. ``stmt`` is a prebuilt module-level ``select(table)``; its rows come
        back with the table's Boolean columns as ``bool``, as Core would give them."""
        compiled = self._compiled.get(stmt)
        if compiled is None:
            compiled = self._compiled[stmt] = stmt.compile(dialect=self.engine.dialect)
            self._booleans[stmt] = frozenset(
                i for i, c in enumerate(table.columns) if isinstance(c.type, Boolean))
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
        flags = self._booleans[stmt]
        return tuple(bool(v) if i in flags and v is not None else v for i, v in enumerate(row))

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
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        immediate = conn.get_execution_options().get("immediate")
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")
