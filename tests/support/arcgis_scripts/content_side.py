"""The official client on content and the task types that work on it: a notebook is added
(``Folder.add``, in parts as the client streams files), read, searched, updated; an
ExecuteNotebook task created through ``gis.users.me.tasks.create`` fires on its minute with
its ``notebookParameters``, and the notebook signs in with ``GIS("home")`` as its owner; the
executed notebook is read from the run's ``url``; an admin's ``User.report`` returns a CSV
item; an item is deleted.

Settings come from the environment: ARCGIS_TEST_URL, ARCGIS_TEST_USER/PASSWORD (a user) and
ARCGIS_TEST_ADMIN_PASSWORD. Prints one JSON object, a record per step (see steps.py).
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path
from typing import Any

from arcgis.gis import GIS, ItemProperties, ItemTypeEnum

from tests.support.arcgis_scripts.steps import Steps, setting, wait_for

NOTEBOOK = {
    "cells": [
        {"cell_type": "code", "metadata": {"tags": ["parameters"]}, "outputs": [],
         "execution_count": None, "source": "greeting = 'default'\ncount = 1"},
        {"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None,
         "source": "from arcgis.gis import GIS\nme = GIS('home').users.me.username\n"
                   "print(f'{greeting} x{count} from {me}')"},
        {"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None,
         "source": "count * 2"},
    ],
    "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3",
                                "language": "python"}},
    "nbformat": 4, "nbformat_minor": 5,
}


def item_summary(item: Any) -> dict[str, Any]:
    return {"id": item.id, "type": item.type, "title": item.title, "owner": item.owner,
            "class": type(item).__name__, "size": item.size}


def main() -> None:
    steps = Steps()
    url = setting("ARCGIS_TEST_URL")
    user, password = setting("ARCGIS_TEST_USER"), setting("ARCGIS_TEST_PASSWORD")
    admin_password = setting("ARCGIS_TEST_ADMIN_PASSWORD")
    work = Path(tempfile.mkdtemp())

    with steps.step("sign_in") as r:
        gis = GIS(url, user, password, verify_cert=False)
        r["username"] = gis.users.me.username

    item = None
    with steps.step("add_notebook") as r:
        path = work / "greet.ipynb"
        path.write_text(json.dumps(NOTEBOOK))
        root = gis.content.folders.get()
        job = root.add(ItemProperties(title="Greeting notebook",
                                      item_type=ItemTypeEnum.NOTEBOOK.value,
                                      tags=["test"]), file=str(path))
        item = job.result()
        r["item"] = item_summary(item)
        data = item.get_data()
        r["data"] = json.loads(Path(data).read_text()) if isinstance(data, str) and \
            Path(data).is_file() else data

    with steps.step("folders_and_search") as r:
        folder = gis.content.folders.create("Scheduled")
        r["folder"] = folder.name
        r["folders"] = sorted(f.name for f in gis.content.folders.list())
        found = gis.content.search(query=f"owner:{user}", item_type="Notebook")
        r["found"] = [i.id for i in found]
        r["listed"] = [i.id for i in gis.users.me.items()]

    with steps.step("update_item") as r:
        assert item is not None
        r["updated"] = item.update(item_properties={"title": "Greeting notebook (renamed)",
                                                    "snippet": "says hello"})
        r["item"] = item_summary(gis.content.get(item.id))

    task = None
    with steps.step("create_notebook_task") as r:
        assert item is not None
        created_at = time.time()
        task = gis.users.me.tasks.create(
            item=item, cron="* * * * *", task_type="ExecuteNotebook", title="greet",
            parameters={"greeting": "hello", "count": 21})  # the client wraps them
        r["returned"] = type(task).__name__
        r["created_at"] = created_at

    with steps.step("notebook_task_fires") as r:
        assert task is not None

        def finished() -> Any:
            runs = [x.properties for x in task.runs]
            return [x for x in runs if x.get("status") not in ("scheduled", "executing")]

        done = wait_for(finished, 150, 1.0)
        r["runs"] = [dict(x) for x in done or []]
        if done:
            page = gis.session.get(done[0]["url"])
            r["page_has_output"] = f"hello x21 from {user}" in page.text
            ipynb = gis.session.get(done[0]["url"].replace(".html", ".ipynb")).json()
            r["sources"] = ["".join(c["source"]) for c in ipynb["cells"]]
            r["outputs"] = [c.get("outputs") for c in ipynb["cells"]]
            data = gis.content.get(item.id).get_data()
            r["item_data"] = json.loads(Path(data).read_text()) if isinstance(data, str) \
                and Path(data).is_file() else data
        task.delete()

    with steps.step("admin_report") as r:
        admin = GIS(url, "admin", admin_password, verify_cert=False)
        report = admin.users.me.report("users", duration="weekly")
        r["item"] = item_summary(report)
        data = report.get_data()
        r["data"] = Path(data).read_text() if isinstance(data, str) and \
            Path(data).is_file() else data

    with steps.step("execute_notebook_on_demand") as r:
        from arcgis.notebook import execute_notebook

        admin = GIS(url, "admin", admin_password, verify_cert=False)
        nb_item = admin.content.get(item.id)
        started = execute_notebook(nb_item, gis=admin, future=True,
                                   parameters={"greeting": "on demand", "count": 2},
                                   update_portal_item=False)
        r["returned"] = type(started).__name__
        job = started.result() if hasattr(started, "result") else started
        r["job"] = dict(job) if isinstance(job, dict) else str(job)
        if isinstance(job, dict) and job.get("results", {}).get("executedNotebookUrl"):
            executed = admin.session.get(
                job["results"]["executedNotebookUrl"].replace(".html", ".ipynb")).json()
            r["outputs"] = [c.get("outputs") for c in executed["cells"]]

    with steps.step("delete_item") as r:
        assert item is not None
        r["deleted"] = item.delete()
        r["search_after"] = [i.id for i in gis.content.search(query=f"owner:{user}",
                                                              item_type="Notebook")]

    steps.finish()


if __name__ == "__main__":
    main()
