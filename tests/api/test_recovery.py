"""Disaster recovery over HTTP against a real server: stores, backups in both trees, the
admin jobs that follow them, and a restore taken while tasks fire and jobs run, after which
the server restarts itself with exactly the backed-up state. Also ``gistasks backup`` and
``gistasks restore`` killed half-way, which leave the previous state intact."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.gptools import write_services
from tests.support.server import (
    ERIN,
    EVERY_MINUTE,
    Server,
    from_tomorrow,
    start_server,
    start_with_users,
    stop,
    token,
)

pytestmark = pytest.mark.timeout(240)
PASSCODE = "s3cret-pass-code"
DR = "/admin/system/disasterrecovery"
TOOLS = "rest/services/Tests/Tools/GPServer"


class Admin:
    """The admin's session (its token lives through a restore: the keys do not change)."""

    def __init__(self, server: Server, tok: str) -> None:
        self.server = server
        self.http = httpx.Client(verify=False, timeout=120,
                                 headers={"X-Esri-Authorization": f"Bearer {tok}"})

    def get(self, path: str, **params: Any) -> Any:
        url = path if path.startswith("https://") else f"{self.server.url}{path}"
        return self.http.get(url, params={"f": "json", **params}).json()

    def post(self, path: str, **form: Any) -> Any:
        data = {k: v if isinstance(v, str) else json.dumps(v) for k, v in form.items()}
        return self.http.post(f"{self.server.url}{path}", data={"f": "json", **data}).json()

    def finished(self, answer: dict[str, Any], timeout: float = 60) -> dict[str, Any]:
        assert answer.get("status") == "SUBMITTED" and "jobsUrl" in answer, answer
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            job: dict[str, Any] = self.get(answer["jobsUrl"])
            if job["status"] in ("COMPLETED", "FAILED"):
                return job
            time.sleep(0.1)
        raise AssertionError(f"{answer['jobid']} did not end")

    def back_up(self, name: str, **form: Any) -> dict[str, Any]:
        job = self.finished(self.post(f"{DR}/backuprestore/backup", name=name,
                                      passcode=PASSCODE, **form))
        assert job["status"] == "COMPLETED", job
        return job


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    data_dir = tmp_path_factory.mktemp("recovery")
    write_services(data_dir)
    srv = start_with_users(data_dir, ERIN, env={
        "GISTASKS_BACKUP_STORE_ROOTS": str(tmp_path_factory.getbasetemp())})
    yield srv
    stop(srv)


@pytest.fixture(scope="module")
def admin(server: Server) -> Admin:
    return Admin(server, token(server, "admin", "admin pass 1"))


def test_the_default_store_exists_from_the_first_start(admin: Admin, server: Server) -> None:
    stores = admin.get(f"{DR}/stores")["backupStores"]
    assert [(s["name"], s["default"]) for s in stores] == [("default", True)]
    assert stores[0]["rootDir"] == str(server.data_dir / "backups")
    assert admin.get(f"{DR}/stores/default")["name"] == "default"


def test_a_backup_is_made_followed_listed_in_both_trees_and_checked(admin: Admin) -> None:
    job = admin.back_up("listed", description="first", storeName="default")
    assert job["operation"] == "Backup" and job["result"]["backupName"] == "listed"
    assert job["operationURI"].startswith("/arcgis/admin/system/disasterrecovery/")
    assert job["jobid"] in admin.get("/admin/jobs")["jobs"]
    legacy = admin.get(f"{DR}/backuprestore/backups")["backups"]
    current = admin.get(f"{DR}/stores/default/backups")["backups"]
    assert [b["backupName"] for b in legacy] == [b["name"] for b in current]
    backup = admin.get(f"{DR}/stores/default/backups/listed")
    assert (backup["scheduleType"], backup["retentionDate"], backup["backupStore"],
            backup["description"], backup["createdBy"]) == ("MANUAL", -1, "default", "first",
                                                            "admin")
    assert backup["completeTime"] >= backup["startTime"] > 0 and backup["size"] > 0
    status = admin.get(f"{DR}/backuprestore/status")["status"]
    assert (status["operation"], status["state"], status["backupName"]) == (
        "Backup", "success", "listed")
    assert status["stages"][0]["name"] == "Validation"
    assert all(s["state"] == "completed" for s in status["stages"])
    quick = admin.post(f"{DR}/backuprestore/backups/listed/validate")
    assert quick["status"] == "success" and quick["verified"] is False
    full = admin.post(f"{DR}/stores/default/backups/listed/validate", passcode=PASSCODE)
    assert full["status"] == "success" and full["verified"] is True
    wrong = admin.post(f"{DR}/stores/default/backups/listed/validate", passcode="wrong passcode")
    assert wrong["status"] == "error" and "passcode" in json.dumps(wrong)


def test_retention_is_changed_and_a_deleted_backup_is_gone_with_its_file(
        admin: Admin, server: Server) -> None:
    admin.back_up("short-lived")
    file = server.data_dir / "backups" / "short-lived.gtbackup"
    assert file.is_file()
    assert admin.post(f"{DR}/stores/default/backups/short-lived/update",
                      retentionDate="4102444800000")["status"] == "success"
    assert admin.get(f"{DR}/backuprestore/backups/short-lived")["retentionDate"] == 4102444800000
    assert admin.post(f"{DR}/backuprestore/backups/short-lived/update",
                      retentionDate="-1")["status"] == "success"
    assert admin.post(f"{DR}/backuprestore/backups/short-lived/delete")["status"] == "success"
    assert not file.exists()
    gone = admin.get(f"{DR}/backuprestore/backups/short-lived")
    assert gone["status"] == "error" and gone["code"] == 404


@pytest.mark.parametrize(("form", "named"), [
    ({"name": "b", "passcode": "short"}, "passcode"),
    ({"name": "b"}, "passcode"),
    ({"passcode": PASSCODE}, "name"),
    ({"name": "../../etc/x", "passcode": PASSCODE}, "name"),
    ({"name": "b", "passcode": PASSCODE, "retentionDate": "-7"}, "retentionDate"),
    ({"name": "b", "passcode": PASSCODE, "retentionDate": "soon"}, "retentionDate"),
])
def test_a_bad_backup_request_is_refused_naming_the_parameter(
        admin: Admin, form: dict[str, str], named: str) -> None:
    answer = admin.post(f"{DR}/stores/default/backups/create", **form)
    assert answer["status"] == "error" and named in json.dumps(answer), answer
    assert all(b["name"] != "b" for b in admin.get(f"{DR}/backuprestore/backups")["backups"])


def test_an_unknown_store_or_backup_is_not_found(admin: Admin) -> None:
    for answer in (admin.post(f"{DR}/stores/nowhere/backups/create", name="b", passcode=PASSCODE),
                   admin.get(f"{DR}/stores/nowhere"),
                   admin.post(f"{DR}/backuprestore/backups/nothing/restore", passcode=PASSCODE)):
        assert answer["status"] == "error" and answer["code"] == 404, answer


def test_stores_are_registered_made_default_validated_and_unregistered(
        admin: Admin, server: Server, tmp_path_factory: pytest.TempPathFactory) -> None:
    root = tmp_path_factory.mktemp("nfs") / "store2"
    answer = admin.post(f"{DR}/stores/register", storeName="store2", rootDirectory=str(root),
                        credentials={}, storageConfig={"type": "FILE_SYSTEM"}, isDefault="false")
    assert answer["status"] == "success" and answer["name"] == "store2"
    assert root.is_dir()
    hosted = admin.post(f"{DR}/stores/register", storeName="store3",
                        settings={"type": "HOSTED", "storageConfig": {"size": "64Gi"}},
                        isDefault="false", **{"async": "true"})
    assert hosted["name"] == "store3" and "jobsUrl" in hosted
    assert admin.post(f"{DR}/stores/store2/update",
                      settings={"default": True})["status"] == "success"
    defaults = [s["name"] for s in admin.get(f"{DR}/stores")["backupStores"] if s["default"]]
    assert defaults == ["store2"]
    valid = admin.post(f"{DR}/stores/store2/validate")
    assert valid["writable"] is True and valid["freeSpace"] > 0
    job = admin.back_up("in-store2")
    assert job["result"]["backupStore"] == "store2" and (root / "in-store2.gtbackup").is_file()
    refused = admin.post(f"{DR}/stores/store2/unregister")
    assert refused["status"] == "error" and "default" in json.dumps(refused)
    admin.post(f"{DR}/stores/default/update", settings={"default": True})
    for name in ("store2", "store3"):
        assert admin.post(f"{DR}/stores/{name}/unregister")["status"] == "success"
    assert [s["name"] for s in admin.get(f"{DR}/stores")["backupStores"]] == ["default"]
    assert (root / "in-store2.gtbackup").is_file(), "unregistering keeps the files"
    for where in ("relative/path", "/var/lib/elsewhere", str(server.data_dir / "content")):
        bad = admin.post(f"{DR}/stores/register", storeName="rel", rootDirectory=where)
        assert bad["status"] == "error" and "rootDirectory" in json.dumps(bad), bad


def test_settings_bound_the_backup_time_and_refuse_what_they_do_not_know(admin: Admin) -> None:
    assert admin.get(f"{DR}/settings")["timeoutInMinutes"] == 120
    assert admin.post(f"{DR}/settings/update",
                      settings={"timeoutInMinutes": 180})["timeoutInMinutes"] == 180
    for bad in ({"timeoutInMinutes": 0}, {"timeoutInMinutes": "x"}, {"speed": 1}, [1]):
        answer = admin.post(f"{DR}/settings/update", settings=bad)
        assert answer["status"] == "error" and "settings" in json.dumps(answer), answer
    assert admin.get(f"{DR}/settings")["timeoutInMinutes"] == 180


def test_only_the_default_administrator_role_reaches_disaster_recovery(
        server: Server) -> None:
    erin = httpx.Client(verify=False, headers={
        "X-Esri-Authorization": f"Bearer {token(server, 'erin', 'erins pass 1')}"})
    for path in (f"{DR}/stores", f"{DR}/backuprestore/backups", f"{DR}/status", "/admin/jobs"):
        answer = erin.get(f"{server.url}{path}", params={"f": "json"}).json()
        assert answer["code"] == 403, (path, answer)
        anonymous = httpx.get(f"{server.url}{path}", params={"f": "json"}, verify=False).json()
        assert anonymous["code"] in (499, 403), (path, anonymous)
    answer = erin.post(f"{server.url}{DR}/backuprestore/backup",
                       data={"f": "json", "name": "x", "passcode": PASSCODE}).json()
    assert answer["code"] == 403


def test_a_create_backup_task_keeps_its_passcode_sealed_and_makes_a_scheduled_backup(
        admin: Admin, server: Server) -> None:
    parameters = {"name": "schedule1", "passcode": PASSCODE, "storeName": "default",
                  "metaData": {"recurring": True, "startTime": "20:00",
                               "retention": {"type": "day", "value": 14}},
                  "retentionOffset": 1209600000}
    created = admin.post("/admin/system/tasks/createTask", type="CreateBackup",
                         title="nightly", parameters=parameters, **EVERY_MINUTE,
                         **from_tomorrow())
    task_id = created["taskId"]
    task = admin.get(f"/admin/system/tasks/{task_id}")
    assert task["parameters"]["passcode"] == "********"
    assert PASSCODE not in json.dumps(task)
    assert PASSCODE not in (server.data_dir / "gistasks.db").read_bytes().decode("latin-1")
    admin.post(f"/admin/system/tasks/{task_id}/runNow")
    deadline = time.monotonic() + 60
    runs: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        runs = admin.get(f"/admin/system/tasks/{task_id}/runs")["result"]
        if runs and runs[0]["status"] in ("succeeded", "failed"):
            break
        time.sleep(0.2)
    assert runs and runs[0]["status"] == "succeeded", runs
    scheduled = [b for b in admin.get(f"{DR}/backuprestore/backups")["backups"]
                 if b["name"].startswith("schedule1-")]
    assert len(scheduled) == 1 and scheduled[0]["scheduleType"] == "SCHEDULED"
    assert scheduled[0]["name"] in runs[0]["result"]
    offset = scheduled[0]["retentionDate"] - scheduled[0]["startTime"]
    assert 1209600000 - 120_000 < offset <= 1209600000
    bad = admin.post("/admin/system/tasks/createTask", type="CreateBackup", title="bad",
                     parameters={**parameters, "passcode": "short"}, **EVERY_MINUTE)
    assert bad["status"] == "error" and "passcode" in json.dumps(bad)
    admin.post(f"/admin/system/tasks/{task_id}/delete")


def test_the_retention_cleaner_exists_from_the_first_start_and_cannot_be_deleted(
        admin: Admin) -> None:
    tasks = admin.get("/admin/system/tasks")["result"]
    cleaner = [t for t in tasks if t["taskType"] == "BackupRetentionCleaner"]
    assert len(cleaner) == 1 and cleaner[0]["title"] == "backupRetentionCleanerTask"
    assert cleaner[0]["type"] == "BACKUP_RETENTION_TASK_TYPE"
    assert cleaner[0]["cronExpression"] == "0 0 * * * ?"
    refused = admin.post(f"/admin/system/tasks/{cleaner[0]['id']}/delete")
    assert refused["status"] == "error"


def _busy(admin: Admin, erin: Admin, stop_at: threading.Event) -> None:
    """Tasks fired and GP jobs submitted without pause, as a live deployment has them."""
    task = erin.post("/sharing/rest/community/users/erin/tasks/createTask", type="Ping",
                     title="busy", **EVERY_MINUTE, **from_tomorrow())["taskId"]
    while not stop_at.is_set():
        try:
            erin.post(f"/sharing/rest/community/users/erin/tasks/{task}/runNow")
            erin.post(f"/{TOOLS}/Sleep/submitJob", Seconds="0.2")
        except httpx.HTTPError:
            pass
        stop_at.wait(0.05)


def test_a_restore_brings_back_exactly_the_backed_up_state_after_a_restart(
        admin: Admin, server: Server) -> None:
    erin = Admin(server, token(server, "erin", "erins pass 1"))
    tasks = "/sharing/rest/community/users/erin/tasks"
    kept = erin.post(f"{tasks}/createTask", type="Ping", title="kept", **EVERY_MINUTE,
                     **from_tomorrow())["taskId"]
    job = erin.post(f"/{TOOLS}/WriteFile/submitJob", Content="written before")["jobId"]
    for _ in range(100):
        if erin.get(f"/{TOOLS}/WriteFile/jobs/{job}")["jobStatus"] == "esriJobSucceeded":
            break
        time.sleep(0.1)
    busy_stop = threading.Event()
    busy = threading.Thread(target=_busy, args=(admin, erin, busy_stop))
    busy.start()
    try:
        time.sleep(0.5)
        admin.back_up("before-changes")
    finally:
        busy_stop.set()
        busy.join()
    before = admin.get("/sharing/rest/portals/self/allScheduledTasks")
    titles_before = sorted(t["title"] for t in erin.get(tasks)["tasks"])
    assert "kept" in titles_before
    job_file = next(server.data_dir.glob(f"jobs/{job}/**/result.txt"))
    # everything changes
    erin.post(f"{tasks}/{kept}/delete")
    erin.post(f"{tasks}/createTask", type="Ping", title="made after", **EVERY_MINUTE,
              **from_tomorrow())
    job_file.write_text("changed after")
    wrong = admin.post(f"{DR}/backuprestore/backups/before-changes/restore", storeName="default",
                       passcode="not the passcode")
    assert wrong["status"] == "error" and "passcode" in json.dumps(wrong)
    seen: list[str] = []
    watching = threading.Event()

    def watch() -> None:
        while not watching.is_set():
            try:
                seen.append(json.dumps(erin.get(tasks)))
            except httpx.HTTPError:
                seen.append("down")
            time.sleep(0.01)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        done = admin.post(f"{DR}/backuprestore/backups/before-changes/restore",
                          storeName="default", passcode=PASSCODE)
        assert done["status"] == "success", done
        deadline = time.monotonic() + 60
        status: dict[str, Any] = {}
        while time.monotonic() < deadline:
            try:
                status = admin.get(f"{DR}/status")["status"]
                if status.get("operation") == "Restore" and status.get("state") != "running":
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
    finally:
        watching.set()
        watcher.join()
    assert status["state"] == "success", status
    assert [(s["name"], s["state"]) for s in status["stages"]] == [
        ("Validation", "completed"), ("Stage backup", "completed"), ("Swap in", "completed")]
    assert any("being restored" in s for s in seen), "the API said it was being restored"
    assert sorted(t["title"] for t in erin.get(tasks)["tasks"]) == titles_before
    after = admin.get("/sharing/rest/portals/self/allScheduledTasks")
    assert sorted(t["id"] for t in after["tasks"]) == sorted(t["id"] for t in before["tasks"])
    assert job_file.read_text() == "written before"
    assert "before-changes" in [b["name"] for b in admin.get(f"{DR}/backuprestore/backups")[
        "backups"]], "the list of backups survives the restore"
    assert "gistasks restarting to finish a restore" in server.output()


def _cli(data_dir: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "gistasks", *args, "--data-dir",
                             str(data_dir)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, env={**os.environ, "GISTASKS_BACKUP_PASSCODE": PASSCODE})


def _kill_when(proc: subprocess.Popen[str], appeared: Any, timeout: float = 60) -> None:
    """SIGKILL ``proc`` the moment ``appeared()`` is true (it must not have ended before)."""
    deadline = time.monotonic() + timeout
    while not appeared():
        assert proc.poll() is None, f"ended before it could be killed: {proc.communicate()}"
        assert time.monotonic() < deadline
        time.sleep(0.002)
    proc.send_signal(signal.SIGKILL)
    proc.wait()


def _listing(data_dir: Path) -> str:
    proc = _cli(data_dir, "backup", "list")
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, out
    return out


def test_killed_backup_and_restore_leave_the_previous_state_intact(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    made = _cli(data_dir, "backup", "create", "small")
    assert made.wait(60) == 0, made.communicate()
    big = data_dir / "content" / "0123456789abcdef0123456789abcdef" / "big.bin"
    big.parent.mkdir(parents=True)
    with big.open("wb") as f:
        for _ in range(48):
            f.write(os.urandom(4 * 1024 * 1024))
    store = data_dir / "backups"
    half = _cli(data_dir, "backup", "create", "cut")
    _kill_when(half, lambda: any(p.stat().st_size > 1024 * 1024 for p in store.glob(".*")))
    listed = _listing(data_dir)
    assert "small" in listed and "cut" not in listed
    full = _cli(data_dir, "backup", "create", "full")  # not refused: the killed one is over
    assert full.wait(120) == 0, full.communicate()
    assert sorted(p.name for p in store.iterdir()) == ["full.gtbackup", "small.gtbackup"], (
        "the half backup is removed by the next backup")
    big.unlink()
    marker = data_dir / "after-the-backup"
    marker.write_text("live")
    restore = _cli(data_dir, "restore", str(store / "full.gtbackup"))
    staging = data_dir / ".restore"
    _kill_when(restore, lambda: any(p.is_file() and p.stat().st_size > 1024 * 1024
                                    for p in staging.rglob("*")) if staging.exists() else False)
    assert marker.read_text() == "live" and not big.exists(), "the live state is untouched"
    again = _cli(data_dir, "restore", str(store / "full.gtbackup"))
    out, _ = again.communicate(timeout=120)
    assert again.returncode == 0, out
    assert not marker.exists() and big.stat().st_size == 48 * 4 * 1024 * 1024
    assert sorted(p.name for p in staging.iterdir()) == [] if staging.exists() else True
    verify = _cli(data_dir, "backup", "verify", str(store / "full.gtbackup"))
    out, _ = verify.communicate(timeout=120)
    assert verify.returncode == 0 and "sound" in out, out


def test_a_restore_is_refused_while_another_node_shares_the_data_directory(
        admin: Admin, server: Server) -> None:
    admin.back_up("shared")
    other = start_server(server.data_dir, env={"GISTASKS_ADMIN_PASSWORD": "admin pass 1"})
    try:
        refused = admin.post(f"{DR}/backuprestore/backups/shared/restore", passcode=PASSCODE)
        assert refused["status"] == "error" and "other nodes" in json.dumps(refused), refused
    finally:
        stop(other)
    assert admin.get(f"{DR}/stores")["backupStores"], "the server went on serving"


def test_a_server_killed_while_it_prepares_a_restore_comes_back_with_its_own_state(
        tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    srv = start_with_users(data_dir, ERIN)
    try:
        admin = Admin(srv, token(srv, "admin", "admin pass 1"))
        big = data_dir / "content" / "0123456789abcdef0123456789abcdef" / "big.bin"
        big.parent.mkdir(parents=True)
        with big.open("wb") as f:
            for _ in range(40):
                f.write(os.urandom(4 * 1024 * 1024))
        admin.back_up("with-big")
        big.unlink()
        marker = data_dir / "made-after"
        marker.write_text("live")
        asked = threading.Thread(target=lambda: _ignore(lambda: admin.post(
            f"{DR}/backuprestore/backups/with-big/restore", passcode=PASSCODE)))
        asked.start()
        staging = data_dir / ".restore"
        _kill_when(srv.process, lambda: staging.exists() and any(
            p.is_file() and p.stat().st_size > 1024 * 1024 for p in staging.rglob("*")))
        asked.join()
    finally:
        stop(srv)
    again = start_server(data_dir, env={"GISTASKS_ADMIN_PASSWORD": "admin pass 1"})
    try:
        admin = Admin(again, token(again, "admin", "admin pass 1"))
        assert marker.read_text() == "live" and not big.exists(), "the live state stands"
        assert not staging.exists() or list(staging.iterdir()) == []
        status = admin.get(f"{DR}/status")["status"]
        assert (status["operation"], status["state"]) == ("Restore", "failed"), status
        assert "with-big" in [b["name"] for b in admin.get(f"{DR}/backuprestore/backups")[
            "backups"]]
    finally:
        stop(again)


def _ignore(call: Any) -> None:
    """Call, ignoring the connection the server dropped when it was killed."""
    with contextlib.suppress(httpx.HTTPError):
        call()
