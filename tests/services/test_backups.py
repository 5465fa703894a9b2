"""Backups and restores on SQLite and PostgreSQL, through the service the API and the command
line use: a restore gives back exactly the backed-up tables and files, and every refusal
leaves the live state as it was."""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import os
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Boolean, Integer, String, Text, delete, insert, select, update

from gistasks.security import archive
from gistasks.services import backups as backups_module
from gistasks.services.backups import (
    RESTORE_DIR,
    SUFFIX,
    BackupService,
    apply_pending_restore,
    scheduled_name,
)
from gistasks.services.errors import InvalidParameterError, NotFoundError, RefusedError
from gistasks.store import Store
from gistasks.store.recovery import RestoreRefusedError
from gistasks.store.schema import RECOVERY_TABLES, metadata

PASSCODE = "correct horse battery"
NOW = 1_800_000_000_000
ROWS = 3
TICKS = itertools.count()
"""One clock for every service of a test: later operations are later."""


def data_file(db_url: str) -> Path | None:
    return Path(db_url[len("sqlite:///"):]) if db_url.startswith("sqlite") else None


def service(store: Store, data_dir: Path, db_url: str, now: int = NOW,
            applied: str | None = None, scrypt_n: int = 2**12) -> BackupService:
    """The service as the server builds it, but with a cheaper scrypt for speed (the
    default's is tested in test_a_backup_is_listed_...)."""
    s = BackupService(store, data_dir, lambda: now + next(TICKS), "node-1",
                      lambda: "https://h/arcgis/admin", data_file(db_url),
                      store_roots=(Path(tempfile.gettempdir()),), scrypt_n=scrypt_n)
    s.start(applied)
    return s


def _value(column: Any, row: int, salt: str) -> Any:
    if column.foreign_keys:
        return f"{row:032x}"
    kind = column.type
    if isinstance(kind, Boolean):
        return row % 2 == 0
    if isinstance(kind, Integer):
        return row + 1 if column.primary_key else 1000 * row + len(salt)
    if isinstance(kind, String | Text):
        length = getattr(kind, "length", None) or 64
        return f"{row:032x}" if column.primary_key or column.unique else (
            f"{salt}-{column.name}-{row}")[:length]
    return None


def fill(store: Store, salt: str) -> None:
    """A few rows in every table a backup holds, each column given a value of its type."""
    with store.db.write() as conn:
        for table in metadata.sorted_tables:
            if table.name in RECOVERY_TABLES:
                continue
            rows = [{c.name: _value(c, r, salt) for c in table.columns} for r in range(ROWS)]
            conn.execute(insert(table), rows)


def canonical(store: Store) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table a backup holds, sorted."""
    out = {}
    with store.db.read() as conn:
        for table in metadata.sorted_tables:
            if table.name not in RECOVERY_TABLES:
                out[table.name] = sorted((tuple(r) for r in conn.execute(select(table))),
                                         key=repr)
    return out


def tree(data_dir: Path, skip: tuple[str, ...] = ("backups", RESTORE_DIR)) -> dict[str, str]:
    """The SHA-256 of every file of the data directory but the database and the stores."""
    out = {}
    for path in sorted(data_dir.rglob("*")):
        rel = path.relative_to(data_dir).as_posix()
        if path.is_file() and not rel.startswith(skip) and not rel.startswith("gistasks.db"):
            out[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def populate_files(data_dir: Path) -> None:
    for rel, data in {"content/0123/map.geojson": b'{"type": "FeatureCollection"}' * 5000,
                      "content/0123/big.bin": os.urandom(3 * 1024 * 1024 + 17),
                      "jobs/j1/out/result.txt": b"done\n",
                      "runs/r1/notebook.html": b"<html></html>",
                      "token-key": os.urandom(32),
                      "gp-services.toml": b"# none\n"}.items():
        path = data_dir / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    (data_dir / "content" / "empty.txt").write_bytes(b"")


def change_everything(store: Store, data_dir: Path) -> None:
    with store.db.write() as conn:
        for table in reversed(metadata.sorted_tables):
            if table.name not in RECOVERY_TABLES and table.name != "runs":
                first = next(iter(table.primary_key.columns))
                conn.execute(delete(table).where(first == _value(first, 0, "")))
        conn.execute(update(metadata.tables["users"]).values(full_name="changed"))
    fill_more(store)
    (data_dir / "content" / "0123" / "map.geojson").write_bytes(b"changed")
    (data_dir / "jobs" / "j1" / "out" / "result.txt").unlink()
    (data_dir / "added-later").mkdir()
    (data_dir / "added-later" / "x").write_bytes(b"x")
    (data_dir / "token-key").write_bytes(b"another key")


def fill_more(store: Store) -> None:
    with store.db.write() as conn:
        table = metadata.tables["activity"]
        conn.execute(insert(table).values(at=1, username="late", action="signin", target=""))


def restore_offline(store: Store, data_dir: Path, db_url: str, path: Path,
                    passcode: str = PASSCODE) -> Store:
    """``gistasks restore``: stage, then swap with the database closed; the store anew."""
    svc = service(store, data_dir, db_url)
    svc.restore_offline(path, passcode, "cli")
    store.close()
    fresh = Store(db_url)
    applied = apply_pending_restore(data_dir, fresh, data_file(db_url))
    fresh.migrate()
    service(fresh, data_dir, db_url, applied=applied)
    return fresh


@contextlib.contextmanager
def tmpfs_at(where: Path) -> Iterator[None]:
    """A 1 MB tmpfs mounted at ``where`` for the block. Mounting needs root, as ``make test``
    has (it installs its Debian packages): a run that cannot mount fails, saying so, rather
    than leaving the disk-full and mount-point behaviours untested."""
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(where)],
                             capture_output=True, check=False)
    if mounted.returncode != 0:
        pytest.fail(f"cannot mount a small tmpfs (the suite runs as root): {mounted.stderr!r}")
    try:
        yield
    finally:
        subprocess.run(["umount", str(where)], check=False)


@pytest.fixture
def deployment(store: Store, tmp_path: Path, db_url: str) -> Iterator[tuple[Store, Path, str]]:
    fill(store, "original")
    populate_files(tmp_path)
    yield store, tmp_path, db_url


def make_backup(store: Store, data_dir: Path, db_url: str, name: str = "b1",
                scrypt_n: int = 2**12, **kwargs: Any) -> Path:
    svc = service(store, data_dir, db_url, scrypt_n=scrypt_n)
    job = svc.create(name, PASSCODE, username="admin", wait=True, **kwargs)
    assert job.status == "COMPLETED", job.message
    return svc.path_of(svc.find(name))


def test_a_restore_gives_back_every_table_and_every_file_as_they_were_backed_up(
        deployment: tuple[Store, Path, str]) -> None:
    store, data_dir, db_url = deployment
    before, files = canonical(store), tree(data_dir)
    path = make_backup(store, data_dir, db_url)
    change_everything(store, data_dir)
    assert canonical(store) != before and tree(data_dir) != files
    restored = restore_offline(store, data_dir, db_url, path)
    try:
        assert canonical(restored) == before
        assert tree(data_dir) == files
        assert not (data_dir / RESTORE_DIR).exists() or not any(
            (data_dir / RESTORE_DIR).iterdir())
        svc = service(restored, data_dir, db_url)
        assert [b.name for b in svc.backups()] == ["b1"], "the list of backups is kept"
        assert svc.last_operation() is not None
        assert svc.last_operation().operation == "Restore"  # type: ignore[union-attr]
        assert svc.last_operation().status == "COMPLETED"  # type: ignore[union-attr]
    finally:
        restored.close()


def test_a_backup_is_listed_with_who_made_it_its_times_size_and_retention(
        deployment: tuple[Store, Path, str]) -> None:
    store, data_dir, db_url = deployment
    path = make_backup(store, data_dir, db_url, description="before the upgrade",
                       retention_date=NOW + 1000, scrypt_n=2**17)
    svc = service(store, data_dir, db_url)
    record = svc.find("b1")
    assert (record.schedule_type, record.created_by, record.retention_date,
            record.description) == ("MANUAL", "admin", NOW + 1000, "before the upgrade")
    assert record.size == path.stat().st_size and path.name == "b1" + SUFFIX
    assert svc.validate("b1", PASSCODE)["verified"] is True
    with path.open("rb") as f:
        header = archive.read_header(f)
    assert header["schema"] == store.recovery.schema_version() and PASSCODE not in str(header)
    assert b'"n":131072,' in path.read_bytes()[:4096], "the server's scrypt cost"


def test_the_backup_file_holds_no_readable_row_or_file(
        deployment: tuple[Store, Path, str]) -> None:
    store, data_dir, db_url = deployment
    data = make_backup(store, data_dir, db_url).read_bytes()
    assert b"original-" not in data and b"FeatureCollection" not in data


@pytest.mark.parametrize("damage", ["passcode", "flip-early", "flip-middle", "flip-last",
                                    "truncated", "foreign-chunk"])
def test_a_bad_backup_or_passcode_is_refused_and_nothing_live_changes(
        deployment: tuple[Store, Path, str], damage: str) -> None:
    store, data_dir, db_url = deployment
    path = make_backup(store, data_dir, db_url)
    other = make_backup(store, data_dir, db_url, "b2")
    before, files = canonical(store), tree(data_dir)
    data = bytearray(path.read_bytes())
    passcode = PASSCODE
    if damage == "passcode":
        passcode = "not the passcode"
    elif damage.startswith("flip"):
        at = {"flip-early": 60, "flip-middle": len(data) // 2, "flip-last": len(data) - 1}[damage]
        data[at] ^= 0x01
    elif damage == "truncated":
        del data[len(data) * 2 // 3:]
    else:  # the first chunk of the other backup in place of this one's
        theirs = other.read_bytes()
        start = len(data) - 40_000
        data[start:start + 1000] = theirs[start:start + 1000]
    path.write_bytes(bytes(data))
    svc = service(store, data_dir, db_url)
    with pytest.raises((archive.ArchiveError, RestoreRefusedError)):
        svc.restore_offline(path, passcode, "cli")
    assert canonical(store) == before and tree(data_dir) == files
    assert not (data_dir / RESTORE_DIR).exists() or not any((data_dir / RESTORE_DIR).iterdir())
    failed = svc.last_operation()
    assert failed is not None and failed.status == "FAILED" and failed.message


def test_a_backup_of_a_newer_schema_is_refused_before_anything_is_written(
        deployment: tuple[Store, Path, str]) -> None:
    store, data_dir, db_url = deployment
    path = data_dir / "newer.gtbackup"
    with path.open("wb") as f:
        writer = archive.ArchiveWriter(f, PASSCODE, {
            "name": "newer", "schema": "9999", "database": "sqlite" if store.is_sqlite
            else "postgresql", "size": 10}, scrypt_n=2**10)
        writer.add_bytes("database.sqlite", b"x")
        writer.finish()
    svc = service(store, data_dir, db_url)
    with pytest.raises(RestoreRefusedError, match="newer gistasks"):
        svc.restore_offline(path, PASSCODE, "cli")
    assert not (data_dir / RESTORE_DIR).exists() or not any((data_dir / RESTORE_DIR).iterdir())


def test_bad_requests_are_refused_naming_what_is_wrong(
        deployment: tuple[Store, Path, str]) -> None:
    store, data_dir, db_url = deployment
    svc = service(store, data_dir, db_url)
    with pytest.raises(InvalidParameterError) as short:
        svc.create("b1", "short", username="admin")
    assert short.value.param == "passcode"
    with pytest.raises(NotFoundError, match="nowhere"):
        svc.create("b1", PASSCODE, username="admin", store="nowhere")
    with pytest.raises(InvalidParameterError) as name:
        svc.create("../escape", PASSCODE, username="admin")
    assert name.value.param == "name"
    with pytest.raises(InvalidParameterError):
        svc.create("b1", PASSCODE, username="admin", retention_date=-5)
    make_backup(store, data_dir, db_url)
    with pytest.raises(RefusedError, match="exists"):
        svc.create("b1", PASSCODE, username="admin")
    for where in ("relative/dir", "/etc/gistasks", str(data_dir / "content")):
        with pytest.raises(InvalidParameterError) as store_dir:
            svc.register_store("elsewhere", where, {}, False)
        assert store_dir.value.param == "rootDirectory"
    assert not Path("/etc/gistasks").exists()
    with pytest.raises(RefusedError, match="default"):
        svc.unregister_store("default")
    assert [b.name for b in svc.backups()] == ["b1"]


def test_stores_register_become_default_and_list_the_backups_found_in_them(
        deployment: tuple[Store, Path, str], tmp_path_factory: pytest.TempPathFactory) -> None:
    store, data_dir, db_url = deployment
    elsewhere = tmp_path_factory.mktemp("nfs") / "store"
    svc = service(store, data_dir, db_url)
    svc.register_store("second", str(elsewhere), {"type": "FILE_SYSTEM"}, True)
    assert [s.name for s in svc.stores() if s.is_default] == ["second"]
    svc.create("b1", PASSCODE, username="admin", wait=True)
    assert (elsewhere / ("b1" + SUFFIX)).is_file()
    svc.update_store("default", {"default": True})
    svc.unregister_store("second")
    assert svc.backups() == [], "an unregistered store's backups are not listed"
    svc.register_store("again", str(elsewhere), {}, False)
    found = svc.backups("again")
    assert [b.name for b in found] == ["b1"] and found[0].created_by == "admin"
    assert svc.validate("b1", PASSCODE)["verified"] is True
    assert svc.validate_store("again")["writable"] is True


def test_a_scheduled_backup_is_named_after_its_fire_and_kept_for_its_offset(
        deployment: tuple[Store, Path, str]) -> None:
    store, data_dir, db_url = deployment
    svc = service(store, data_dir, db_url)
    fire = 1_635_285_646_000
    text = svc.run_scheduled({"name": "schedule1", "passcode": PASSCODE, "storeName": "default",
                              "retentionOffset": 1_209_600_000}, fire, "admin")
    name = scheduled_name("schedule1", fire)
    assert name == "schedule1-2021-10-26-22-00-46" and name in text
    record = svc.find(name)
    assert (record.schedule_type, record.retention_date) == ("SCHEDULED", fire + 1_209_600_000)


def test_the_retention_cleaner_deletes_only_what_has_passed_its_date(
        deployment: tuple[Store, Path, str]) -> None:
    store, data_dir, db_url = deployment
    svc = service(store, data_dir, db_url)
    for name, retention in (("old", NOW - 1), ("later", NOW + 10**10), ("ever", -1)):
        svc.create(name, PASSCODE, username="admin", retention_date=retention, wait=True)
    old_file = svc.path_of(svc.find("old"))
    assert svc.clean_expired() == "Deleted 1 backup(s) past their retention date: old."
    assert sorted(b.name for b in svc.backups()) == ["ever", "later"]
    assert not old_file.exists()
    assert "No backup" in svc.clean_expired()


def test_a_swap_cut_off_by_a_crash_is_finished_at_the_next_start(
        deployment: tuple[Store, Path, str], monkeypatch: pytest.MonkeyPatch) -> None:
    store, data_dir, db_url = deployment
    before, files = canonical(store), tree(data_dir)
    path = make_backup(store, data_dir, db_url)
    change_everything(store, data_dir)
    svc = service(store, data_dir, db_url)
    svc.restore_offline(path, PASSCODE, "cli")
    store.close()
    real, calls = os.replace, [0]

    def crash_after_three(src: Any, dst: Any) -> None:
        calls[0] += 1
        if calls[0] > 3:
            raise OSError("the machine went down")
        real(src, dst)

    monkeypatch.setattr(os, "replace", crash_after_three)
    fresh = Store(db_url)
    with pytest.raises(OSError, match="went down"):
        apply_pending_restore(data_dir, fresh, data_file(db_url))
    monkeypatch.setattr(os, "replace", real)
    fresh.close()
    again = Store(db_url)
    try:
        assert apply_pending_restore(data_dir, again, data_file(db_url)) is not None
        again.migrate()
        assert canonical(again) == before and tree(data_dir) == files
    finally:
        again.close()


def test_a_restore_prepared_but_not_marked_ready_is_dropped_at_the_next_start(
        deployment: tuple[Store, Path, str]) -> None:
    store, data_dir, db_url = deployment
    half = data_dir / RESTORE_DIR / "jhalf"
    (half / "files" / "content").mkdir(parents=True)
    (half / "files" / "content" / "x").write_bytes(b"half")
    before, files = canonical(store), tree(data_dir)
    assert apply_pending_restore(data_dir, store, data_file(db_url)) is None
    assert not half.exists() and canonical(store) == before and tree(data_dir) == files


def test_a_backup_that_fills_its_store_leaves_no_file_and_says_so(
        deployment: tuple[Store, Path, str], tmp_path_factory: pytest.TempPathFactory) -> None:
    store, data_dir, db_url = deployment
    small = tmp_path_factory.mktemp("small")
    with tmpfs_at(small):
        svc = service(store, data_dir, db_url)
        svc.register_store("small", str(small), {}, False)
        job = svc.create("big", PASSCODE, username="admin", store="small", wait=False)
        for _ in range(200):
            job = svc.job(job.id)
            if job.status in ("COMPLETED", "FAILED"):
                break
            time.sleep(0.05)
        assert job.status == "FAILED" and "not enough space" in job.message.lower()
        assert list(small.iterdir()) == [] and svc.backups("small") == []


def test_a_restore_that_would_not_fit_is_refused_before_anything_is_written(
        deployment: tuple[Store, Path, str], monkeypatch: pytest.MonkeyPatch) -> None:
    store, data_dir, db_url = deployment
    path = make_backup(store, data_dir, db_url)
    before, files = canonical(store), tree(data_dir)
    monkeypatch.setattr(backups_module, "_free_bytes", lambda _path: 1024 * 1024)
    svc = service(store, data_dir, db_url)
    with pytest.raises(RestoreRefusedError, match="MiB free"):
        svc.restore_offline(path, PASSCODE, "cli")
    assert canonical(store) == before and tree(data_dir) == files
    assert not (data_dir / RESTORE_DIR).exists() or not any((data_dir / RESTORE_DIR).iterdir())


def test_a_restore_that_fails_after_its_preparation_leaves_nothing_to_swap_in(
        deployment: tuple[Store, Path, str], monkeypatch: pytest.MonkeyPatch) -> None:
    store, data_dir, db_url = deployment
    path = make_backup(store, data_dir, db_url)
    change_everything(store, data_dir)
    before, files = canonical(store), tree(data_dir)
    svc = service(store, data_dir, db_url)
    real = store.recovery.update_job

    def lost_at_the_end(job_id: str, **values: Any) -> None:
        if "Swap in" in values.get("stages", ""):
            raise OSError("the database went away")
        real(job_id, **values)

    monkeypatch.setattr(store.recovery, "update_job", lost_at_the_end)
    with pytest.raises(OSError, match="went away"):
        svc.restore_offline(path, PASSCODE, "cli")
    monkeypatch.undo()
    assert apply_pending_restore(data_dir, store, data_file(db_url)) is None
    assert canonical(store) == before and tree(data_dir) == files


def test_a_mount_point_in_the_data_directory_is_refused_before_the_restore_is_ready(
        deployment: tuple[Store, Path, str]) -> None:
    store, data_dir, db_url = deployment
    path = make_backup(store, data_dir, db_url)
    with tmpfs_at(data_dir / "jobs"):
        svc = service(store, data_dir, db_url)
        with pytest.raises(RestoreRefusedError, match="another file system"):
            svc.restore_offline(path, PASSCODE, "cli")
        assert apply_pending_restore(data_dir, store, data_file(db_url)) is None


def test_a_database_below_the_top_of_the_data_directory_is_not_backed_up_as_a_file(
        tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    (data_dir / "db").mkdir(parents=True)
    db_url = f"sqlite:///{data_dir / 'db' / 'live.db'}"
    store = Store(db_url)
    store.migrate()
    try:
        fill(store, "nested")
        path = make_backup(store, data_dir, db_url)
        with path.open("rb") as f:
            manifest = archive.verify(f, PASSCODE)
        names = {m["name"] for m in manifest["members"]}
        assert "database.sqlite" in names
        assert not any(n.startswith("files/db/live.db") for n in names), names
    finally:
        store.close()
