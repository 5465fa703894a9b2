"""Disaster recovery in the database: the backup stores, the backups in them, the record of
asynchronous admin operations, the recovery settings, and the two halves of a backup that
speak SQL: taking a consistent copy of the database while the server runs, and putting one
back while it does not.

A copy is, on SQLite, a database file made with SQLite's online backup API (one read
transaction: writers go on meanwhile, the copy is the state at its start); on PostgreSQL, the
rows of every table read in one ``REPEATABLE READ`` transaction, as JSON lines. The recovery
tables (``schema.RECOVERY_TABLES``) are never part of a copy, and a restore keeps the live
ones: they describe the backups, not what a backup holds.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, fields
from pathlib import Path
from typing import IO, Any

from sqlalchemy import Connection, Integer, delete, insert, select, text, update
from sqlalchemy.engine import make_url

from gistasks.store._db import MIGRATIONS, Database
from gistasks.store.records import AdminJobRecord, BackupRecord, BackupStoreRecord
from gistasks.store.schema import (
    RECOVERY_TABLES,
    admin_jobs,
    backup_stores,
    backups,
    dr_settings,
    metadata,
)

ROWS_BATCH = 5000
MAX_ROW_LINE = 64 * 1024 * 1024
"""The longest line of a row dump a restore reads (a task's parameters or a run's result are
far shorter; a longer line is a damaged dump)."""


class RestoreRefusedError(Exception):
    """The database copy cannot be restored here (its message says why, for a user)."""


def schema_revisions() -> list[str]:
    """Every schema revision this gistasks knows, oldest first."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    script = ScriptDirectory.from_config(cfg)
    return [rev.revision for rev in reversed(list(script.walk_revisions()))]


def _data_tables() -> list[Any]:
    return [t for t in metadata.sorted_tables if t.name not in RECOVERY_TABLES]


class RecoveryStore:
    """Every statement on the recovery tables."""

    def __init__(self, db: Database) -> None:
        self.db = db

    # -- stores ---------------------------------------------------------------------------------

    def stores(self) -> list[BackupStoreRecord]:
        with self.db.read() as conn:
            rows = conn.execute(select(backup_stores).order_by(backup_stores.c.created,
                                                               backup_stores.c.name))
            return [BackupStoreRecord(*r) for r in rows]

    def store(self, name: str) -> BackupStoreRecord | None:
        with self.db.read() as conn:
            row = conn.execute(select(backup_stores).where(
                backup_stores.c.name == name)).first()
        return BackupStoreRecord(*row) if row else None

    def add_store(self, record: BackupStoreRecord) -> bool:
        """Register a store; False when the name is taken. A default store takes the default
        from the one before."""
        with self.db.write() as conn:
            if conn.execute(select(backup_stores.c.name).where(
                    backup_stores.c.name == record.name)).first():
                return False
            if record.is_default:
                conn.execute(update(backup_stores).values(is_default=False))
            conn.execute(insert(backup_stores).values(
                {f.name: getattr(record, f.name) for f in fields(record)}))
        return True

    def make_default(self, name: str) -> bool:
        with self.db.write() as conn:
            if not conn.execute(select(backup_stores.c.name).where(
                    backup_stores.c.name == name)).first():
                return False
            conn.execute(update(backup_stores).values(
                is_default=backup_stores.c.name == name))
        return True

    def remove_store(self, name: str) -> None:
        """Forget a store and the list of its backups (their files stay where they are)."""
        with self.db.write() as conn:
            conn.execute(delete(backups).where(backups.c.store == name))
            conn.execute(delete(backup_stores).where(backup_stores.c.name == name))

    # -- backups --------------------------------------------------------------------------------

    def backups(self, store: str | None = None) -> list[BackupRecord]:
        stmt = select(backups).order_by(backups.c.start_time, backups.c.name)
        if store is not None:
            stmt = stmt.where(backups.c.store == store)
        with self.db.read() as conn:
            return [BackupRecord(*r) for r in conn.execute(stmt)]

    def backup(self, name: str) -> BackupRecord | None:
        with self.db.read() as conn:
            row = conn.execute(select(backups).where(backups.c.name == name)).first()
        return BackupRecord(*row) if row else None

    def add_backup(self, record: BackupRecord) -> bool:
        """List a complete backup; False when its name is taken."""
        with self.db.write() as conn:
            if conn.execute(select(backups.c.name).where(
                    backups.c.name == record.name)).first():
                return False
            conn.execute(insert(backups).values(
                {f.name: getattr(record, f.name) for f in fields(record)}))
        return True

    def set_retention(self, name: str, retention_date: int) -> bool:
        with self.db.write() as conn:
            done = conn.execute(update(backups).where(backups.c.name == name).values(
                retention_date=retention_date)).rowcount
        return bool(done)

    def remove_backup(self, name: str) -> None:
        with self.db.write() as conn:
            conn.execute(delete(backups).where(backups.c.name == name))

    def expired(self, now_ms: int) -> list[BackupRecord]:
        """The backups whose retention date (not -1) has passed."""
        stmt = select(backups).where(backups.c.retention_date != -1,
                                     backups.c.retention_date < now_ms)
        with self.db.read() as conn:
            return [BackupRecord(*r) for r in conn.execute(stmt.order_by(backups.c.name))]

    # -- admin jobs -----------------------------------------------------------------------------

    def add_job(self, record: AdminJobRecord) -> None:
        with self.db.write() as conn:
            conn.execute(insert(admin_jobs).values(
                {f.name: getattr(record, f.name) for f in fields(record)}))

    def update_job(self, job_id: str, **values: Any) -> None:
        with self.db.write() as conn:
            conn.execute(update(admin_jobs).where(admin_jobs.c.id == job_id).values(**values))

    def job(self, job_id: str) -> AdminJobRecord | None:
        with self.db.read() as conn:
            row = conn.execute(select(admin_jobs).where(admin_jobs.c.id == job_id)).first()
        return AdminJobRecord(*row) if row else None

    def jobs(self, limit: int = 1000) -> list[AdminJobRecord]:
        stmt = select(admin_jobs).order_by(admin_jobs.c.start_time.desc()).limit(limit)
        with self.db.read() as conn:
            return [AdminJobRecord(*r) for r in conn.execute(stmt)]

    def unfinished_jobs(self) -> list[AdminJobRecord]:
        stmt = select(admin_jobs).where(admin_jobs.c.status.in_(("SUBMITTED", "EXECUTING")))
        with self.db.read() as conn:
            return [AdminJobRecord(*r) for r in conn.execute(stmt)]

    def forget_jobs(self, before_ms: int) -> int:
        with self.db.write() as conn:
            return int(conn.execute(delete(admin_jobs).where(
                admin_jobs.c.start_time < before_ms)).rowcount)

    # -- settings -------------------------------------------------------------------------------

    def settings(self) -> dict[str, str]:
        with self.db.read() as conn:
            return {n: v for n, v in conn.execute(select(dr_settings))}

    def set_settings(self, values: dict[str, str]) -> None:
        with self.db.write() as conn:
            for name, value in values.items():
                if not conn.execute(update(dr_settings).where(dr_settings.c.name == name)
                                    .values(value=value)).rowcount:
                    conn.execute(insert(dr_settings).values(name=name, value=value))

    # -- the database's part of a backup -------------------------------------------------------

    def schema_version(self) -> str:
        """The live schema revision ("" before the first migration)."""
        with self.db.read() as conn:
            row = conn.execute(text("SELECT version_num FROM alembic_version")).first()
        return str(row[0]) if row else ""

    @contextmanager
    def export(self, workdir: Path) -> Iterator[DatabaseExport]:
        """A consistent copy of the database, begun when the block begins: on SQLite a file
        in ``workdir`` (made at once: the block then reads a file nobody writes); on
        PostgreSQL one ``REPEATABLE READ`` transaction held open for the block, whose rows
        ``DatabaseExport.rows`` streams."""
        version = self.schema_version()
        if self.db.is_sqlite:
            path = workdir / SQLITE_MEMBER
            _copy_sqlite(Path(str(make_url(self.db.url).database)), path)
            yield DatabaseExport("sqlite", version, path, None)
            return
        with self.db.engine.connect() as conn:
            conn = conn.execution_options(isolation_level="REPEATABLE READ")
            with conn.begin():
                conn.execute(text("SET TRANSACTION READ ONLY"))
                conn.execute(text("SELECT 1")).all()  # the snapshot is taken here
                yield DatabaseExport("postgresql", version, None, conn)

    def load_rows(self, dump: Path) -> None:
        """Replace every table but the recovery ones with the rows of a PostgreSQL dump, in one
        transaction: all of them or, on any error, none (the live rows stay)."""
        with dump.open("rb") as f:
            head = json.loads(f.readline(MAX_ROW_LINE))
            if head.get("schema") != self.schema_version():
                raise RestoreRefusedError(
                    f"the backup's database is at schema {head.get('schema')!r}, this one "
                    f"at {self.schema_version()!r}: restore it with the gistasks release "
                    f"that made it, then upgrade")
            tables = {t.name: t for t in _data_tables()}
            with self.db.write() as conn:
                names = ", ".join(f'"{t.name}"' for t in tables.values())
                conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
                _insert_dump(conn, f, tables)
                for table in tables.values():
                    keys = list(table.primary_key.columns)
                    if len(keys) == 1 and isinstance(keys[0].type, Integer):
                        name = keys[0].name
                        conn.execute(text(
                            f"SELECT setval(pg_get_serial_sequence('{table.name}', '{name}'), "
                            f"coalesce(max(\"{name}\"), 1), max(\"{name}\") IS NOT NULL) "
                            f"FROM \"{table.name}\""))

SQLITE_MEMBER = "database.sqlite"
ROWS_MEMBER = "database.rows"


@dataclass
class DatabaseExport:
    """The database's part of a backup: ``kind`` ``sqlite`` (a file, ``path``) or
    ``postgresql`` (``rows()``, read in the export's transaction)."""

    kind: str
    schema: str
    path: Path | None
    conn: Connection | None

    def rows(self) -> Iterator[bytes]:
        """The dump: a first line with the schema revision, then for each table a line with
        its name and columns, its rows as JSON arrays, and an end line."""
        assert self.conn is not None
        yield (json.dumps({"schema": self.schema, "kind": "gistasks-rows"}) + "\n").encode()
        for table in _data_tables():
            columns = [c.name for c in table.columns]
            yield (json.dumps({"table": table.name, "columns": columns}) + "\n").encode()
            result = self.conn.execution_options(stream_results=True,
                                                 yield_per=ROWS_BATCH).execute(select(table))
            for part in result.partitions(ROWS_BATCH):
                yield "".join(json.dumps(list(r), separators=(",", ":")) + "\n"
                              for r in part).encode()
            yield (json.dumps({"end": table.name}) + "\n").encode()


def _insert_dump(conn: Connection, f: IO[bytes], tables: dict[str, Any]) -> None:
    table: Any = None
    columns: list[str] = []
    batch: list[dict[str, Any]] = []
    for raw in iter(lambda: f.readline(MAX_ROW_LINE), b""):
        if not raw.endswith(b"\n"):
            raise RestoreRefusedError("the backup's database dump is damaged (a line too long)")
        value = json.loads(raw)
        if isinstance(value, list):
            if table is None or len(value) != len(columns):
                raise RestoreRefusedError("the backup's database dump is damaged (a stray row)")
            batch.append(dict(zip(columns, value, strict=True)))
            if len(batch) >= ROWS_BATCH:
                conn.execute(insert(table), batch)
                batch = []
        elif "table" in value:
            table = tables.get(value["table"])
            if table is None:
                raise RestoreRefusedError(f"the backup holds a table {value['table']!r} this "
                                     f"gistasks does not have")
            columns = list(value["columns"])
            unknown = set(columns) - {c.name for c in table.columns}
            if unknown:
                raise RestoreRefusedError(f"the backup's table {table.name} has columns this "
                                     f"gistasks does not know: {sorted(unknown)}")
        elif "end" in value:
            if batch:
                conn.execute(insert(table), batch)
                batch = []
            table = None


def _copy_sqlite(live: Path, path: Path) -> None:
    """The live SQLite database copied to ``path`` with the online backup API (one step, one
    read transaction), as a single file without its recovery rows."""
    src = sqlite3.connect(f"file:{live}?mode=ro", uri=True, timeout=30)
    dst = sqlite3.connect(path)
    try:
        src.backup(dst)
        dst.execute("PRAGMA journal_mode=DELETE")
        for name in RECOVERY_TABLES:
            if dst.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name=?",
                           (name,)).fetchone():
                dst.execute(f'DELETE FROM "{name}"')
        dst.commit()
    finally:
        dst.close()
        src.close()


def check_sqlite(path: Path) -> str:
    """The schema revision of a restored SQLite file; RestoreRefusedError when it is not a
    gistasks database. (Its pages need no check of SQLite's: the file is byte for byte the
    copy the backup took, its SHA-256 checked against the backup's manifest.)"""
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
        finally:
            conn.close()
    except sqlite3.Error as exc:
        raise RestoreRefusedError(f"the backup's database cannot be read: {exc}") from exc
    return str(row[0]) if row else ""


def swap_sqlite(live: Path, staged: Path) -> None:
    """Put the restored file ``staged`` in the place of the live database ``live`` (the server
    not running): the live recovery rows are copied into it first, then the live file's WAL
    is dropped and the staged file renamed over it. Idempotent until the rename: a crash
    before it leaves both files as they were, and the next call starts again."""
    if live.exists():
        conn = sqlite3.connect(staged)
        try:
            conn.execute("ATTACH DATABASE ? AS live", (str(live),))
            for name in RECOVERY_TABLES:
                here = _columns(conn, "main", name)
                there = _columns(conn, "live", name)
                shared = [c for c in here if c in there]
                if not here or not shared:
                    continue
                cols = ", ".join(f'"{c}"' for c in shared)
                conn.execute(f'DELETE FROM main."{name}"')
                conn.execute(f'INSERT INTO main."{name}" ({cols}) SELECT {cols} '
                             f'FROM live."{name}"')
            conn.commit()
            conn.execute("DETACH DATABASE live")
        finally:
            conn.close()
    for suffix in ("-wal", "-shm", "-journal"):
        Path(f"{live}{suffix}").unlink(missing_ok=True)
    fd = os.open(staged, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(staged, live)


def _columns(conn: sqlite3.Connection, schema: str, table: str) -> list[str]:
    return [r[1] for r in conn.execute(f'PRAGMA {schema}.table_info("{table}")')]
