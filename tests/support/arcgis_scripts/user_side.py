"""The official client on the user side: sign-in, a user's scheduled tasks and runs, the admin list.

Settings come from the environment: ARCGIS_TEST_URL (``https://host:port/<ctx>``),
ARCGIS_TEST_USER / ARCGIS_TEST_PASSWORD (a publisher) and ARCGIS_TEST_ADMIN_PASSWORD (the
``admin`` account). Prints one JSON object, a record per step (see steps.py).

Three sign-ins: the user by OAuth (the client's default), the user by generateToken
(``use_gen_token=True``) and the admin. The task with an every-minute schedule is created first
and its runs are read last, so the wait for its scheduled fire overlaps the other steps.
"""

from __future__ import annotations

import time
from typing import Any

from arcgis.gis import GIS
from arcgis.gis.tasks import Run, Task

from tests.support.arcgis_scripts.steps import Steps, setting, wait_for

FIRE_WAIT_S = 75  # the first minute boundary after creation, plus the engine's slack


def fresh(task: Task) -> dict[str, Any]:
    """The task as the server shows it now (``Task.properties`` is cached per object)."""
    task._properties = None
    return dict(task.properties)


def run_props(task: Task) -> list[dict[str, Any]]:
    """Every run of ``task`` through ``task.runs`` -> ``Run`` objects -> ``Run.properties``."""
    return [dict(run.properties) for run in task.runs]


def summary(props: dict[str, Any]) -> dict[str, Any]:
    keys = ("id", "type", "title", "userId", "itemId", "cronSchedule", "maxOccurrences",
            "occurrences", "taskState", "active", "nextStart", "lastStart", "parameters")
    return {k: props.get(k) for k in keys}


def main() -> None:
    steps = Steps()
    url, user = setting("ARCGIS_TEST_URL"), setting("ARCGIS_TEST_USER")
    password, admin_password = setting("ARCGIS_TEST_PASSWORD"), setting(
        "ARCGIS_TEST_ADMIN_PASSWORD")

    with steps.step("sign_in") as r:
        gis = GIS(url, user, password, verify_cert=False)
        me = gis.users.me
        r["username"] = me.username
        r["role"] = me.role
        r["portal_name"] = gis.properties["portalName"]
        r["token_is_set"] = bool(gis._con.token)
        tm = me.tasks
        r["task_manager"] = type(tm).__name__

    with steps.step("create_every_minute") as r:
        r["count_before"] = tm.count
        created_at = time.time()  # just before: the first fire is the next minute after it
        minutely = tm.create(item=None, cron="* * * * *", task_type="Ping", occurences=-1,
                             title="every minute")
        r["returned"] = type(minutely).__name__
        r["task"] = summary(fresh(minutely))

    with steps.step("create_five_times") as r:
        five = tm.create(item=None, cron="0 4 * * *", task_type="Ping", occurences=5,
                         title="five times")
        r["returned"] = type(five).__name__
        r["task"] = summary(fresh(five))

    with steps.step("count_list_search") as r:
        r["count"] = tm.count
        r["all"] = sorted(fresh(t)["id"] for t in tm.all)
        r["active"] = sorted(fresh(t)["id"] for t in tm.search(active=True))
        r["typed"] = sorted(fresh(t)["id"] for t in tm.search(types="Ping"))
        r["ids"] = {"minutely": fresh(minutely)["id"], "five": fresh(five)["id"]}

    with steps.step("update_title") as r:
        r["returned"] = five.update(title="renamed", occurences=5)
        r["task"] = summary(fresh(five))
        # Without occurences the client sends its default, maxOccurrences=10.
        r["returned_default"] = five.update(title="renamed again")
        r["task_default"] = summary(fresh(five))

    with steps.step("stop_start") as r:
        r["stop"] = five.stop()
        r["stopped"] = summary(fresh(five))
        r["inactive_ids"] = [fresh(t)["id"] for t in tm.search(active=False)]
        r["start"] = five.start()
        r["started"] = summary(fresh(five))

    with steps.step("disable_enable") as r:
        r["disable"] = five.enable(False)
        r["disabled"] = summary(fresh(five))
        r["enable"] = five.enable(True)
        r["enabled"] = summary(fresh(five))

    with steps.step("run_now_and_runs") as r:
        task_url = five._url
        answer = gis._con.post(task_url + "/runNow", {})
        r["run_now"] = answer
        run_id = answer["runId"]

        def finished() -> dict[str, Any] | None:
            runs = {p["runId"]: p for p in run_props(five)}
            run = runs.get(run_id)
            return run if run and run["status"] in ("succeeded", "failed") else None

        r["run"] = wait_for(finished, 30)
        runs: list[Run] = five.runs
        r["run_classes"] = sorted({type(x).__name__ for x in runs})
        run = next(x for x in runs if x.properties["runId"] == run_id)
        r["update"] = run.update(status="failed", description="boom")
        r["updated"] = dict(Run(run._url, gis).properties)
        r["delete"] = run.delete()
        r["left"] = [p["runId"] for p in run_props(five)]

    with steps.step("sign_in_with_generate_token") as r:
        gis_gt = GIS(url, user, password, verify_cert=False, use_gen_token=True)
        me_gt = gis_gt.users.me
        r["username"] = me_gt.username
        r["ids"] = sorted(fresh(t)["id"] for t in me_gt.tasks.all)

    with steps.step("admin_lists_scheduled_tasks") as r:
        admin = GIS(url, "admin", admin_password, verify_cert=False)
        r["admin_class"] = type(admin.admin).__name__
        r["tasks"] = sorted([t.properties["userId"], t.properties["id"]]
                            for t in admin.admin.scheduled_tasks())
        r["active"] = sorted(t.properties["id"] for t in admin.admin.scheduled_tasks(active=True))

    with steps.step("scheduled_fire") as r:
        def fired() -> list[dict[str, Any]]:
            return [p for p in run_props(minutely) if p["status"] == "succeeded"]

        remaining = created_at + FIRE_WAIT_S - time.time()
        r["fired"] = wait_for(fired, max(remaining, 0), interval=1)
        r["waited_since_create"] = round(time.time() - created_at, 1)
        r["created_at_ms"] = int(created_at * 1000)
        r["task"] = summary(fresh(minutely))

    with steps.step("delete") as r:
        r["delete_minutely"] = minutely.delete()
        r["delete_five"] = five.delete()
        r["count_after"] = gis.users.me.tasks.count
        r["read_deleted"] = fresh(five)

    steps.finish()


if __name__ == "__main__":
    main()
