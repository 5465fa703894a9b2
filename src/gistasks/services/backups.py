"""Backups and restore of the deployment (ArcGIS Enterprise's disaster-recovery API).

A **store** is a directory (local, or a mounted network file system) registered by name;
``default`` (``<data dir>/backups``) exists from the first start. A **backup** is one file in a
store, ``<name>.gtbackup`` (the format: ``gistasks.security.archive``): the database (a
consistent copy taken while the server runs), every file of the data directory (items, GP
job folders, run outputs, keys, settings), compressed and encrypted under the passcode.

Taking one, while tasks fire and jobs run: the files of the data directory are hard-linked
into a private folder first (a file replaced or removed afterwards keeps its linked version),
then the database is copied (one read transaction), then the files made in between are linked
too; the archive is written to a hidden temporary name in the store, synced and renamed, so a
crash or a full disk leaves nothing that looks like a backup.

Restoring one, all or nothing: the backup is decrypted and checked whole into
``<data dir>/.restore/<job>/`` beside the live state (a wrong passcode, a damaged or truncated
file, a newer schema, too little space: refused there, nothing live touched), a ``COMMIT``
mark is written, and the swap is made with the server stopped: by ``gistasks restore`` at once,
or, for a restore asked through the API, by the server restarting itself. A swap interrupted
by a crash is finished at the next start (``apply_pending_restore``). The recovery tables (the
stores, the list of backups, the operations) are kept as they are.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import json
import logging
import os
import queue
import re
import shutil
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from gistasks import __version__, jsonsafe
from gistasks.security import archive
from gistasks.security.keys import write_private
from gistasks.services.errors import (
    InvalidParameterError,
    MissingParameterError,
    NotFoundError,
    RefusedError,
    ServiceError,
)
from gistasks.store import Store
from gistasks.store.records import AdminJobRecord, BackupRecord, BackupStoreRecord
from gistasks.store.recovery import (
    ROWS_MEMBER,
    SQLITE_MEMBER,
    RestoreRefusedError,
    check_sqlite,
    schema_revisions,
    swap_sqlite,
)

log = logging.getLogger("gistasks.backups")
SUFFIX = ".gtbackup"
DEFAULT_STORE = "default"
DEFAULT_STORE_DIR = "backups"
STORES_DIR = "backupstores"
"""Where a store registered without a directory lives: ``<data dir>/backupstores/<name>``."""
RESTORE_DIR = ".restore"
BACKUP_STAGING = ".backup-"
SERVE_LOCK = "serve.lock"
COMMIT = "COMMIT"
STAGING_LOCK = ".lock"
FILES = "files"
MIN_PASSCODE = archive.MIN_PASSCODE
MAX_PASSCODE = 1024
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
STORE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
DEFAULT_TIMEOUT_MINUTES = 120
HEARTBEAT_S = 5.0
STALE_S = 60.0
"""An operation whose record was not updated for this long lost its server: it is failed and
its temporary files removed."""
SPACE_MARGIN = 64 * 1024 * 1024
KEEP_JOBS_DAYS = 400
"""The record of operations (``admin/jobs``) keeps this long, trimmed at start."""
RESTORE_UNAVAILABLE = ("The service is being restored from a backup; it is unavailable until "
                       "the restore ends.")
SUBMITTED, EXECUTING, COMPLETED, FAILED = "SUBMITTED", "EXECUTING", "COMPLETED", "FAILED"


class BackupError(ServiceError):
    """A backup or restore that failed on its way (disk full, damaged file…)."""


@dataclass
class Stage:
    name: str
    started: float = field(default_factory=time.monotonic)
    ended: float | None = None
    state: str = "running"
    at_ms: int = 0

    def json(self) -> dict[str, Any]:
        millis = int(((self.ended or time.monotonic()) - self.started) * 1000)
        return {"name": self.name, "state": self.state,
                "duration": f"{millis} millis (~ {millis // 60000} minutes)",
                "lastUpdated": self.at_ms}


@dataclass(frozen=True)
class Progress:
    """What a progress bar shows: ``done`` of ``total`` bytes in ``stage``."""

    stage: str
    done: int
    total: int


ProgressFn = Callable[[Progress], None]


def duration_text(ms: int) -> str:
    """``00hr:01min:04sec:221millisec``, as the status resource shows durations."""
    hours, rest = divmod(max(ms, 0), 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    seconds, millis = divmod(rest, 1000)
    return f"{hours:02d}hr:{minutes:02d}min:{seconds:02d}sec:{millis}millisec"


def check_passcode(passcode: str | None, name: str = "passcode") -> str:
    if not passcode:
        raise MissingParameterError(name, "The passcode that encrypts the backup (at least "
                                    f"{MIN_PASSCODE} characters).")
    if not MIN_PASSCODE <= len(passcode) <= MAX_PASSCODE:
        raise InvalidParameterError(name, f"A passcode has {MIN_PASSCODE} to {MAX_PASSCODE} "
                                    "characters.")
    return passcode


def check_name(name: str | None, param: str = "name") -> str:
    if not name:
        raise MissingParameterError(param, "The backup's name.")
    if not NAME.fullmatch(name):
        raise InvalidParameterError(param, "A backup name is 1 to 100 letters, digits, '.', "
                                    "'_' or '-', starting with a letter or digit.")
    return name


def scheduled_name(prefix: str, at_ms: int) -> str:
    """``<prefix>-YYYY-MM-DD-HH-MM-SS`` of ``at_ms`` (UTC), the name of a scheduled backup."""
    stamp = datetime.fromtimestamp(at_ms / 1000, UTC).strftime("%Y-%m-%d-%H-%M-%S")
    return f"{prefix}-{stamp}"


def _publish(partial: Path, final: Path) -> None:
    """Give a complete backup its name, never over another file: a hard link (which fails
    when the name is taken), or, on a file system without them, a rename after a check."""
    try:
        os.link(partial, final)
    except FileExistsError:
        raise RefusedError("create the backup", f"a file {final.name} exists") from None
    except OSError:
        if final.exists():
            raise RefusedError("create the backup", f"a file {final.name} exists") from None
        os.rename(partial, final)
        return
    partial.unlink()


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _free_bytes(path: Path) -> int:
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


def _top_level(data_dir: Path, excluded: frozenset[str]) -> list[str]:
    return sorted(n for n in os.listdir(data_dir)
                  if n not in excluded and not n.startswith(BACKUP_STAGING))


@dataclass(frozen=True)
class Scope:
    """What of the data directory a backup holds: everything but the live database's files,
    the stores inside it, and the temporary folders of backups and restores."""

    data_dir: Path
    excluded: frozenset[str]
    """Top-level names left out."""
    database_files: frozenset[Path] = frozenset()
    """The live database's files (resolved), left out wherever they are."""

    def top_level(self) -> list[str]:
        """The data directory's top-level names a backup holds, sorted."""
        return _top_level(self.data_dir, self.excluded)

    def files(self) -> Iterator[tuple[str, Path]]:
        """``(relative POSIX path, absolute path)`` of every regular file in scope (symbolic
        links and special files are left out), in a stable order."""
        stack: list[tuple[str, Path]] = [(name, self.data_dir / name)
                                         for name in reversed(self.top_level())]
        while stack:
            rel, path = stack.pop()
            try:
                if path.is_symlink():
                    continue
                if path.is_dir():
                    children = sorted(os.listdir(path), reverse=True)
                    stack.extend((f"{rel}/{c}", path / c) for c in children)
                elif path.is_file() and path.resolve() not in self.database_files:
                    yield rel, path
            except FileNotFoundError:
                continue  # removed while we looked


class BackupService:
    """The stores, the backups, backing up and restoring, and the record of operations."""

    def __init__(self, store: Store, data_dir: Path, now_ms: Callable[[], int], node: str,
                 admin_url: Callable[[], str], database_file: Path | None = None,
                 restart: Callable[[], None] | None = None,
                 store_roots: tuple[Path, ...] = (), scrypt_n: int = 2**17) -> None:
        self.store = store
        self.data_dir = data_dir
        self.now_ms = now_ms
        self.node = node
        self.admin_url = admin_url
        self.database_file = database_file
        """The live SQLite file (None on PostgreSQL)."""
        self.restart = restart
        """Stops and starts the server again (set by ``serve``): a restore asked through the
        API is swapped in while the server is stopped."""
        self.alone: Callable[[], bool] | None = None
        """Whether no other node shares the data directory (set by ``serve``): a restore
        would replace their state under them."""
        self.scrypt_n = scrypt_n
        """The scrypt cost of new backups' keys (recorded in each file; a restore reads it
        there)."""
        self.store_roots = store_roots
        """Where stores may be registered besides ``<data dir>/backupstores/``."""
        self.restoring = False
        """True from the moment a restore asked through the API starts until the server
        restarts: every other request is answered ``RESTORE_UNAVAILABLE``."""
        self._busy = threading.Lock()

    # -- start ----------------------------------------------------------------------------------

    def start(self, applied_restore: str | None = None) -> None:
        """At start: register the default store the first time, fail the operations whose
        server died (removing their temporary files), list the backup files found in the
        stores that the list does not know, and mark a restore just swapped in completed."""
        default_dir = self.data_dir / DEFAULT_STORE_DIR
        if not self.store.recovery.stores():
            default_dir.mkdir(mode=0o700, exist_ok=True)
            self.store.recovery.add_store(BackupStoreRecord(
                DEFAULT_STORE, str(default_dir), True, "{}", self.now_ms()))
        now = self.now_ms()
        for job in self.store.recovery.unfinished_jobs():
            if job.id == applied_restore:
                continue
            if not _alive(job, self.node, now):
                self._end_job(job.id, FAILED, "The server running it stopped before it ended.")
        self.store.recovery.forget_jobs(now - KEEP_JOBS_DAYS * 86_400_000)
        for stale in self.data_dir.glob(BACKUP_STAGING + "*"):
            owner = self.store.recovery.job(stale.name[len(BACKUP_STAGING):])
            if owner is None or owner.status not in (SUBMITTED, EXECUTING):
                shutil.rmtree(stale, ignore_errors=True)
        for record in self.store.recovery.stores():
            self._clean_partials(record)
            self._discover(record)
        restored = self.store.recovery.job(applied_restore) if applied_restore else None
        if restored is not None:
            stages = jsonsafe.loads(restored.stages, 1024 * 1024)
            for stage in stages if isinstance(stages, list) else []:
                if isinstance(stage, dict) and stage.get("name") == "Swap in":
                    stage.update(state="completed", lastUpdated=self.now_ms(), duration=(
                        f"{self.now_ms() - restored.updated} millis (with the restart)"))
            self.store.recovery.update_job(restored.id, stages=jsonsafe.dumps(stages))
            self._end_job(restored.id, COMPLETED, "",
                          {"backupName": restored.backup_name, "restored": True})

    def _clean_partials(self, record: BackupStoreRecord) -> None:
        root = Path(record.root_dir)
        with contextlib.suppress(OSError):
            for partial in root.glob(".*.partial"):
                job_id = partial.name.rsplit(".", 2)[-2]
                job = self.store.recovery.job(job_id)
                if job is None or job.status not in (SUBMITTED, EXECUTING):
                    partial.unlink(missing_ok=True)

    def _discover(self, record: BackupStoreRecord) -> list[str]:
        """List the backup files of a store that the list does not have (a store registered
        again on the same directory, a backup whose listing a crash cut off)."""
        root = Path(record.root_dir)
        known = {b.file for b in self.store.recovery.backups(record.name)}
        found = []
        with contextlib.suppress(OSError):
            for path in sorted(root.glob("*" + SUFFIX)):
                if path.name in known or not path.is_file():
                    continue
                try:
                    with path.open("rb") as f:
                        header = archive.read_header(f)
                except (archive.ArchiveError, OSError):
                    continue
                name = str(header.get("name") or path.name[:-len(SUFFIX)])
                if not NAME.fullmatch(name):
                    continue
                st = path.stat()
                if self.store.recovery.add_backup(BackupRecord(
                        name, record.name, path.name, str(header.get("description", "")),
                        str(header.get("scheduleType", "MANUAL")),
                        _int(header.get("retentionDate"), -1), _int(header.get("startTime"), 0),
                        int(st.st_mtime * 1000), st.st_size, str(header.get("createdBy", "")),
                        str(header.get("release", "")), str(header.get("schema", "")))):
                    found.append(name)
        return found

    # -- stores ---------------------------------------------------------------------------------

    def stores(self) -> list[BackupStoreRecord]:
        return self.store.recovery.stores()

    def find_store(self, name: str) -> BackupStoreRecord:
        record = self.store.recovery.store(name)
        if record is None:
            raise NotFoundError(f"Backup store '{name}' does not exist.")
        return record

    def default_store(self) -> BackupStoreRecord:
        for record in self.stores():
            if record.is_default:
                return record
        raise NotFoundError("There is no default backup store.")

    def register_store(self, name: str | None, root_dir: str | None, settings: dict[str, Any],
                       is_default: bool) -> BackupStoreRecord:
        """Register a directory as a store (made if missing, 0700); the backups already in it
        are listed. ``settings`` is kept as given (``type``, ``storageConfig``…)."""
        if not name:
            raise MissingParameterError("storeName", "The new store's name.")
        if not STORE_NAME.fullmatch(name):
            raise InvalidParameterError("storeName", "A store name is 1 to 64 letters, digits, "
                                        "'_' or '-'.")
        if self.store.recovery.store(name) is not None:
            raise RefusedError("register the store", f"a store named '{name}' exists")
        where = root_dir or _setting_dir(settings)
        path = Path(where) if where else self.data_dir / STORES_DIR / name
        if not path.is_absolute():
            raise InvalidParameterError("rootDirectory", "The store's directory is an absolute "
                                        "path on the server.")
        path = Path(os.path.normpath(path))
        taken = {Path(s.root_dir) for s in self.stores()}
        if path in taken:
            raise RefusedError("register the store", "another store uses this directory")
        allowed = (self.data_dir.resolve() / STORES_DIR, *self.store_roots)
        real, data = path.resolve(), self.data_dir.resolve()
        inside_data = real == data or data in real.parents
        if (inside_data and not (allowed[0] == real or allowed[0] in real.parents)) or not any(
                real == root.resolve() or root.resolve() in real.parents for root in allowed):
            raise InvalidParameterError(
                "rootDirectory", f"A store lives under {allowed[0]} or a directory named in "
                "GISTASKS_BACKUP_STORE_ROOTS on the server.")
        try:
            path.mkdir(mode=0o700, parents=True, exist_ok=True)
            self._check_writable(path)
        except OSError as exc:
            raise InvalidParameterError("rootDirectory", f"{path} cannot be used: "
                                        f"{exc.strerror or exc}") from exc
        record = BackupStoreRecord(name, str(path), is_default, jsonsafe.dumps(settings),
                                   self.now_ms())
        if not self.store.recovery.add_store(record):
            raise RefusedError("register the store", f"a store named '{name}' exists")
        self._discover(record)
        return record

    @staticmethod
    def _check_writable(path: Path) -> None:
        probe = path / f".probe-{uuid.uuid4().hex}"
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.close(fd)
        probe.unlink()

    def update_store(self, name: str, settings: dict[str, Any]) -> None:
        """Make a store the default (``{"default": true}``), the one change a store takes."""
        self.find_store(name)
        unknown = set(settings) - {"default", "isDefault"}
        if unknown or not settings:
            raise InvalidParameterError("settings", "Only the default can change: "
                                        "{\"default\": true}.")
        value = settings.get("default", settings.get("isDefault"))
        if value is not True:
            raise InvalidParameterError("settings", "Make another store the default instead "
                                        "({\"default\": true} on it).")
        self.store.recovery.make_default(name)

    def unregister_store(self, name: str) -> None:
        """Forget a store (its backup files stay; registering its directory again lists
        them). The default store cannot go while it is the default."""
        record = self.find_store(name)
        if record.is_default:
            raise RefusedError("unregister the store", "it is the default store: make another "
                               "store the default first")
        self.store.recovery.remove_store(name)

    def validate_store(self, name: str) -> dict[str, Any]:
        """Whether the store's directory is there and writable, and its free space."""
        record = self.find_store(name)
        path = Path(record.root_dir)
        out: dict[str, Any] = {"status": "success", "storeName": name, "rootDir": str(path)}
        try:
            self._check_writable(path)
            out.update(writable=True, freeSpace=_free_bytes(path))
        except OSError as exc:
            out.update(status="failed", writable=False,
                       messages=[f"{path} is not writable: {exc.strerror or exc}"])
        return out

    # -- backups --------------------------------------------------------------------------------

    def backups(self, store: str | None = None) -> list[BackupRecord]:
        if store is not None:
            self.find_store(store)
        return self.store.recovery.backups(store)

    def find(self, name: str, store: str | None = None) -> BackupRecord:
        record = self.store.recovery.backup(name)
        if record is None:
            raise NotFoundError(f"Backup '{name}' does not exist.")
        if store is not None and record.store != store:
            raise NotFoundError(f"Backup '{name}' is not in store '{store}' (it is in "
                                f"'{record.store}').")
        return record

    def path_of(self, record: BackupRecord) -> Path:
        return Path(self.find_store(record.store).root_dir) / record.file

    def set_retention(self, name: str, retention_date: int | None,
                      store: str | None = None) -> None:
        self.find(name, store)
        if retention_date is None:
            raise MissingParameterError("retentionDate", "Epoch ms, or -1 to keep it for ever.")
        self._check_retention(retention_date)
        self.store.recovery.set_retention(name, retention_date)

    @staticmethod
    def _check_retention(retention_date: int) -> None:
        if retention_date != -1 and retention_date <= 0:
            raise InvalidParameterError("retentionDate", "Epoch milliseconds, or -1 to keep "
                                        "the backup for ever.")

    def delete(self, name: str, store: str | None = None) -> None:
        """Remove a backup, its file first (a listed backup always has its file)."""
        record = self.find(name, store)
        with contextlib.suppress(NotFoundError):
            self.path_of(record).unlink(missing_ok=True)
        self.store.recovery.remove_backup(name)

    def clean_expired(self) -> str:
        """Delete the backups whose retention date has passed; the run's result text."""
        gone = []
        for record in self.store.recovery.expired(self.now_ms()):
            try:
                self.delete(record.name)
                gone.append(record.name)
            except (OSError, ServiceError):
                continue
        if not gone:
            return "No backup had passed its retention date."
        return f"Deleted {len(gone)} backup(s) past their retention date: {', '.join(gone)}."

    def validate(self, name: str, passcode: str | None = None,
                 store: str | None = None, progress: ProgressFn | None = None
                 ) -> dict[str, Any]:
        """Check a backup: its file is there with its size and a readable header; with the
        passcode, every chunk decrypted and every member's SHA-256 compared with the
        manifest."""
        record = self.find(name, store)
        path = self.path_of(record)
        out: dict[str, Any] = {"status": "success", "backupName": name, "verified": False}
        try:
            size = path.stat().st_size
            with path.open("rb") as f:
                header = archive.read_header(f)
            if size != record.size:
                raise archive.CorruptArchive(
                    f"the file has {size} bytes, the backup had {record.size}")
            if passcode:
                with path.open("rb") as f:
                    manifest = archive.verify(f, passcode, _bytes_progress(
                        progress, "Verify", size))
                out.update(verified=True, members=len(manifest.get("members", [])))
            out.update(size=size, release=header.get("release", ""),
                       schemaVersion=header.get("schema", ""))
        except archive.WrongPasscode as exc:
            raise InvalidParameterError("passcode", str(exc),
                                        "The passcode does not open this backup") from exc
        except (archive.ArchiveError, OSError) as exc:
            out.update(status="failed", messages=[f"The backup is damaged: {exc}"])
        return out

    # -- operations -----------------------------------------------------------------------------

    def job(self, job_id: str) -> AdminJobRecord:
        record = self.store.recovery.job(job_id)
        if record is None:
            raise NotFoundError(f"Job '{job_id}' does not exist.")
        return record

    def jobs(self) -> list[AdminJobRecord]:
        return self.store.recovery.jobs()

    def job_url(self, job_id: str) -> str:
        return f"{self.admin_url()}/jobs/{job_id}"

    def last_operation(self) -> AdminJobRecord | None:
        for job in self.store.recovery.jobs(50):
            if job.operation in ("Backup", "Restore"):
                return job
        return None

    def settings(self) -> dict[str, Any]:
        stored = self.store.recovery.settings()
        return {"timeoutInMinutes": int(stored.get("timeoutInMinutes",
                                                   DEFAULT_TIMEOUT_MINUTES))}

    def update_settings(self, values: dict[str, Any]) -> dict[str, Any]:
        unknown = set(values) - {"timeoutInMinutes"}
        if unknown:
            raise InvalidParameterError("settings", f"Unknown setting(s) {sorted(unknown)}: "
                                        "only timeoutInMinutes.")
        minutes = values.get("timeoutInMinutes")
        if not isinstance(minutes, int) or isinstance(minutes, bool) or not (
                1 <= minutes <= 7 * 24 * 60):
            raise InvalidParameterError("settings", "timeoutInMinutes is a whole number of "
                                        "minutes from 1 to 10080.")
        self.store.recovery.set_settings({"timeoutInMinutes": str(minutes)})
        return self.settings()

    def _new_job(self, operation: str, uri: str, username: str, backup: str, store: str,
                 schedule_type: str) -> str:
        job_id = "j" + str(uuid.uuid4())
        now = self.now_ms()
        self.store.recovery.add_job(AdminJobRecord(
            job_id, operation, uri, SUBMITTED, username, schedule_type, backup, store, "",
            "[]", "{}", self.node, now, 0, now))
        return job_id

    def record_done(self, operation: str, uri: str, username: str, subject: str
                    ) -> AdminJobRecord:
        """The job of an operation done at once that a client asked to be asynchronous
        (``async=true``): it is COMPLETED from the start."""
        job_id = self._new_job(operation, uri, username, subject, "", "MANUAL")
        self._end_job(job_id, COMPLETED, "", {"name": subject})
        return self.job(job_id)

    def _end_job(self, job_id: str, status: str, message: str,
                 result: dict[str, Any] | None = None, stages: list[Stage] | None = None
                 ) -> None:
        now = self.now_ms()
        values: dict[str, Any] = {"status": status, "message": message[:4000],
                                  "end_time": now, "updated": now,
                                  "result": jsonsafe.dumps(result or {})}
        if stages is not None:
            values["stages"] = jsonsafe.dumps([s.json() for s in stages])
        self.store.recovery.update_job(job_id, **values)

    @contextlib.contextmanager
    def _exclusive(self, operation: str, wait_s: float = 0.0) -> Iterator[None]:
        """One backup or restore at a time in the deployment: refused at once, or after
        waiting up to ``wait_s`` for the one in progress (a scheduled backup waits for
        another task's backup of the same minute)."""
        deadline = time.monotonic() + wait_s
        while True:
            if self.restoring:
                raise RefusedError(operation, "the service is being restored")
            got = self._busy.acquire(timeout=0.2) if wait_s else self._busy.acquire(False)
            if got:
                other = self._running_elsewhere()
                if other is None:
                    break
                self._busy.release()
            if time.monotonic() >= deadline:
                raise RefusedError(operation, "another backup or restore is in progress")
            if got:
                time.sleep(0.5)
        try:
            yield
        finally:
            if not self.restoring:  # a restore prepared keeps it until the restart
                self._busy.release()

    @contextlib.contextmanager
    def _heartbeat(self, job_id: str) -> Iterator[None]:
        """Keep an operation's record fresh (``updated``) every ``HEARTBEAT_S`` while the
        block runs, whatever step it is in (a long database copy, an fsync on a network
        file system): other processes take an operation not heard from for ``STALE_S`` for
        dead."""
        stop = threading.Event()

        def beat() -> None:
            while not stop.wait(HEARTBEAT_S):
                with contextlib.suppress(Exception):  # the next beat tries again
                    self.store.recovery.update_job(job_id, updated=self.now_ms())

        thread = threading.Thread(target=beat, name=f"heartbeat-{job_id}", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()

    def _running_elsewhere(self) -> str | None:
        """The id of a backup or restore another process is running, if any."""
        now = self.now_ms()
        for job in self.store.recovery.unfinished_jobs():
            if job.operation in ("Backup", "Restore") and _alive(job, self.node, now):
                return job.id
        return None

    # -- backing up -----------------------------------------------------------------------------

    def create(self, name: str | None, passcode: str | None, *, username: str,
               store: str | None = None, description: str = "",
               retention_date: int | None = None, schedule_type: str = "MANUAL",
               wait: bool = False, progress: ProgressFn | None = None) -> AdminJobRecord:
        """Start a backup of the deployment into ``store`` (the default store when None);
        its job record at once, or (``wait``) when it ended. Every parameter is checked
        before the job exists."""
        name = check_name(name)
        passcode = check_passcode(passcode)
        record = self.find_store(store) if store else self.default_store()
        retention = -1 if retention_date is None else retention_date
        self._check_retention(retention)
        if len(description) > 4096:
            raise InvalidParameterError("description", "At most 4096 characters.")
        if self.store.recovery.backup(name) is not None or (
                Path(record.root_dir) / (name + SUFFIX)).exists():
            raise RefusedError("create the backup", f"a backup named '{name}' exists")
        def work(started: Callable[[str], None]) -> None:
            with self._exclusive("create the backup",
                                 self.settings()["timeoutInMinutes"] * 60.0 if wait else 0):
                job_id = self._new_job(
                    "Backup", f"/admin/system/disasterrecovery/stores/{record.name}/"
                    "backups/create", username, name, record.name, schedule_type)
                started(job_id)
                with self._heartbeat(job_id):
                    self._backup(job_id, name, passcode, record, description, retention,
                                 schedule_type, username, progress)

        return self.job(self._operation("create the backup", wait, work))

    def run_scheduled(self, parameters: dict[str, Any], fire_ms: int, owner: str) -> str:
        """One fire of a CreateBackup task: ``<prefix>-YYYY-MM-DD-HH-MM-SS``, SCHEDULED, kept
        until the fire's time plus ``retentionOffset``; the run's result text."""
        offset = parameters.get("retentionOffset", -1)
        retention = -1 if not isinstance(offset, int) or offset < 0 else fire_ms + offset
        name = scheduled_name(str(parameters.get("name", "backup")), fire_ms)
        job = self.create(name, parameters.get("passcode"), username=owner,
                          store=str(parameters.get("storeName") or "") or None,
                          description=str(parameters.get("description", "")),
                          retention_date=retention, schedule_type="SCHEDULED", wait=True)
        record = self.find(name)
        return (f"Backup {name} created in store {record.store} ({record.size} bytes, "
                f"job {job.id}).")

    def _backup(self, job_id: str, name: str, passcode: str, record: BackupStoreRecord,
                description: str, retention: int, schedule_type: str, username: str,
                progress: ProgressFn | None) -> None:
        stages: list[Stage] = []
        root = Path(record.root_dir)
        staging = self.data_dir / (BACKUP_STAGING + job_id)
        partial = root / f".{name}.{job_id}.partial"
        final = root / (name + SUFFIX)
        start_ms = self.now_ms()
        timeout_s = self.settings()["timeoutInMinutes"] * 60
        deadline = time.monotonic() + timeout_s

        def stage(title: str) -> Stage:
            if stages:
                stages[-1].ended, stages[-1].state = time.monotonic(), "completed"
                stages[-1].at_ms = self.now_ms()
            stages.append(Stage(title, at_ms=self.now_ms()))
            self.store.recovery.update_job(job_id, status=EXECUTING, updated=self.now_ms(),
                                           stages=jsonsafe.dumps([s.json() for s in stages]))
            return stages[-1]

        def tick() -> None:
            if time.monotonic() > deadline:
                raise BackupError(f"The backup ran longer than {timeout_s // 60} minutes "
                                  "(disaster recovery setting timeoutInMinutes) and was "
                                  "cancelled.")

        published = False
        try:
            stage("Validation")
            self._check_writable(root)
            if self.store.recovery.backup(name) is not None or final.exists():
                raise RefusedError("create the backup", f"a backup named '{name}' exists")
            stage("Stage files")
            staging.mkdir(mode=0o700)
            scope = self.scope()
            farm = LinkFarm(staging / FILES)
            farm.link(scope.files(), tick)
            stage("Stage relational store")
            with self.store.recovery.export(staging) as export:
                farm.link(scope.files(), tick)  # made while the copy began
                total = farm.size + (export.path.stat().st_size if export.path else 0)
                header = {"name": name, "description": description,
                          "scheduleType": schedule_type, "retentionDate": retention,
                          "startTime": start_ms, "createdBy": username,
                          "release": __version__, "schema": export.schema,
                          "database": export.kind, "size": total, "files": farm.count}
                stage("Write backup")
                report = _bytes_progress(progress, "Backup", total)
                fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "wb", buffering=0) as raw, archive.ArchiveWriter(
                        raw, passcode, header, on_bytes=lambda _n: tick(),
                        scrypt_n=self.scrypt_n) as writer:
                    done = [0]

                    def counted(n: int) -> None:
                        done[0] += n
                        if report:
                            report(done[0])

                    if export.path is not None:
                        writer.add_file(SQLITE_MEMBER, export.path)
                        counted(export.path.stat().st_size)
                    else:
                        writer.add_stream(ROWS_MEMBER, export.rows())
                    for rel, path, size in farm.entries():
                        writer.add_file(f"{FILES}/{rel}", path)
                        counted(size)
                    writer.finish({"completeTime": self.now_ms()})
                    os.fsync(raw.fileno())
            stage("Post backup operation cleanup")
            _publish(partial, final)
            published = True
            _fsync_dir(root)
            size = final.stat().st_size
            complete = self.now_ms()
            if not self.store.recovery.add_backup(BackupRecord(
                    name, record.name, final.name, description, schedule_type, retention,
                    start_ms, complete, size, username, __version__, export.schema)):
                raise RefusedError("create the backup", f"a backup named '{name}' exists")
            published = False  # listed: it stays
            stages[-1].ended, stages[-1].state = time.monotonic(), "completed"
            self._end_job(job_id, COMPLETED, "", {
                "backupName": name, "backupStore": record.name, "size": size,
                "files": farm.count, "url": f"{self.admin_url()}/system/disasterrecovery/"
                f"stores/{record.name}/backups/{name}"}, stages)
        except BaseException as exc:
            partial.unlink(missing_ok=True)
            if published:  # made but not listed: nothing may look like a backup
                final.unlink(missing_ok=True)
            if stages:
                stages[-1].ended, stages[-1].state = time.monotonic(), "failed"
            self._end_job(job_id, FAILED, _why(exc, record.name), None, stages)
            raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    def scope(self) -> Scope:
        """What a backup of this deployment holds."""
        excluded = {RESTORE_DIR, SERVE_LOCK, DEFAULT_STORE_DIR, STORES_DIR}
        data = self.data_dir.resolve()
        database: set[Path] = set()
        if self.database_file is not None:
            live = self.database_file.resolve()
            database = {Path(f"{live}{suffix}") for suffix in ("", "-wal", "-shm", "-journal")}
            if live.parent == data:
                excluded |= {p.name for p in database}
        for record in self.stores():
            with contextlib.suppress(OSError, ValueError):
                inside = Path(record.root_dir).resolve().relative_to(data)
                if inside.parts:
                    excluded.add(inside.parts[0])
        return Scope(self.data_dir, frozenset(excluded), frozenset(database))

    # -- restoring ------------------------------------------------------------------------------

    def restore(self, name: str, passcode: str | None, *, username: str,
                store: str | None = None, wait: bool = True) -> AdminJobRecord:
        """Restore a backup through the API: checked and prepared beside the live state while
        the API answers that the service is being restored, then swapped in by restarting the
        server (``restart``). Refusals (wrong passcode, damaged file, newer schema, no
        space) change nothing and end the maintenance."""
        record = self.find(name, store)
        passcode = check_passcode(passcode)
        if self.restart is None:
            raise RefusedError("restore the backup", "this server cannot restart itself: stop "
                               "it and run 'gistasks restore'")
        if self.alone is not None and not self.alone():
            raise RefusedError("restore the backup", "other nodes share this data directory: "
                               "stop them first, then restore")
        path = self.path_of(record)
        def work(started: Callable[[str], None]) -> None:
            with self._exclusive("restore the backup"):
                job_id = self._new_job(
                    "Restore", f"/admin/system/disasterrecovery/stores/{record.store}/"
                    f"backups/{name}/restore", username, name, record.store,
                    record.schedule_type)
                started(job_id)
                try:
                    with path.open("rb") as f, archive.ArchiveReader(f, passcode) as r:
                        check_restorable(r.header, self._kind(), self.data_dir,
                                         self.store.recovery.schema_version())
                    self.restoring = True
                    self._staged(job_id, path, passcode)
                except BaseException as exc:
                    self.restoring = False
                    self._end_job(job_id, FAILED, _why(exc, record.store))
                    raise
            assert self.restart is not None
            self.restart()

        return self.job(self._operation("restore the backup", wait, work))

    @staticmethod
    def _operation(operation: str, wait: bool,
                   work: Callable[[Callable[[str], None]], None]) -> str:
        """Run a backup's or a restore's ``work`` here (``wait``) or in a thread of its own,
        and return its job's id once ``work`` has made the job (``started``). What ``work``
        raises is raised here (as the service error it means) when it waits, or when the
        job was not made; otherwise the job tells."""
        job: list[str] = []
        failure: list[BaseException] = []
        ready = threading.Event()

        def started(job_id: str) -> None:
            job.append(job_id)
            ready.set()

        def run() -> None:
            try:
                work(started)
            except BaseException as exc:  # handed to the caller, or told by the job
                failure.append(exc)
            finally:
                ready.set()

        if wait:
            run()
        else:
            threading.Thread(target=run, name=operation, daemon=True).start()
            ready.wait()
        if failure and (wait or not job):
            raise _service_error(failure[0], operation)
        return job[0]

    def restore_offline(self, path: Path, passcode: str, username: str,
                        progress: ProgressFn | None = None) -> str:
        """``gistasks restore``: restore a backup file into this data directory, the server
        not running (the caller holds the data directory's lock). Checked and prepared
        beside the live state, then swapped in; the job id."""
        passcode = check_passcode(passcode)
        name = path.name.removesuffix(SUFFIX)
        job_id = self._new_job("Restore", f"/admin/system/disasterrecovery/backups/{name}"
                               "/restore", username, name, "", "MANUAL")
        try:
            self._staged(job_id, path, passcode, progress)
        except BaseException as exc:
            self._end_job(job_id, FAILED, _why(exc, ""))
            raise
        return job_id

    def _staged(self, job_id: str, path: Path, passcode: str,
                progress: ProgressFn | None = None) -> None:
        """Prepare a restore (``stage_restore``), recording its stages on its job (the swap
        is the last, recorded when the next start has made it). On any failure, even after
        the preparation was marked ready, the preparation is removed: nothing may be swapped
        in that was not reported ready."""
        checked = Stage("Validation", at_ms=self.now_ms())
        staging = Stage("Stage backup", at_ms=self.now_ms())
        stages = [checked, staging]
        try:
            self.store.recovery.update_job(job_id, status=EXECUTING, updated=self.now_ms())
            checked.ended, checked.state = time.monotonic(), "completed"
            with self._heartbeat(job_id):
                stage_restore(path, passcode, self.data_dir, job_id, self.scope(),
                              self._kind(), self.store.recovery.schema_version(),
                              self.database_file, progress)
            staging.ended, staging.state, staging.at_ms = (time.monotonic(), "completed",
                                                           self.now_ms())
            self.store.recovery.update_job(job_id, updated=self.now_ms(), stages=jsonsafe.dumps(
                [s.json() for s in stages] + [{"name": "Swap in", "state": "pending",
                                               "duration": "", "lastUpdated": 0}]))
        except BaseException:
            shutil.rmtree(self.data_dir / RESTORE_DIR / job_id, ignore_errors=True)
            staging.ended, staging.state = time.monotonic(), "failed"
            with contextlib.suppress(Exception):
                self.store.recovery.update_job(job_id, stages=jsonsafe.dumps(
                    [s.json() for s in stages]))
            raise

    def _kind(self) -> str:
        return "sqlite" if self.store.is_sqlite else "postgresql"


def process_name() -> str:
    """A name for a process that backs up or restores without a server (``gistasks backup``),
    in the shape of the engine's node names (``host-pid-…``), so that an operation it left
    unfinished is known to be over once the process is gone."""
    return f"{socket.gethostname()}-{os.getpid()}-cli{uuid.uuid4().hex[:6]}"


def _alive(job: AdminJobRecord, node: str, now_ms: int) -> bool:
    """Whether the process running an unfinished operation may still be at it: heard from
    within ``STALE_S``, not this process (whose operations ``_busy`` holds) nor an earlier
    life of it (same host and pid, another node name: ``serve`` restarts itself in place),
    and, on this host, a process that still exists (node names are ``host-pid-…``)."""
    if now_ms - job.updated > STALE_S * 1000 or job.node is None or job.node == node:
        return False
    parts = job.node.rsplit("-", 2)
    if len(parts) == 3 and parts[0] == socket.gethostname() and parts[1].isdigit():
        pid = int(parts[1])
        if pid == os.getpid():
            return False
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
    return True


def _setting_dir(settings: dict[str, Any]) -> str | None:
    for key in ("rootDir", "rootDirectory", "path", "directory"):
        value = settings.get(key)
        if isinstance(value, str) and value:
            return value
    config = settings.get("storageConfig")
    if isinstance(config, dict):
        return _setting_dir({k: v for k, v in config.items() if k != "storageConfig"})
    return None


def _int(value: Any, default: int) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def _no_space(exc: BaseException) -> bool:
    """Whether a disk full (or a quota) is behind ``exc``."""
    seen: BaseException | None = exc
    for _ in range(10):
        if seen is None:
            return False
        if isinstance(seen, OSError) and seen.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _why(exc: BaseException, store: str) -> str:
    if _no_space(exc):
        where = f"backup store '{store}'" if store else "the data directory"
        return f"There is not enough space in {where}; nothing was kept."
    if isinstance(exc, ServiceError):
        return str(exc)
    if isinstance(exc, archive.ArchiveError | RestoreRefusedError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def _service_error(exc: BaseException, operation: str) -> BaseException:
    """What a failed backup or restore (``operation``: "create the backup"…) is answered."""
    if isinstance(exc, ServiceError | KeyboardInterrupt | SystemExit):
        return exc
    if isinstance(exc, archive.WrongPasscode):
        return InvalidParameterError("passcode", str(exc), "The passcode does not open this "
                                     "backup")
    if isinstance(exc, archive.ArchiveError | RestoreRefusedError):
        return RefusedError(operation, str(exc))
    if _no_space(exc):
        return RefusedError(operation, "there is not enough space for it; nothing was kept "
                            "and nothing was changed")
    if isinstance(exc, FileNotFoundError):
        return NotFoundError(f"Unable to {operation}: {exc.filename or 'a file'} is missing.")
    if isinstance(exc, OSError):
        return RefusedError(operation, f"{exc.strerror or exc}"
                            + (f": {exc.filename}" if exc.filename else ""))
    return exc


def _bytes_progress(progress: ProgressFn | None, stage: str, total: int
                    ) -> Callable[[int], None] | None:
    if progress is None:
        return None
    return lambda done: progress(Progress(stage, done, total))


class LinkFarm:
    """Hard links to the files of the data directory, taken before the database copy: what
    is linked keeps the content it had (files are replaced by renaming), whatever the server
    does meanwhile. Where a link cannot be made (another file system), the file itself is
    read when the archive is written."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._entries: dict[str, tuple[Path, int, tuple[int, int]]] = {}
        self.size = 0

    @property
    def count(self) -> int:
        return len(self._entries)

    def link(self, files: Iterator[tuple[str, Path]], tick: Callable[[], None]) -> None:
        """Link every file not linked yet, and again a file replaced since it was linked
        (another inode: the second pass, after the database copy began, takes the version
        that goes with the copy)."""
        made: set[Path] = set()
        for rel, path in files:
            tick()
            try:
                st = path.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue  # removed while we looked
            known = self._entries.get(rel)
            if known is not None and known[2] == (st.st_dev, st.st_ino):
                continue
            target = self.root / rel
            try:
                if target.parent not in made:
                    target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
                    made.add(target.parent)
                if known is not None:
                    target.unlink(missing_ok=True)
                    self.size -= known[1]
                os.link(path, target, follow_symlinks=False)
                source = target
            except FileNotFoundError:
                if not path.exists():
                    self._entries.pop(rel, None)
                    continue
                source = path
            except OSError:
                source = path
            try:
                size = source.stat().st_size
            except FileNotFoundError:
                self._entries.pop(rel, None)
                continue
            self._entries[rel] = (source, size, (st.st_dev, st.st_ino))
            self.size += size

    def entries(self) -> Iterator[tuple[str, Path, int]]:
        for rel in sorted(self._entries):
            path, size, _ = self._entries[rel]
            yield rel, path, size


def check_restorable(header: dict[str, Any], kind: str, data_dir: Path,
                     live_schema: str) -> None:
    """Refuse, before anything is written, a backup this deployment cannot take: another
    kind of database, a newer schema (on PostgreSQL: another schema than the live one, whose
    tables the rows are loaded into), more than the free space of the data directory."""
    known = schema_revisions()
    schema = str(header.get("schema", ""))
    if schema not in known:
        raise RestoreRefusedError(f"the backup was made by a newer gistasks (schema {schema!r}; "
                             f"this one knows up to {known[-1]!r}): upgrade gistasks first")
    if kind == "postgresql" and schema != live_schema:
        raise RestoreRefusedError(
            f"the backup's database is at schema {schema!r} and this one at {live_schema!r}: "
            "on PostgreSQL a backup is restored by the gistasks release that made it (then "
            "upgrade)")
    if header.get("database") != kind:
        raise RestoreRefusedError(f"the backup holds a {header.get('database')} database and this "
                             f"deployment runs on {kind}")
    need = _int(header.get("size"), 0) + SPACE_MARGIN
    free = _free_bytes(data_dir)
    if free < need:
        raise RestoreRefusedError(f"the data directory has {free // 2**20} MiB free and the "
                             f"restore needs about {need // 2**20} MiB; nothing was changed")


def stage_restore(path: Path, passcode: str, data_dir: Path, job_id: str, scope: Scope,
                  kind: str, live_schema: str, database_file: Path | None,
                  progress: ProgressFn | None = None) -> Path:
    """Decrypt and check a whole backup into ``<data dir>/.restore/<job_id>/`` and, as its
    very last step, mark it ready to swap in (``COMMIT``); on any refusal the folder is
    removed and the live state was not touched. What could only fail during the swap is
    refused here: a top-level entry of the data directory on another file system (a mount
    point cannot be moved aside), a live database on another file system than the data
    directory. The folder is locked while it is prepared, so that another node starting
    meanwhile leaves it alone. Returns the folder."""
    restore_root = data_dir / RESTORE_DIR
    restore_root.mkdir(mode=0o700, exist_ok=True)
    staging = restore_root / job_id
    staging.mkdir(mode=0o700)
    lock = os.open(staging / STAGING_LOCK, os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(lock, fcntl.LOCK_EX)
    files = staging / FILES
    try:
        total = path.stat().st_size
        report = _bytes_progress(progress, "Restore", total)
        read = [0]

        def on_bytes(n: int) -> None:
            read[0] += n
            if report:
                report(read[0])

        with path.open("rb") as f:
            header = archive.read_header(f)
        bound = 2 * _int(header.get("size"), 0) + 256 * 1024 * 1024
        with path.open("rb") as f, archive.ArchiveReader(
                f, passcode, on_bytes=on_bytes, max_content=bound) as reader, \
                _FileWriter() as writer:
            check_restorable(reader.header, kind, data_dir, live_schema)
            made: set[Path] = set()
            database = None
            for name, chunks in reader.members():
                if name in (SQLITE_MEMBER, ROWS_MEMBER):
                    database = name
                    target = staging / name
                elif name.startswith(FILES + "/"):
                    rel = name[len(FILES) + 1:]
                    top = rel.split("/", 1)[0]
                    if top in scope.excluded or top.startswith(BACKUP_STAGING):
                        raise RestoreRefusedError(f"the backup holds {rel!r}, which a backup "
                                                  "never holds")
                    target = files / rel
                else:
                    raise RestoreRefusedError(f"the backup holds an unknown member {name!r}")
                if target.parent not in made:
                    target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
                    made.add(target.parent)
                writer.open(target)
                for chunk in chunks:
                    writer.write(chunk)
            if database is None:
                raise RestoreRefusedError("the backup holds no database")
        _sync_file_system(staging)
        if database == SQLITE_MEMBER:
            schema = check_sqlite(staging / SQLITE_MEMBER)
            if schema != reader.header.get("schema"):
                raise RestoreRefusedError("the backup's database is not the one its header "
                                          "names")
            if database_file is None:
                raise RestoreRefusedError("the backup holds a SQLite database and this "
                                          "deployment's database is not a SQLite file")
        files.mkdir(mode=0o700, exist_ok=True)
        entries = sorted(os.listdir(files))
        _check_swappable(data_dir, staging, scope, entries, database_file)
        write_private(staging / COMMIT, durable=True, data=jsonsafe.dumps({
            "job": job_id, "database": database, "excluded": sorted(scope.excluded),
            "entries": entries, "backup": reader.header.get("name", "")}).encode())
        return staging
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    finally:
        os.close(lock)


def _check_swappable(data_dir: Path, staging: Path, scope: Scope, entries: list[str],
                     database_file: Path | None) -> None:
    """Refuse what a swap could not do by renaming within one file system."""
    device = os.stat(staging).st_dev
    for name in sorted(set(entries) | set(scope.top_level())):
        with contextlib.suppress(FileNotFoundError):
            if os.stat(data_dir / name, follow_symlinks=False).st_dev != device:
                raise RestoreRefusedError(
                    f"{data_dir / name} is on another file system than the data directory "
                    "(a mount point): a restore cannot swap it; move it inside")
    if database_file is not None and os.stat(database_file.resolve().parent).st_dev != device:
        raise RestoreRefusedError(
            f"the database {database_file} is on another file system than the data "
            "directory: a restore cannot swap it in; restore into a data directory beside it")


class _FileWriter:
    """Writes the restored files in threads of their own (``THREADS``, each file whole by
    one of them, in turn), so that the reader's decryption, decompression and hashing go on
    meanwhile and the kernel's copying into new pages is spread over the cores; at most
    ``DEPTH`` pieces wait for each thread. An error of a thread (a full disk) is raised in
    the caller at its next call or at the end."""

    THREADS = 2
    DEPTH = 8

    def __init__(self) -> None:
        self._queues: list[queue.Queue[tuple[str, Any]]] = [
            queue.Queue(self.DEPTH) for _ in range(self.THREADS)]
        self._error: BaseException | None = None
        self._turn = -1
        self._threads = [threading.Thread(target=self._run, args=(q,), name="restore-writer",
                                          daemon=True) for q in self._queues]
        for thread in self._threads:
            thread.start()

    def _run(self, work: queue.Queue[tuple[str, Any]]) -> None:
        fd = -1
        while True:
            op, value = work.get()
            if self._error is not None and op != "stop":
                continue
            try:
                if op == "stop":
                    break
                if op == "open":
                    if fd >= 0:
                        os.close(fd)
                    fd = -1
                    fd = os.open(value, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                else:
                    view = memoryview(value)
                    while view:
                        view = view[os.write(fd, view):]
            except BaseException as exc:  # handed to the caller
                self._error = exc
        if fd >= 0:
            os.close(fd)

    def _put(self, op: str, value: Any) -> None:
        if self._error is not None:
            raise self._error
        self._queues[self._turn].put((op, value))

    def open(self, path: Path) -> None:
        self._turn = (self._turn + 1) % self.THREADS
        self._put("open", path)

    def write(self, data: bytes | memoryview) -> None:
        self._put("write", data)

    def __enter__(self) -> _FileWriter:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: object) -> None:
        for work in self._queues:
            work.put(("stop", None))
        for thread in self._threads:
            thread.join()
        if kind is None and self._error is not None:
            raise self._error


def _sync_file_system(path: Path) -> None:
    """Every write of the file system holding ``path`` on disk (one ``syncfs`` instead of a
    ``fsync`` per file; ``sync`` where there is no ``syncfs``)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.syncfs(fd) != 0:
            raise OSError(ctypes.get_errno(), "syncfs failed")
    except (AttributeError, OSError):
        os.sync()
    finally:
        os.close(fd)


def apply_pending_restore(data_dir: Path, store: Store, database_file: Path | None) -> str | None:
    """At start, before anything uses the database (the caller holds the data directory's
    lock alone): finish a restore marked ready (``COMMIT``), and remove what an unfinished
    one (unless another node is preparing it) or a finished swap left. Each step can be done
    again after a crash. A swap refused by its database step (which changes nothing) drops
    the restore. Returns the restore's job id when one was swapped in."""
    restore_root = data_dir / RESTORE_DIR
    if not restore_root.is_dir():
        return None
    applied = None
    for staging in sorted(restore_root.iterdir()):
        if staging.name.startswith("trash-") or not staging.is_dir():
            _remove(staging)
            continue
        if not (staging / COMMIT).is_file():
            if not _being_prepared(staging):
                shutil.rmtree(staging, ignore_errors=True)
            continue
        mark = json.loads((staging / COMMIT).read_text(encoding="utf-8"))
        database = mark["database"]
        try:
            if database == SQLITE_MEMBER and (staging / SQLITE_MEMBER).exists():
                if database_file is None:
                    raise RestoreRefusedError("a SQLite backup waits to be restored, but this "
                                              "server's database is not a SQLite file")
                swap_sqlite(database_file, staging / SQLITE_MEMBER)
            elif database == ROWS_MEMBER and (staging / ROWS_MEMBER).exists():
                store.migrate()
                store.recovery.load_rows(staging / ROWS_MEMBER)
                (staging / ROWS_MEMBER).unlink()
        except RestoreRefusedError as exc:
            log.error("the restore %s was dropped: %s", mark.get("job"), exc)
            _trash(restore_root, staging)
            continue
        _swap_files(data_dir, staging, frozenset(mark["excluded"]), set(mark["entries"]))
        applied = str(mark["job"])
        _trash(restore_root, staging)
    return applied


def _being_prepared(staging: Path) -> bool:
    """Whether a process holds the lock of a restore's preparation."""
    try:
        fd = os.open(staging / STAGING_LOCK, os.O_RDWR)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def _trash(restore_root: Path, staging: Path) -> None:
    trash = restore_root / f"trash-{staging.name}"
    os.replace(staging, trash)
    shutil.rmtree(trash, ignore_errors=True)


def _swap_files(data_dir: Path, staging: Path, excluded: frozenset[str],
                restored: set[str]) -> None:
    """Each top-level entry of the data directory in a backup's scope is moved aside and the
    restored one (``restored``: the backup's top-level names) moved in; entries the backup
    did not have are moved aside too, but for symbolic links (which a backup leaves out)."""
    files, old = staging / FILES, staging / "old"
    old.mkdir(mode=0o700, exist_ok=True)
    for name in sorted(restored | set(_top_level(data_dir, excluded))):
        current, aside, new = data_dir / name, old / name, files / name
        if current.is_symlink() and name not in restored:
            continue
        present = current.exists() or current.is_symlink()
        if present and not aside.exists() and (new.exists() or name not in restored):
            os.replace(current, aside)
        elif aside.exists() and new.exists() and current.exists():
            _remove(current)  # a crash between the two renames of an earlier try
        if new.exists():
            os.replace(new, current)
    _fsync_dir(data_dir)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink()
