"""The official ArcGIS API for Python (``arcgis`` 2.4.4) on disaster recovery, against a real
``gistasks serve`` of this module's own: the script restores a backup, which replaces the
server's whole state and restarts it (os.execv, same process), so it cannot share the server
of tests/api/test_arcgis_client.py.

tests/support/arcgis_scripts/recovery_side.py drives the client once per module and prints a
record per step; the tests below check the records by behaviour. What the client cannot do in
2.4.4 (read the answer of a refused store registration, register through
``BackupStoresManager``) is asserted as the client's behaviour, so a new client that fixes it
shows up here.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.api.test_arcgis_client import ADMIN_PASSWORD, Records, ScriptRun, step
from tests.support.arcgis_venv import ensure_arcgis_venv
from tests.support.server import Server, start_with_users, stop

pytestmark = pytest.mark.timeout(900)  # the first run builds the arcgis venv (~1 min)

TASK_PASSCODE = "nightly-s3cret-9"
"""The CreateBackup task's passcode in recovery_side.py."""
MASK = "********"
RETENTION_OFFSET_MS = 14 * 86_400_000
BACK_WITHIN_S = 30.0
SCHEDULED = re.compile(r"nightly-(\d{4})-(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)")


@pytest.fixture(scope="module")
def arcgis_python() -> Path:
    return ensure_arcgis_venv()


def _answers(server: Server) -> bool:
    try:
        answer = httpx.get(f"{server.url}/sharing/rest/portals/self", params={"f": "json"},
                           verify=False, timeout=2)
    except httpx.TransportError:
        return False
    return answer.status_code == 200 and "error" not in answer.json()


@pytest.fixture(scope="module")
def store_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory outside the data directory where the server allows stores."""
    return tmp_path_factory.mktemp("recovery-offsite")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, arcgis_python: Path,
           store_root: Path) -> Iterator[Server]:
    """Admin only (``admin pass 1``); the script's restore restarts it in place."""
    srv = start_with_users(tmp_path_factory.mktemp("recovery-client"),
                           env={"GISTASKS_BACKUP_STORE_ROOTS": str(store_root)})
    yield srv
    # If the script died in the middle of the restore, the server may still be restarting:
    # wait (bounded) until it answers, so SIGTERM reaches a server and not a half-started one.
    deadline = time.monotonic() + BACK_WITHIN_S
    while srv.process.poll() is None and not _answers(srv) and time.monotonic() < deadline:
        time.sleep(0.2)
    stop(srv)


@pytest.fixture(scope="module")
def recovery_side(arcgis_python: Path, server: Server, store_root: Path) -> Iterator[Records]:
    with pytest.MonkeyPatch.context() as env:  # ScriptRun passes os.environ on
        env.setenv("ARCGIS_TEST_STORE_ROOT", str(store_root))
        run = ScriptRun(arcgis_python, "recovery_side", server, ("admin", ADMIN_PASSWORD))
    try:
        yield run.records()
    finally:
        run.stop()


def _error(answer: dict[str, Any], code: int, *words: str) -> None:
    """The Administrator API's error envelope, with ``words`` in its messages."""
    assert answer["status"] == "error" and answer["code"] == code, answer
    text = " ".join(answer["messages"])
    for word in words:
        assert word in text, answer


# --- stores ----------------------------------------------------------------------------------


def test_admin_client_reaches_disaster_recovery(recovery_side: Records, server: Server) -> None:
    r = step(recovery_side, "sign_in")
    assert r["admin_class"] == "KubernetesAdmin" and r["recovery_class"] == "RecoveryManager"
    assert r["recovery_url"] == f"{server.url}/admin/system/disasterrecovery"


def test_client_lists_the_default_store_under_the_data_dir(recovery_side: Records,
                                                           server: Server) -> None:
    r = step(recovery_side, "stores")
    assert r["classes"] == ["BackupStore"] and r["manager_list"] == ["default"]
    [store] = r["stores"]
    assert store["name"] == "default" and store["default"] is True
    assert store["type"] == "FILE_SYSTEM"
    assert Path(store["rootDir"]) == server.data_dir / "backups"


def test_client_registers_a_store_under_backupstores(recovery_side: Records,
                                                     server: Server) -> None:
    r = step(recovery_side, "register_store")
    assert r["returned"] == "BackupStore"
    assert r["url"].endswith("/admin/system/disasterrecovery/stores/store2")
    props = r["properties"]
    assert props["name"] == "store2" and props["default"] is False
    assert Path(props["rootDir"]) == server.data_dir / "backupstores" / "store2"
    assert props["storageConfig"] == {"type": "FILE_SYSTEM"}
    assert r["directory_made"] is True and r["listed"] == ["default", "store2"]


def test_a_refused_store_registration_raises_keyerror_in_the_client(
    recovery_side: Records,
) -> None:
    """The server answers the Administrator error envelope; 2.4.4's ``register`` reads
    ``res["name"]`` from it and raises KeyError instead of showing the message."""
    r = step(recovery_side, "register_refusals")
    keys = ("inside_data_dir", "outside_the_roots", "relative", "taken_name", "taken_directory")
    for key in keys:
        assert r[key] == {"raised": "KeyError: 'name'"}, key
    _error(r["inside_data_dir_answer"], 400, "rootDirectory", "backupstores")
    _error(r["outside_the_roots_answer"], 400, "rootDirectory", "GISTASKS_BACKUP_STORE_ROOTS")
    _error(r["relative_answer"], 400, "absolute path")
    _error(r["taken_name_answer"], 400, "'store2' exists")
    _error(r["taken_directory_answer"], 400, "another store uses this directory")
    # Refused before anything was written: no directory was made.
    assert r["made"] == []
    assert r["listed"] == ["default", "store2"]


def test_client_registers_and_unregisters_a_store_under_an_allowed_root(
    recovery_side: Records, server: Server, store_root: Path,
) -> None:
    r = step(recovery_side, "register_under_an_allowed_root")
    assert r["properties"]["name"] == "offsite" and r["directory_made"] is True
    assert Path(r["properties"]["rootDir"]) == store_root / "offsite"
    assert server.data_dir not in Path(r["properties"]["rootDir"]).parents
    assert r["delete"] is True and r["listed"] == ["default", "store2"]


def test_stores_manager_register_registers_then_raises_in_the_client(
    recovery_side: Records,
) -> None:
    """2.4.4's ``BackupStoresManager.register`` submits its poll to an executor it has just
    shut down; the store was registered all the same."""
    r = step(recovery_side, "register_through_the_stores_manager")
    assert r["register"] == {"raised": "RuntimeError: cannot schedule new futures after "
                                       "shutdown"}
    assert r["listed"] == ["default", "store2", "store4"]
    assert r["properties"]["rootDir"].endswith("/backupstores/store4")
    assert r["delete"] is True and r["listed_after"] == ["default", "store2"]


def test_client_moves_the_default_between_stores(recovery_side: Records) -> None:
    r = step(recovery_side, "default_store")
    assert r["validate"]["status"] == "success" and r["validate"]["writable"] is True
    assert r["validate"]["freeSpace"] > 0
    assert r["make_store2_default"] is True
    assert r["defaults_after"] == {"default": False, "store2": True}
    # The default cannot be unregistered, nor stop being the default by itself.
    assert r["delete_while_default"] == {"returned": False}
    assert r["unset_default"] == {"returned": False}
    assert r["make_default_default"] is True
    assert r["defaults_back"] == {"default": True, "store2": False}


def test_client_unregisters_a_store_and_its_directory_stays(recovery_side: Records) -> None:
    r = step(recovery_side, "unregister_store")
    assert r["delete"] is True and r["listed"] == ["default"]
    assert r["directory_kept"] is True
    _error(r["read_deleted"]["returned"], 404, "store2")


def test_client_reads_and_changes_the_recovery_settings(recovery_side: Records) -> None:
    r = step(recovery_side, "settings")
    assert r["before"] == {"timeoutInMinutes": 120}
    assert r["changed"] == {"timeoutInMinutes": 180}
    assert r["after"] == {"timeoutInMinutes": 120}


# --- a manual backup -------------------------------------------------------------------------


def test_client_backup_is_followed_through_admin_jobs_to_completed(
    recovery_side: Records, server: Server,
) -> None:
    r = step(recovery_side, "backup")
    answer = r["answer"]
    assert answer["status"] == "SUBMITTED" and answer["success"] is True
    assert answer["jobsUrl"] == f"{server.url}/admin/jobs/{answer['jobid']}"
    job = r["job"]
    assert job is not None, f"the backup job did not end within 30 s: {r['statuses_seen']}"
    assert job["status"] == "COMPLETED" and job["operation"] == "Backup"
    assert job["username"] == "admin" and job["endtime"] >= job["starttime"] > 0
    assert job["result"]["backupName"] == "manual1" and job["result"]["backupStore"] == "default"
    assert r["statuses_seen"][-1] == "COMPLETED"
    assert set(r["statuses_seen"]) <= {"SUBMITTED", "EXECUTING", "COMPLETED"}
    assert r["file_exists"] is True


def test_client_backup_refusals_come_back_as_the_answer(recovery_side: Records) -> None:
    """``rm.backup`` returns the raw answer: refusals are the error envelope, not raised."""
    r = step(recovery_side, "backup_refusals")
    _error(r["same_name"]["returned"], 400, "'manual1' exists")
    _error(r["short_passcode"]["returned"], 400, "passcode")
    _error(r["unknown_store"]["returned"], 404, "'nowhere'")
    assert r["listed"] == ["manual1"]


def test_client_backup_status_shows_the_finished_backup(recovery_side: Records) -> None:
    r = step(recovery_side, "backup_status")["status"]
    assert r["operation"] == "Backup" and r["state"] == "success" and r["code"] == 3
    assert r["backupName"] == "manual1" and r["backupStore"] == "default"
    assert r["scheduleType"] == "MANUAL"
    assert r["completeTime"] >= r["startTime"] > 0
    assert r["jobid"] == step(recovery_side, "backup")["answer"]["jobid"]
    assert r["stages"] and all(s["state"] == "completed" for s in r["stages"])


def test_client_lists_reads_and_validates_a_backup(recovery_side: Records,
                                                   server: Server) -> None:
    r = step(recovery_side, "list_and_validate")
    assert r["classes"] == ["Backup"]
    assert r["url"] == (f"{server.url}/admin/system/disasterrecovery/backuprestore/backups/"
                        "manual1")
    props = r["properties"]
    assert props["backupName"] == props["name"] == "manual1"
    assert props["description"] == "before the change" and props["backupStore"] == "default"
    assert props["scheduleType"] == "MANUAL" and props["retentionDate"] == -1
    assert props["createdBy"] == "admin" and props["size"] > 0
    assert props["encryptKey"] == MASK
    # validate() sends no passcode: the file and its header.
    assert r["validate"]["status"] == "success" and r["validate"]["verified"] is False
    # With the passcode every member is checked; a wrong one is refused.
    full = r["validate_with_passcode"]
    assert full["status"] == "success" and full["verified"] is True and full["members"] > 1
    _error(r["validate_wrong_passcode"]["returned"], 400, "passcode")


# --- restore ---------------------------------------------------------------------------------


def test_client_restore_with_a_wrong_passcode_returns_false_and_changes_nothing(
    recovery_side: Records,
) -> None:
    r = step(recovery_side, "restore_wrong_passcode")
    assert r["restore"] == {"returned": False}
    _error(r["answer"], 400, "passcode")
    assert "made after the backup" in r["tasks"]


def test_client_restore_returns_true_and_the_server_comes_back(recovery_side: Records,
                                                                server: Server) -> None:
    r = step(recovery_side, "restore")
    assert r["returned"] is True
    assert r["back"] is True, f"not back within 60 s: {r['seen']}"
    # It answered that it is being restored, or was already restarting, before it came back.
    assert r["seen"][-1] == "ok" and len(r["seen"]) >= 2
    assert {"error 503", "503", "refused"} & set(r["seen"][:-1]), r["seen"]
    # The same process, restarted in place.
    assert server.process.poll() is None
    assert "gistasks restarting to finish a restore" in server.output()


def test_a_session_from_before_the_restore_goes_on_working(recovery_side: Records) -> None:
    r = step(recovery_side, "old_session_after_restart")
    assert "raised" not in r, r.get("raised")
    assert r["backups"] == ["manual1"]
    assert "made after the backup" not in r["tasks"]


def test_restore_brings_back_the_backed_up_state(recovery_side: Records) -> None:
    before = step(recovery_side, "state_before_the_backup")
    changed = step(recovery_side, "change_after_the_backup")
    assert changed["kept_deleted"] is True and changed["kept_found"] is False
    assert "made after the backup" in changed["tasks"]
    r = step(recovery_side, "restored_state")
    # The system task made after the backup is gone; the item deleted after it is back, with
    # its file; the item added after it is gone.
    assert r["tasks"] == before["tasks"] == ["backupRetentionCleanerTask", "gpCleanerTask"]
    assert r["kept_found"] is True and r["kept_data"] == before["kept_data"]
    assert r["later_found"] is False


def test_the_backup_and_the_stores_outlive_the_restore(recovery_side: Records) -> None:
    r = step(recovery_side, "restored_state")
    assert r["backups"] == ["manual1"]
    assert r["manual_properties"] == step(recovery_side, "list_and_validate")["properties"]
    assert r["stores"] == {"default": True}
    status = r["status"]
    assert status["operation"] == "Restore" and status["state"] == "success"
    assert status["backupName"] == "manual1" and status["completeTime"] >= status["startTime"]


# --- scheduled backups -----------------------------------------------------------------------


def test_client_creates_a_backup_task_with_its_passcode_masked(recovery_side: Records) -> None:
    r = step(recovery_side, "create_backup_task")
    assert r["returned"] == "Task"
    task = r["task"]
    assert task["taskType"] == "CreateBackup" and task["type"] == "CREATE_BACKUP_TASK_TYPE"
    assert task["title"] == "nightly backup" and task["maxOccurrences"] == -1
    assert task["cronSchedule"]["minute"] == "0" and task["cronSchedule"]["hour"] == "2"
    assert task["parameters"] == {
        "name": "nightly", "passcode": MASK, "storeName": "default",
        "metaData": {"recurring": True, "startTime": "02:00",
                     "retention": {"type": "day", "value": 14}},
        "retentionOffset": RETENTION_OFFSET_MS}
    assert r["task_text_has_passcode"] is False and r["list_text_has_passcode"] is False
    _error(r["short_passcode"]["returned"], 400, "passcode")
    _error(r["unknown_parameter"]["returned"], 400, "colour")


def test_a_backup_task_naming_an_unknown_store_is_refused(recovery_side: Records) -> None:
    r = step(recovery_side, "create_backup_task")
    answer = r["unknown_store"].get("returned")
    assert isinstance(answer, dict) and answer.get("status") == "error", r["unknown_store"]
    assert "nowhere" in " ".join(answer["messages"]), answer


def test_updating_the_backup_task_through_the_client_keeps_its_passcode(
    recovery_side: Records,
) -> None:
    r = step(recovery_side, "update_backup_task_through_the_task_object")
    assert r["returned"] is True
    assert r["task"]["title"] == "nightly backup (renamed)"
    assert r["task"]["taskType"] == "CreateBackup" and r["task"]["maxOccurrences"] == -1
    assert r["task"]["parameters"]["passcode"] == MASK
    # The backup it then makes opens with the real passcode (not the mask it was sent).
    runs = step(recovery_side, "backup_task_runs_now")
    assert runs["validate_with_task_passcode"]["verified"] is True


def test_a_backup_task_run_makes_a_scheduled_backup_named_after_its_time(
    recovery_side: Records,
) -> None:
    r = step(recovery_side, "backup_task_runs_now")
    assert r["run_now"]["success"] is True
    run = r["run"]
    assert run is not None, "the CreateBackup run did not end within 30 s"
    assert run["status"] == "succeeded", run
    [name] = r["new_backups"]
    match = SCHEDULED.fullmatch(name)
    assert match, name
    year, month, day, hour, minute, second = map(int, match.groups())
    stamp = datetime(year, month, day, hour, minute, second, tzinfo=UTC)
    # Named after the fire's time (UTC, to the second).
    assert int(stamp.timestamp()) == run["scheduledTime"] // 1000
    assert name in run["result"]
    props = r["properties"]
    assert props["backupName"] == name and props["scheduleType"] == "SCHEDULED"
    assert props["backupStore"] == "default" and props["createdBy"] == "admin"
    # Kept until its fire's time plus the task's retentionOffset.
    assert abs(props["retentionDate"] - (props["startTime"] + RETENTION_OFFSET_MS)) < 10_000
    assert props["retentionDate"] == run["scheduledTime"] + RETENTION_OFFSET_MS
    status = r["status"]
    assert status["operation"] == "Backup" and status["state"] == "success"
    assert status["scheduleType"] == "SCHEDULED" and status["backupName"] == name


def test_a_scheduled_backup_is_encrypted_with_the_tasks_passcode_never_shown(
    recovery_side: Records,
) -> None:
    r = step(recovery_side, "backup_task_runs_now")
    full = r["validate_with_task_passcode"]
    assert full["status"] == "success" and full["verified"] is True
    _error(r["validate_with_mask"]["returned"], 400, "passcode")
    assert r["properties"]["encryptKey"] == MASK
    for key in ("run_text_has_passcode", "properties_text_has_passcode",
                "status_text_has_passcode"):
        assert r[key] is False, key


def test_the_builtin_retention_cleaner_deletes_backups_past_their_date(
    recovery_side: Records, server: Server,
) -> None:
    r = step(recovery_side, "retention_cleaner")
    assert r["cleaner"] == {
        "type": "BACKUP_RETENTION_TASK_TYPE", "taskType": "BackupRetentionCleaner",
        "taskTitle": "backupRetentionCleanerTask", "cronExpression": "0 0 * * * ?",
        "cronSchedule": {"minute": "0", "hour": "*", "dayOfMonth": "*", "month": "*",
                         "dayOfWeek": "?"},
        "maxOccurrences": -1, "taskState": "active", "active": True}
    assert r["titles"] == ["backupRetentionCleanerTask", "gpCleanerTask",
                           "nightly backup (renamed)"]
    assert r["update"]["success"] is True
    assert r["run"] is not None, "the cleaner's run did not end within 30 s"
    assert r["run"]["status"] == "succeeded" and r["scheduled_name"] in r["run"]["result"]
    assert r["backups_after"] == ["manual1"] and r["file_after"] is False


def test_client_deletes_a_backup_and_its_file(recovery_side: Records) -> None:
    r = step(recovery_side, "delete_backup")
    assert r["delete"] is True and r["backups"] == [] and r["file_after"] is False
    _error(r["read_deleted"]["returned"], 404, "manual1")
    assert r["delete_task"]["success"] is True
