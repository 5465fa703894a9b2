"""The official client on the admin side: ``gis.admin`` (Kubernetes), system tasks and their runs,
and the system limits.

Settings come from the environment: ARCGIS_TEST_URL (``https://host:port/<ctx>``) and
ARCGIS_TEST_ADMIN_PASSWORD (the ``admin`` account). Prints one JSON object, a record per step
(see steps.py). One sign-in (which in Kubernetes mode is two OAuth flows).

``gis.admin.system.tasks.create_task`` recurses for ever in arcgis 2.4.4 (a class-name
shadowing), so the task is created the way the client's own docs work around it: the Sharing
``TaskManager`` class pointed at the admin URL.
"""

from __future__ import annotations

from typing import Any

from arcgis.gis import GIS
from arcgis.gis.tasks import TaskManager as SharingTaskManager

from tests.support.arcgis_scripts.steps import Steps, setting, wait_for

PASSCODE = "s3cret-pass"


def summary(props: dict[str, Any]) -> dict[str, Any]:
    keys = ("id", "taskId", "type", "taskType", "title", "taskTitle", "itemId", "cronSchedule",
            "maxOccurrences", "taskState", "active", "parameters", "ownerId", "cronExpression",
            "runIntervalSeconds", "orgId", "generation", "created", "updated")
    return {k: props.get(k) for k in keys}


def main() -> None:
    steps = Steps()
    url, admin_password = setting("ARCGIS_TEST_URL"), setting("ARCGIS_TEST_ADMIN_PASSWORD")

    with steps.step("sign_in") as r:
        gis = GIS(url, "admin", admin_password, verify_cert=False)
        adm = gis.admin
        r["username"] = gis.users.me.username
        r["admin_class"] = type(adm).__name__
        r["admin_url"] = adm.url
        r["admin_version"] = list(adm.version)
        tasks = adm.system.tasks
        r["tasks_class"] = type(tasks).__name__
        r["tasks_url"] = tasks.url
        r["listed_before"] = [summary(t) for t in tasks.properties["result"]]

    def listed() -> list[str]:
        tasks._refresh()  # .properties is cached per object
        return [t["id"] for t in tasks.properties["result"]]

    with steps.step("create") as r:
        task = SharingTaskManager(tasks.url, gis.users.me, gis).create(
            item=None, cron="* * * * *", task_type="Ping", occurences=-1, title="sys heartbeat",
            parameters={"note": "x", "passcode": PASSCODE})
        r["returned"] = type(task).__name__
        task_id = task.properties["id"]
        r["task_id"] = task_id
        r["task_url"] = task._url
        r["listed"] = listed()
        r["fresh_listed"] = [t["id"] for t in adm.system.tasks.properties["result"]]
        r["task"] = summary(tasks.task(task_id))

    with steps.step("update_through_the_task_object") as r:
        # Task.update sends back what the GET showed: the masked passcode and the internal type.
        r["returned"] = task.update(title="sys heartbeat 2", occurences=-1)
        r["task"] = summary(tasks.task(task_id))

    with steps.step("edit_task") as r:
        edited = tasks.edit_task(task_id, None, "30 3 * * *", "Ping", occurences=-1,
                                 title="renamed")
        r["returned"] = type(edited).__name__
        r["task"] = summary(tasks.task(task_id))

    with steps.step("disable_enable") as r:
        r["disable"] = tasks.diable_task(task_id)  # (sic)
        r["disabled"] = summary(tasks.task(task_id))
        r["enable"] = tasks.enable_task(task_id)
        r["enabled"] = summary(tasks.task(task_id))

    with steps.step("runs") as r:
        answer = gis._con.post(f"{tasks.url}/{task_id}/runNow", {})
        r["run_now"] = answer
        run_id = answer["runId"]

        def finished() -> dict[str, Any] | None:
            for run in tasks.runs(task_id)["result"]:
                if run["runId"] == run_id and run["status"] in ("succeeded", "failed"):
                    return dict(run)
            return None

        r["listed_run"] = wait_for(finished, 30)
        r["run"] = tasks.run(task_id, run_id)
        r["edit_run"] = tasks.edit_run(task_id, run_id, "failed", "boom")
        r["edited_run"] = tasks.run(task_id, run_id)
        r["delete_run"] = tasks.delete_run(task_id, run_id)
        r["runs_left"] = [x["runId"] for x in tasks.runs(task_id)["result"]]

    with steps.step("limits") as r:
        r["portaladmin"] = gis._con.get(f"{gis.url}/portaladmin/system/limits", {"f": "json"})
        r["admin"] = gis._con.get(f"{gis.url}/admin/system/limits", {"f": "json"})

    with steps.step("delete") as r:
        r["delete"] = tasks.delete_task(task_id)
        r["listed"] = listed()
        try:
            r["read_deleted"] = tasks.task(task_id)
        except Exception as exc:
            r["read_deleted_error"] = str(exc)

    steps.finish()


if __name__ == "__main__":
    main()
