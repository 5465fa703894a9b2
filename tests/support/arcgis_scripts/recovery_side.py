"""The official client on disaster recovery: ``gis.admin.system.recovery`` (Kubernetes), its
backup stores, a manual backup followed through ``gis.admin.jobs``, a restore (the server
restarts itself and comes back with the backed-up state), a ``CreateBackup`` system task
fired with runNow, the built-in ``backupRetentionCleanerTask``, and deleting a backup.

Settings come from the environment: ARCGIS_TEST_URL (``https://host:port/<ctx>``),
ARCGIS_TEST_ADMIN_PASSWORD (the ``admin`` account) and ARCGIS_TEST_STORE_ROOT (a directory
outside the data directory that the server's GISTASKS_BACKUP_STORE_ROOTS allows). The server
must be this script's alone: the restore replaces its whole state. The data directory is
where the default store lives (its ``rootDir`` is ``<data dir>/backups``); the script runs on
the server's machine and looks at the backup files there. Prints one JSON object, a record
per step (see steps.py).

Client behaviour worked around (arcgis 2.4.4):

* ``TaskManager.create_task`` recurses: the CreateBackup task is created through the Sharing
  ``TaskManager`` class pointed at the admin URL (as admin_side.py does).
* ``RecoveryManager`` has no way to read a backup with its passcode, change a backup's
  retention date or run a task now: those go through ``gis._con`` to the documented paths.
"""

from __future__ import annotations

import datetime
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import requests
import urllib3
from arcgis.gis import GIS, ItemProperties, ItemTypeEnum
from arcgis.gis.tasks import TaskManager as SharingTaskManager

from tests.support.arcgis_scripts.steps import Steps, setting, wait_for

PASSCODE = "manual-passcode-1"
"""The manual backup's passcode."""
TASK_PASSCODE = "nightly-s3cret-9"
"""The CreateBackup task's passcode: it must never show in an answer."""
MASK = "********"
RETENTION_OFFSET_MS = 14 * 86_400_000
BACK_WITHIN_S = 60.0
NOTEBOOK = {
    "cells": [{"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None,
               "source": "print('kept across the restore')"}],
    "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3",
                                "language": "python"}},
    "nbformat": 4, "nbformat_minor": 5,
}

urllib3.disable_warnings()


def plain(props: Any) -> dict[str, Any]:
    """A client ``PropertyMap`` (or dict) as a plain dict."""
    return json.loads(json.dumps(dict(props), default=lambda o: dict(o)))  # type: ignore[no-any-return]


def outcome(call: Any) -> dict[str, Any]:
    """What ``call()`` returned, or raised. The client raises only for a Sharing-style
    ``{"error": ...}`` answer; the Administrator API's ``{"status": "error", ...}`` comes back
    as the return value (a dict, or False where the client compares ``status``)."""
    try:
        value = call()
    except Exception as exc:
        return {"raised": f"{type(exc).__name__}: {exc}"}
    if isinstance(value, dict | bool | str | int | float | list) or value is None:
        return {"returned": json.loads(json.dumps(value, default=str))}
    return {"returned": type(value).__name__}


def store_names(rm: Any) -> list[str]:
    return [str(s.properties["name"]) for s in rm.stores]


def store_defaults(rm: Any) -> dict[str, bool]:
    return {str(s.properties["name"]): bool(s.properties["default"]) for s in rm.stores}


def backup_names(rm: Any) -> list[str]:
    return sorted(str(b.properties["backupName"]) for b in rm.backups)


def backup_named(rm: Any, name: str) -> Any:
    for backup in rm.backups:
        if backup.properties["backupName"] == name:
            return backup
    return None


def task_titles(gis: GIS) -> list[str]:
    tasks = gis.admin.system.tasks  # a new object: .properties is cached per object
    return sorted(str(t["taskTitle"]) for t in tasks.properties["result"])


def wait_for_job(gis: GIS, job_id: str, timeout: float = 30) -> dict[str, Any]:
    """The admin job, polled through ``gis.admin.jobs`` until it ends; the statuses seen."""
    seen: list[str] = []

    def ended() -> dict[str, Any] | None:
        job = gis.admin.jobs.job(job_id)
        if not seen or seen[-1] != job["status"]:
            seen.append(job["status"])
        return dict(job) if job["status"] in ("COMPLETED", "FAILED") else None

    job = wait_for(ended, timeout, 0.2)
    return {"job": job, "statuses_seen": seen}


def wait_until_back(url: str) -> dict[str, Any]:
    """Poll an anonymous ``portals/self`` until the restarted server answers it again: during
    the restore it answers 503, while it restarts the connection is refused."""
    seen: list[str] = []
    started = time.monotonic()
    while time.monotonic() - started < BACK_WITHIN_S:
        try:
            answer = requests.get(f"{url}/sharing/rest/portals/self", params={"f": "json"},
                                  verify=False, timeout=2)
            body = answer.json() if "json" in answer.headers.get("content-type", "") else {}
            if answer.status_code != 200:
                state = str(answer.status_code)
            elif isinstance(body, dict) and "error" in body:
                state = f"error {body['error'].get('code')}"
            else:
                state = "ok"
        except requests.ConnectionError:
            state = "refused"
        except requests.RequestException as exc:
            state = type(exc).__name__
        if not seen or seen[-1] != state:
            seen.append(state)
        if state == "ok":
            break
        time.sleep(0.2)
    return {"back": bool(seen) and seen[-1] == "ok", "seen": seen,
            "waited_s": round(time.monotonic() - started, 2)}


def add_notebook(gis: GIS, work: Path, title: str) -> Any:
    path = work / f"{title.replace(' ', '_')}.ipynb"
    path.write_text(json.dumps(NOTEBOOK))
    job = gis.content.folders.get().add(
        ItemProperties(title=title, item_type=ItemTypeEnum.NOTEBOOK.value, tags=["recovery"]),
        file=str(path))
    return job.result()


def item_data(item: Any) -> Any:
    data = item.get_data()
    if isinstance(data, str) and Path(data).is_file():
        return json.loads(Path(data).read_text())
    return data


def main() -> None:
    steps = Steps()
    url, admin_password = setting("ARCGIS_TEST_URL"), setting("ARCGIS_TEST_ADMIN_PASSWORD")
    store_root = Path(setting("ARCGIS_TEST_STORE_ROOT"))
    work = Path(tempfile.mkdtemp())

    with steps.step("sign_in") as r:
        gis = GIS(url, "admin", admin_password, verify_cert=False)
        r["admin_class"] = type(gis.admin).__name__
        rm = gis.admin.system.recovery
        r["recovery_class"] = type(rm).__name__
        r["recovery_url"] = rm._url

    data_dir = Path()
    with steps.step("stores") as r:
        stores = rm.stores
        r["classes"] = sorted({type(s).__name__ for s in stores})
        r["stores"] = [plain(s.properties) for s in stores]
        default = next(s for s in r["stores"] if s["default"])
        data_dir = Path(default["rootDir"]).parent
        r["data_dir"] = str(data_dir)
        r["manager_list"] = [plain(s.properties)["name"] for s in rm.backupstores.list()]

    with steps.step("register_store") as r:
        root = data_dir / "backupstores" / "store2"
        store2 = rm.register("store2", {}, str(root), {"type": "FILE_SYSTEM"}, False)
        r["returned"] = type(store2).__name__
        r["url"] = store2._url
        r["properties"] = plain(store2.properties)
        r["directory_made"] = root.is_dir()
        r["listed"] = store_names(rm)

    with steps.step("register_refusals") as r:
        # A directory inside the data directory but not under backupstores/, one outside
        # every allowed root, a relative one, a name taken, the directory of another store:
        # the client reads "name" from the error answer (KeyError), so the same request is
        # also sent as is to see the answer.
        elsewhere = Path(tempfile.mkdtemp()) / "elsewhere"
        refused = {"inside_data_dir": ("inside", str(data_dir / "items-elsewhere")),
                   "outside_the_roots": ("elsewhere", str(elsewhere)),
                   "relative": ("relative", "backups2"),
                   "taken_name": ("store2", str(data_dir / "backupstores" / "other")),
                   "taken_directory": ("twin", str(root))}
        for key, (name, where) in refused.items():
            r[key] = outcome(lambda name=name, where=where: rm.register(
                name, {}, where, {}, False))
            r[f"{key}_answer"] = dict(gis._con.post(f"{rm._url}/stores/register", {
                "f": "json", "storeName": name, "credentials": {}, "rootDirectory": where,
                "storageConfig": {}, "isDefault": False}))
        r["made"] = [key for key in ("inside_data_dir", "outside_the_roots", "taken_name")
                     if Path(refused[key][1]).exists()]
        r["listed"] = store_names(rm)

    with steps.step("register_under_an_allowed_root") as r:
        # A root the server allows (GISTASKS_BACKUP_STORE_ROOTS), outside the data directory.
        outside = store_root / "offsite"
        store3 = rm.register("offsite", {}, str(outside), {}, False)
        r["properties"] = plain(store3.properties)
        r["directory_made"] = outside.is_dir()
        r["delete"] = store3.delete()
        r["listed"] = store_names(rm)

    with steps.step("register_through_the_stores_manager") as r:
        # BackupStoresManager.register POSTs (async=true), then submits its poll to an executor
        # it has just shut down.
        r["register"] = outcome(lambda: rm.backupstores.register(
            "store4", {"rootDir": str(data_dir / "backupstores" / "store4")}, False))
        r["listed"] = store_names(rm)
        if "store4" in r["listed"]:
            r["properties"] = plain(next(s for s in rm.stores
                                         if s.properties["name"] == "store4").properties)
            r["delete"] = next(s for s in rm.stores if s.properties["name"] == "store4").delete()
        r["listed_after"] = store_names(rm)

    with steps.step("default_store") as r:
        r["validate"] = dict(store2.validate())
        r["make_store2_default"] = store2.update({"default": True})
        r["defaults_after"] = store_defaults(rm)
        first = next(s for s in rm.stores if s.properties["name"] == "default")
        r["delete_while_default"] = outcome(lambda: next(
            s for s in rm.stores if s.properties["name"] == "store2").delete())
        r["unset_default"] = outcome(lambda: store2.update({"default": False}))
        r["make_default_default"] = first.update({"default": True})
        r["defaults_back"] = store_defaults(rm)

    with steps.step("unregister_store") as r:
        r["delete"] = store2.delete()
        r["listed"] = store_names(rm)
        r["directory_kept"] = (data_dir / "backupstores" / "store2").is_dir()
        r["read_deleted"] = outcome(lambda: gis._con.get(store2._url, {"f": "json"}))

    with steps.step("settings") as r:
        r["before"] = dict(rm.settings)
        rm.settings = {"timeoutInMinutes": 180}
        r["changed"] = dict(rm.settings)
        rm.settings = {"timeoutInMinutes": 120}
        r["after"] = dict(rm.settings)

    kept = None
    with steps.step("state_before_the_backup") as r:
        kept = add_notebook(gis, work, "kept notebook")
        r["kept_item"] = kept.id
        r["kept_data"] = item_data(kept)
        r["tasks"] = task_titles(gis)

    with steps.step("backup") as r:
        answer = rm.backup("manual1", "default", PASSCODE, "before the change")
        r["answer"] = dict(answer)
        r.update(wait_for_job(gis, answer["jobid"]))
        r["file_exists"] = (data_dir / "backups" / "manual1.gtbackup").is_file()

    with steps.step("backup_refusals") as r:
        r["same_name"] = outcome(lambda: rm.backup("manual1", "default", PASSCODE))
        r["short_passcode"] = outcome(lambda: rm.backup("manual2", "default", "short"))
        r["unknown_store"] = outcome(lambda: rm.backup("manual3", "nowhere", PASSCODE))
        r["listed"] = backup_names(rm)

    with steps.step("backup_status") as r:
        r["status"] = dict(rm.backup_status)

    manual = None
    with steps.step("list_and_validate") as r:
        backups = rm.backups
        r["classes"] = sorted({type(b).__name__ for b in backups})
        manual = backup_named(rm, "manual1")
        r["url"] = manual._url
        r["properties"] = plain(manual.properties)
        r["validate"] = dict(manual.validate())
        # The client's validate() sends no passcode; with one the server checks every member.
        r["validate_with_passcode"] = dict(gis._con.post(
            f"{manual._url}/validate", {"f": "json", "passcode": PASSCODE}))
        r["validate_wrong_passcode"] = outcome(lambda: gis._con.post(
            f"{manual._url}/validate", {"f": "json", "passcode": "not the passcode"}))

    later_id = ""
    with steps.step("change_after_the_backup") as r:
        assert kept is not None
        tasks = gis.admin.system.tasks
        made = SharingTaskManager(tasks.url, gis.users.me, gis).create(
            item=None, cron="0 3 * * *", task_type="Ping", occurences=-1,
            title="made after the backup", parameters={"note": "after"},
            start_date=datetime.datetime.now() + datetime.timedelta(days=1))
        r["task_created"] = type(made).__name__
        r["kept_deleted"] = kept.delete()
        later_id = add_notebook(gis, work, "later notebook").id
        r["later_item"] = later_id
        r["tasks"] = task_titles(gis)
        r["kept_found"] = gis.content.get(kept.id) is not None

    with steps.step("restore_wrong_passcode") as r:
        assert manual is not None
        r["restore"] = outcome(lambda: manual.restore("default", "not the passcode"))
        r["answer"] = dict(gis._con.post(f"{manual._url}/restore", {
            "f": "json", "storeName": "default", "passcode": "not the passcode"}))
        # Refused before anything changed: the server goes on serving the changed state.
        r["tasks"] = task_titles(gis)

    with steps.step("restore") as r:
        assert manual is not None
        try:
            r["returned"] = manual.restore("default", PASSCODE)
        finally:  # whatever the client did, the next steps need the server back
            r.update(wait_until_back(url))

    with steps.step("old_session_after_restart") as r:
        # The client signed in before the backup: its token is in the restored state too.
        try:
            r["backups"] = backup_names(rm)
            r["tasks"] = task_titles(gis)
        except Exception as exc:
            r["raised"] = f"{type(exc).__name__}: {exc}"

    with steps.step("restored_state") as r:
        assert kept is not None
        gis = GIS(url, "admin", admin_password, verify_cert=False)
        rm = gis.admin.system.recovery
        r["tasks"] = task_titles(gis)
        back = gis.content.get(kept.id)
        r["kept_found"] = back is not None
        r["kept_data"] = item_data(back) if back is not None else None
        r["later_found"] = gis.content.get(later_id) is not None
        r["backups"] = backup_names(rm)
        r["stores"] = store_defaults(rm)
        r["status"] = dict(rm.backup_status)
        r["manual_properties"] = plain(backup_named(rm, "manual1").properties)

    task_id = ""
    with steps.step("create_backup_task") as r:
        tasks = gis.admin.system.tasks
        parameters = {"name": "nightly", "passcode": TASK_PASSCODE, "storeName": "default",
                      "metaData": {"recurring": True, "startTime": "02:00",
                                   "retention": {"type": "day", "value": 14}},
                      "retentionOffset": RETENTION_OFFSET_MS}
        task = SharingTaskManager(tasks.url, gis.users.me, gis).create(
            item=None, cron="0 2 * * *", task_type="CreateBackup", occurences=-1,
            title="nightly backup", parameters=parameters,
            start_date=datetime.datetime.now() + datetime.timedelta(days=1))
        r["returned"] = type(task).__name__
        task_id = task.properties["id"]
        shown = tasks.task(task_id)
        r["task"] = {k: shown.get(k) for k in ("taskType", "type", "title", "cronSchedule",
                                                 "maxOccurrences", "taskState", "parameters")}
        r["task_text_has_passcode"] = TASK_PASSCODE in json.dumps(dict(shown))
        r["list_text_has_passcode"] = TASK_PASSCODE in json.dumps(
            dict(gis._con.get(tasks.url, {"f": "json"})))
        r["short_passcode"] = outcome(lambda: SharingTaskManager(
            tasks.url, gis.users.me, gis).create(
                item=None, cron="0 2 * * *", task_type="CreateBackup", occurences=-1,
                title="bad", parameters={**parameters, "passcode": "short"}))
        r["unknown_store"] = outcome(lambda: SharingTaskManager(
            tasks.url, gis.users.me, gis).create(
                item=None, cron="0 2 * * *", task_type="CreateBackup", occurences=-1,
                title="bad store", parameters={**parameters, "storeName": "nowhere"},
                start_date=datetime.datetime.now() + datetime.timedelta(days=1)))
        bad = [t["id"] for t in gis.admin.system.tasks.properties["result"]
               if t["taskTitle"] == "bad store"]
        for bad_id in bad:  # accepted: remove it, so that it never fires
            gis.admin.system.tasks.delete_task(bad_id)
        r["unknown_parameter"] = outcome(lambda: SharingTaskManager(
            tasks.url, gis.users.me, gis).create(
                item=None, cron="0 2 * * *", task_type="CreateBackup", occurences=-1,
                title="bad", parameters={**parameters, "colour": "blue"}))

    with steps.step("update_backup_task_through_the_task_object") as r:
        # Task.update sends back what the GET showed: the masked passcode, the internal type
        # name and maxOccurrences; the server keeps the real passcode (the run below shows it).
        r["returned"] = task.update(title="nightly backup (renamed)", occurences=-1)
        shown = gis.admin.system.tasks.task(task_id)
        r["task"] = {k: shown.get(k) for k in ("taskType", "title", "maxOccurrences",
                                                 "parameters")}

    scheduled = None
    with steps.step("backup_task_runs_now") as r:
        tasks = gis.admin.system.tasks
        names_before = set(backup_names(rm))
        answer = gis._con.post(f"{tasks.url}/{task_id}/runNow", {"f": "json"})
        r["run_now"] = dict(answer)
        run_id = answer["runId"]

        def finished() -> dict[str, Any] | None:
            for run in tasks.runs(task_id)["result"]:
                if run["runId"] == run_id and run["status"] in ("succeeded", "failed"):
                    return dict(run)
            return None

        run = wait_for(finished, 30, 0.3)
        r["run"] = {k: run.get(k) for k in ("status", "result", "scheduledTime", "started",
                                            "ended")} if run else None
        r["run_text_has_passcode"] = TASK_PASSCODE in json.dumps(
            dict(tasks.run(task_id, run_id)), default=str)
        new = sorted(set(backup_names(rm)) - names_before)
        r["new_backups"] = new
        if new:
            scheduled = backup_named(rm, new[0])
            r["properties"] = plain(scheduled.properties)
            r["properties_text_has_passcode"] = TASK_PASSCODE in json.dumps(r["properties"])
            # Encrypted under the task's real passcode, not under the mask the JSON shows.
            r["validate_with_task_passcode"] = dict(gis._con.post(
                f"{scheduled._url}/validate", {"f": "json", "passcode": TASK_PASSCODE}))
            r["validate_with_mask"] = outcome(lambda: gis._con.post(
                f"{scheduled._url}/validate", {"f": "json", "passcode": MASK}))
        r["status"] = dict(rm.backup_status)
        r["status_text_has_passcode"] = TASK_PASSCODE in json.dumps(r["status"])

    with steps.step("retention_cleaner") as r:
        tasks = gis.admin.system.tasks
        listed = tasks.properties["result"]
        cleaner = next(t for t in listed if t["taskTitle"] == "backupRetentionCleanerTask")
        r["cleaner"] = {k: cleaner.get(k) for k in ("type", "taskType", "taskTitle",
                                                    "cronExpression", "cronSchedule",
                                                    "maxOccurrences", "taskState", "active")}
        r["titles"] = sorted(t["taskTitle"] for t in listed)
        if scheduled is not None:
            name = scheduled.properties["backupName"]
            # The client has no call for it: the backup's retention date put in the past.
            r["update"] = dict(gis._con.post(f"{scheduled._url}/update",
                                             {"f": "json", "retentionDate": 1}))
            answer = gis._con.post(f"{tasks.url}/{cleaner['id']}/runNow", {"f": "json"})
            run_id = answer["runId"]

            def cleaned() -> dict[str, Any] | None:
                for run in tasks.runs(cleaner["id"])["result"]:
                    if run["runId"] == run_id and run["status"] in ("succeeded", "failed"):
                        return dict(run)
                return None

            run = wait_for(cleaned, 30, 0.3)
            r["run"] = {k: run.get(k) for k in ("status", "result")} if run else None
            r["scheduled_name"] = name
            r["backups_after"] = backup_names(rm)
            r["file_after"] = (data_dir / "backups" / f"{name}.gtbackup").exists()

    with steps.step("delete_backup") as r:
        manual = backup_named(rm, "manual1")
        r["delete"] = manual.delete()
        r["backups"] = backup_names(rm)
        r["file_after"] = (data_dir / "backups" / "manual1.gtbackup").exists()
        r["read_deleted"] = outcome(lambda: gis._con.get(manual._url, {"f": "json"}))
        r["delete_task"] = gis.admin.system.tasks.delete_task(task_id)

    steps.finish()


if __name__ == "__main__":
    main()
