"""Disaster recovery (``/<context>/admin/system/disasterrecovery``) and the Administrator
API's asynchronous operations (``/<context>/admin/jobs``).

Two trees over the same stores and backups: the current one (``stores``,
``stores/<store>/backups/...``, ``status``, ``settings``) and the legacy ``backuprestore``
tree (``backup``, ``backups``, ``backups/<name>/...``, ``status``) where the official client
sends its backup calls. A backup is made asynchronously: the answer is
``{"jobsUrl", "jobid", "status": "SUBMITTED"}``, followed at ``admin/jobs/<jobid>``. A
restore answers ``{"status": "success"}`` once the backup was checked and prepared; the server
then restarts to swap it in. Org admins only.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from gistasks import jsonsafe
from gistasks.api.deps import Call, CallDep
from gistasks.api.params import Boolean, Integer, Text
from gistasks.api.render import render
from gistasks.api.spec import POST, READ, Endpoint, route
from gistasks.services.backups import duration_text
from gistasks.services.errors import InvalidParameterError
from gistasks.store.records import AdminJobRecord, BackupRecord, BackupStoreRecord

router = APIRouter()
TAG = "Disaster recovery"
DR = "/system/disasterrecovery"
STORE = DR + "/stores/{store_name}"
BACKUP = STORE + "/backups/{backup_name}"
LEGACY = DR + "/backuprestore"
LEGACY_BACKUP = LEGACY + "/backups/{backup_name}"
OK: dict[str, Any] = {"status": "success", "success": True}
SETTINGS_BYTES = 64 * 1024
ADMINS = "Org admins only (403 otherwise)."

STORE_NAME = Text("storeName", "The store's name (letters, digits, `_`, `-`).", max_length=64)
SETTINGS = Text("settings", "The store's settings, a JSON object (`type`, `storageConfig`, "
                "`rootDir`…).", json_text=True, max_length=SETTINGS_BYTES)
ROOT = Text("rootDirectory", "The store's directory on the server (an absolute path); "
            "without it, `<data dir>/backupstores/<name>`.", max_length=4096)
CREDENTIALS = Text("credentials", "Accepted for compatibility (a directory needs none).",
                   json_text=True, max_length=SETTINGS_BYTES)
STORAGE = Text("storageConfig", "Accepted for compatibility; a `rootDir` in it names the "
               "directory.", json_text=True, max_length=SETTINGS_BYTES)
IS_DEFAULT = Boolean("isDefault", "`true`: the new store becomes the default.")
ASYNC = Boolean("async", "`true`: answer a job (`jobsUrl`) at once.")
NAME = Text("name", "The backup's name (letters, digits, `.`, `_`, `-`; at most 100).",
            max_length=100)
PASSCODE = Text("passcode", "At least 8 characters: it encrypts the backup and is needed to "
                "restore it.", max_length=1024)
DESCRIPTION = Text("description", "What the backup is for.", max_length=4096)
RETENTION = Integer("retentionDate", "Epoch ms after which the retention cleaner deletes the "
                    "backup; -1 (the default) keeps it for ever.", minimum=-1,
                    maximum=253_402_300_799_999)


def _admin(summary: str, answer: str, params: tuple[Any, ...] = (), description: str = ""
           ) -> Endpoint:
    return Endpoint(summary, answer, params, f"{description} {ADMINS}".strip(), tag=TAG)


def _json_object(c: Call, param: Text) -> dict[str, Any]:
    text = c.form.text(param)
    if not text.strip():
        return {}
    try:
        value = jsonsafe.loads(text, SETTINGS_BYTES)
    except jsonsafe.JsonError as exc:
        raise InvalidParameterError(param.name, f"It is not a JSON object: {exc}.") from exc
    if not isinstance(value, dict):
        raise InvalidParameterError(param.name, "It is a JSON object.")
    return value


def store_json(record: BackupStoreRecord) -> dict[str, Any]:
    try:
        settings = jsonsafe.loads(record.settings, SETTINGS_BYTES)
    except jsonsafe.JsonError:
        settings = {}
    out: dict[str, Any] = {"name": record.name, "default": record.is_default,
                           "type": "FILE_SYSTEM", "rootDir": record.root_dir,
                           "created": record.created}
    if isinstance(settings, dict) and isinstance(settings.get("storageConfig"), dict):
        out["storageConfig"] = settings["storageConfig"]
    return out


def backup_json(record: BackupRecord) -> dict[str, Any]:
    return {"name": record.name, "backupName": record.name, "release": record.release,
            "siteName": "arcgis", "namespace": "arcgis", "description": record.description,
            "backupStore": record.store, "backupType": "FULL",
            "scheduleType": record.schedule_type, "startTime": record.start_time,
            "completeTime": record.complete_time, "retentionDate": record.retention_date,
            "size": record.size, "createdBy": record.created_by,
            "schemaVersion": record.schema_version, "encryptKey": "********"}


def job_json(c: Call, job: AdminJobRecord) -> dict[str, Any]:
    try:
        result = jsonsafe.loads(job.result, 1024 * 1024)
    except jsonsafe.JsonError:
        result = {}
    out: dict[str, Any] = {
        "jobid": job.id, "operation": job.operation,
        "operationURI": f"/{c.settings.context}{job.operation_uri}", "status": job.status,
        "username": job.username, "starttime": job.start_time, "endtime": job.end_time,
        "updatedtime": job.updated}
    if job.status in ("COMPLETED", "FAILED"):
        out["result"] = {**result, **({"messages": [job.message]} if job.message else {})}
    return out


def submitted(c: Call, job: AdminJobRecord) -> dict[str, Any]:
    return {"jobsUrl": c.services.backups.job_url(job.id), "jobid": job.id,
            "status": "SUBMITTED", "success": True}


# -- root, stores ---------------------------------------------------------------------------------

@route(router, DR, READ, _admin("Disaster recovery", "DrRoot"))
async def dr_root(c: CallDep) -> Response:
    c.org_admin()
    return render({"resources": ["stores", "status", "settings", "backuprestore"]}, c.f,
                  "Disaster recovery")


@route(router, DR + "/stores", READ, _admin("Backup stores", "BackupStoreList",
                                            description="Exactly one is the default."))
async def list_stores(c: CallDep) -> Response:
    c.org_admin()
    return render({"backupStores": [store_json(s) for s in c.services.backups.stores()]},
                  c.f, "Backup stores")


@route(router, DR + "/stores/register", POST, _admin(
    "Register a backup store", "BackupStoreRegistered",
    (STORE_NAME, SETTINGS, ROOT, CREDENTIALS, STORAGE, IS_DEFAULT, ASYNC),
    "A directory on the server (made if missing); the backups already in it are listed."))
async def register_store(c: CallDep) -> Response:
    admin = c.org_admin()
    settings = _json_object(c, SETTINGS)
    storage = _json_object(c, STORAGE)
    _json_object(c, CREDENTIALS)
    if storage:
        settings.setdefault("storageConfig", storage)
    record = await run_in_threadpool(
        c.services.backups.register_store, c.form.get(STORE_NAME), c.form.get(ROOT) or None,
        settings, bool(c.form.value(IS_DEFAULT, False)))
    answer: dict[str, Any] = {**OK, "name": record.name}
    if c.form.value(ASYNC, False):
        job = c.services.backups.record_done("RegisterStore", f"/admin{DR}/stores/register",
                                             admin.username, record.name)
        answer.update(submitted(c, job))
    return render(answer, c.f, "Store registered")


@route(router, STORE, READ, _admin("A backup store", "BackupStore"))
async def get_store(c: CallDep, store_name: str) -> Response:
    c.org_admin()
    return render(store_json(c.services.backups.find_store(store_name)), c.f, store_name)


@route(router, STORE + "/update", POST, _admin(
    "Make a store the default", "AdminDone", (SETTINGS,),
    "`settings={\"default\": true}`, the one change a store takes."))
async def update_store(c: CallDep, store_name: str) -> Response:
    c.org_admin()
    c.services.backups.update_store(store_name, _json_object(c, SETTINGS))
    return render(dict(OK), c.f, "Store updated")


@route(router, STORE + "/unregister", POST, _admin(
    "Unregister a store", "AdminDone", description="Its backup files stay in its directory."))
async def unregister_store(c: CallDep, store_name: str) -> Response:
    c.org_admin()
    c.services.backups.unregister_store(store_name)
    return render(dict(OK), c.f, "Store unregistered")


@route(router, STORE + "/validate", POST, _admin(
    "Check a store", "StoreValidation", description="Writable, and its free space."))
async def validate_store(c: CallDep, store_name: str) -> Response:
    c.org_admin()
    return render(await run_in_threadpool(c.services.backups.validate_store, store_name),
                  c.f, "Store validation")


# -- backups --------------------------------------------------------------------------------------

@route(router, STORE + "/backups", READ, _admin("The backups of a store", "BackupList"))
async def list_backups(c: CallDep, store_name: str) -> Response:
    c.org_admin()
    return render({"backups": [backup_json(b) for b in c.services.backups.backups(store_name)]},
                  c.f, "Backups")


async def _create(c: Call, store: str | None) -> Response:
    admin = c.org_admin()
    retention = c.form.get(RETENTION)
    job = await run_in_threadpool(
        lambda: c.services.backups.create(
            c.form.get(NAME), c.form.get(PASSCODE), username=admin.username, store=store,
            description=c.form.text(DESCRIPTION), retention_date=retention))
    return render(submitted(c, job), c.f, "Backup submitted")


@route(router, STORE + "/backups/create", POST, _admin(
    "Back up the deployment", "AdminJobSubmitted",
    (NAME, PASSCODE, DESCRIPTION, RETENTION, ASYNC),
    "Always asynchronous: follow `jobsUrl` (or `status`)."))
async def create_backup(c: CallDep, store_name: str) -> Response:
    return await _create(c, store_name)


@route(router, LEGACY + "/backup", POST, _admin(
    "Back up the deployment (legacy path)", "AdminJobSubmitted",
    (NAME, STORE_NAME, PASSCODE, DESCRIPTION, RETENTION, ASYNC),
    "Where the official client sends `RecoveryManager.backup`; `storeName` picks the store "
    "(the default store without it)."))
async def create_backup_legacy(c: CallDep) -> Response:
    return await _create(c, c.form.get(STORE_NAME) or None)


@route(router, LEGACY + "/backups", READ, _admin(
    "Every backup (legacy path)", "BackupList",
    description="Each with `backupName`, as the official client reads it."))
async def list_backups_legacy(c: CallDep) -> Response:
    c.org_admin()
    return render({"backups": [backup_json(b) for b in c.services.backups.backups()]}, c.f,
                  "Backups")


async def _get(c: Call, name: str, store: str | None) -> Response:
    c.org_admin()
    return render(backup_json(c.services.backups.find(name, store)), c.f, name)


async def _update(c: Call, name: str, store: str | None) -> Response:
    c.org_admin()
    c.services.backups.set_retention(name, c.form.get(RETENTION), store)
    return render(dict(OK), c.f, "Backup updated")


async def _delete(c: Call, name: str, store: str | None) -> Response:
    admin = c.org_admin()
    await run_in_threadpool(c.services.backups.delete, name, store)
    answer: dict[str, Any] = dict(OK)
    if c.form.value(ASYNC, False):
        job = c.services.backups.record_done("DeleteBackup", f"/admin{DR}/backups/{name}/delete",
                                             admin.username, name)
        answer.update(submitted(c, job))
    return render(answer, c.f, "Backup deleted")


async def _validate(c: Call, name: str, store: str | None) -> Response:
    c.org_admin()
    return render(await run_in_threadpool(
        c.services.backups.validate, name, c.form.get(PASSCODE) or None, store), c.f,
        "Backup validation")


async def _restore(c: Call, name: str, store: str | None) -> Response:
    admin = c.org_admin()
    await run_in_threadpool(lambda: c.services.backups.restore(
        name, c.form.get(PASSCODE), username=admin.username, store=store))
    return render(dict(OK), c.f, "Restore started")


GET_BACKUP = _admin("A backup", "Backup")
UPDATE_BACKUP = _admin("Change a backup's retention date", "AdminDone", (RETENTION,))
DELETE_BACKUP = _admin("Delete a backup", "AdminDone", (ASYNC,), "Permanent: its file is removed.")
VALIDATE_BACKUP = _admin("Check a backup", "BackupValidation", (PASSCODE,),
                         "Its file and header; with `passcode`, every chunk and every "
                         "member's SHA-256.")
RESTORE_TEXT = ("All or nothing: checked and prepared beside the live state (meanwhile every "
                "other request is answered that the service is being restored), then swapped "
                "in while the server restarts itself.")


@route(router, BACKUP, READ, GET_BACKUP)
async def get_backup(c: CallDep, store_name: str, backup_name: str) -> Response:
    return await _get(c, backup_name, store_name)


@route(router, BACKUP + "/update", POST, UPDATE_BACKUP)
async def update_backup(c: CallDep, store_name: str, backup_name: str) -> Response:
    return await _update(c, backup_name, store_name)


@route(router, BACKUP + "/delete", POST, DELETE_BACKUP)
async def delete_backup(c: CallDep, store_name: str, backup_name: str) -> Response:
    return await _delete(c, backup_name, store_name)


@route(router, BACKUP + "/validate", POST, VALIDATE_BACKUP)
async def validate_backup(c: CallDep, store_name: str, backup_name: str) -> Response:
    return await _validate(c, backup_name, store_name)


@route(router, BACKUP + "/restore", POST, _admin("Restore a backup", "AdminDone", (PASSCODE,),
                                                 RESTORE_TEXT))
async def restore_backup(c: CallDep, store_name: str, backup_name: str) -> Response:
    return await _restore(c, backup_name, store_name)


@route(router, LEGACY_BACKUP, READ, GET_BACKUP)
async def get_backup_legacy(c: CallDep, backup_name: str) -> Response:
    return await _get(c, backup_name, None)


@route(router, LEGACY_BACKUP + "/update", POST, UPDATE_BACKUP)
async def update_backup_legacy(c: CallDep, backup_name: str) -> Response:
    return await _update(c, backup_name, None)


@route(router, LEGACY_BACKUP + "/delete", POST, DELETE_BACKUP)
async def delete_backup_legacy(c: CallDep, backup_name: str) -> Response:
    return await _delete(c, backup_name, None)


@route(router, LEGACY_BACKUP + "/validate", POST, VALIDATE_BACKUP)
async def validate_backup_legacy(c: CallDep, backup_name: str) -> Response:
    return await _validate(c, backup_name, None)


@route(router, LEGACY_BACKUP + "/restore", POST, _admin(
    "Restore a backup (legacy path)", "AdminDone", (PASSCODE, STORE_NAME),
    RESTORE_TEXT + " `storeName`, when given, must be the backup's store."))
async def restore_backup_legacy(c: CallDep, backup_name: str) -> Response:
    return await _restore(c, backup_name, c.form.get(STORE_NAME) or None)


# -- status, settings, jobs -----------------------------------------------------------------------

def _status(c: Call) -> dict[str, Any]:
    job = c.services.backups.last_operation()
    if job is None:
        return {"status": {}}
    try:
        stages = jsonsafe.loads(job.stages, 1024 * 1024)
    except jsonsafe.JsonError:
        stages = []
    state = {"COMPLETED": "success", "FAILED": "failed"}.get(job.status, "running")
    end = job.end_time or c.services.backups.now_ms()
    return {"status": {
        "operation": job.operation, "state": state,
        "code": {"success": 3, "failed": 4}.get(state, 2), "scheduleType": job.schedule_type,
        "backupName": job.backup_name, "backupStore": job.store, "message": job.message,
        "startTime": job.start_time, "completeTime": job.end_time,
        "overallDuration": duration_text(end - job.start_time), "stages": stages,
        "jobid": job.id}}


@route(router, DR + "/status", READ, _admin(
    "The last backup or restore", "DrStatus",
    description="Its state, stages and durations."), aliases=[LEGACY + "/status"])
async def status(c: CallDep) -> Response:
    c.org_admin()
    return render(_status(c), c.f, "Status")


@route(router, DR + "/settings", READ, _admin("Disaster recovery settings", "DrSettings",
                                              description="`timeoutInMinutes` (120)."))
async def settings(c: CallDep) -> Response:
    c.org_admin()
    return render(c.services.backups.settings(), c.f, "Settings")


@route(router, DR + "/settings/update", POST, _admin(
    "Change the disaster recovery settings", "DrSettings", (SETTINGS,),
    "`settings={\"timeoutInMinutes\": 180}`: a backup running longer is cancelled."))
async def update_settings(c: CallDep) -> Response:
    c.org_admin()
    return render({**OK, **c.services.backups.update_settings(_json_object(c, SETTINGS))},
                  c.f, "Settings")


@route(router, "/jobs", READ, _admin("Asynchronous operations", "AdminJobList",
                                     description="Their ids, newest first."))
async def list_jobs(c: CallDep) -> Response:
    c.org_admin()
    return render({"jobs": [j.id for j in c.services.backups.jobs()]}, c.f, "Jobs")


@route(router, "/jobs/{admin_job_id}", READ, _admin(
    "An asynchronous operation", "AdminJob",
    description="`status` SUBMITTED, EXECUTING, then COMPLETED (with `result`) or FAILED."))
async def get_job(c: CallDep, admin_job_id: str) -> Response:
    c.org_admin()
    return render(job_json(c, c.services.backups.job(admin_job_id)), c.f, admin_job_id)
