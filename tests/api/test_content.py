"""Portal content over HTTP against a real ``gistasks serve``: items added from a file, a URL
or a text, uploads in parts, item JSON and data, update, move, delete, folders, search,
reports, who may touch what, the upload bound, and tasks disabled when their item goes."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.server import (
    ERIN,
    FRANK,
    Server,
    from_tomorrow,
    start_with_users,
    stop,
    token,
)

pytestmark = pytest.mark.timeout(120)
NOTEBOOK = {"cells": [{"cell_type": "code", "source": "print(1)", "metadata": {},
                       "outputs": [], "execution_count": None}],
            "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
MAX_UPLOAD_MB = 2


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = start_with_users(tmp_path_factory.mktemp("content"), ERIN, FRANK,
                           env={"GISTASKS_MAX_UPLOAD_MB": str(MAX_UPLOAD_MB)})
    yield srv
    stop(srv)


class Client:
    def __init__(self, server: Server, user: str, password: str) -> None:
        self.server = server
        self.user = user
        self.http = httpx.Client(verify=False, timeout=60, headers={
            "X-Esri-Authorization": f"Bearer {token(server, user, password)}"})

    def url(self, path: str) -> str:
        return f"{self.server.url}/sharing/rest/{path}"

    def get(self, path: str, **params: Any) -> Any:
        return self.http.get(self.url(path), params={"f": "json", **params}).json()

    def post(self, path: str, files: Any = None, **form: Any) -> Any:
        return self.http.post(self.url(path), data={"f": "json", **form}, files=files).json()

    def add(self, folder: str = "", files: dict[str, Any] | None = None, **form: Any) -> str:
        where = f"content/users/{self.user}" + (f"/{folder}" if folder else "")
        answer = self.post(f"{where}/addItem", files=files, **form)
        assert answer.get("success") is True, answer
        return str(answer["id"])


@pytest.fixture(scope="module")
def erin(server: Server) -> Client:
    return Client(server, "erin", "erins pass 1")


@pytest.fixture(scope="module")
def frank(server: Server) -> Client:
    return Client(server, "frank", "franks pass 1")


@pytest.fixture(scope="module")
def admin(server: Server) -> Client:
    return Client(server, "admin", "admin pass 1")


def error_of(answer: Any) -> tuple[int, str]:
    assert "error" in answer, answer
    return answer["error"]["code"], " ".join([answer["error"]["message"],
                                              *answer["error"]["details"]])


def test_a_file_item_keeps_its_file_and_fields(erin: Client) -> None:
    data = json.dumps(NOTEBOOK).encode()
    item_id = erin.add(files={"file": ("analysis.ipynb", data)}, title="Analysis",
                       tags="a, b,a", snippet="short", description="<b>long</b>")
    assert len(item_id) == 32 and int(item_id, 16) >= 0
    item = erin.get(f"content/items/{item_id}")
    assert (item["type"], item["title"], item["owner"], item["name"], item["size"]) == (
        "Notebook", "Analysis", "erin", "analysis.ipynb", len(data))
    assert item["tags"] == ["a", "b"] and item["snippet"] == "short"
    assert item["ownerFolder"] is None and item["access"] == "private"
    answer = erin.http.get(erin.url(f"content/items/{item_id}/data"))
    assert answer.content == data
    assert "attachment" in answer.headers["content-disposition"]


def test_text_and_url_items(erin: Client) -> None:
    text_id = erin.add(type="Web Map", title="map", text='{"operationalLayers": []}')
    answer = erin.http.get(erin.url(f"content/items/{text_id}/data"))
    assert answer.json() == {"operationalLayers": []}
    url_id = erin.add(type="Scene Service", title="scene",
                      url="https://example.com/server/rest/services/Hosted/S/SceneServer")
    assert erin.get(f"content/items/{url_id}")["url"].endswith("/SceneServer")
    code, text = error_of(erin.get(f"content/items/{url_id}/data"))
    assert code == 400 and "no data" in text


def test_an_upload_in_parts_is_joined_in_the_order_of_the_part_numbers(erin: Client) -> None:
    item_id = erin.add(type="CSV", title="parts", multipart="true", filename="big.csv")
    base = f"content/users/erin/items/{item_id}"
    assert erin.get(f"{base}/status")["status"] == "partial"
    for number, part in ((3, b"5,6\n"), (1, b"a,b\n"), (2, b"1,2\n3,4\n")):
        answer = erin.post(f"{base}/addPart", files={"file": ("blob", part)},
                           partNum=str(number))
        assert answer == {"success": True}
    assert erin.get(f"{base}/parts")["parts"] == [1, 2, 3]
    assert erin.post(f"{base}/commit", title="joined")["success"] is True
    assert erin.get(f"{base}/status")["status"] == "completed"
    assert erin.http.get(erin.url(f"content/items/{item_id}/data")).content == \
        b"a,b\n1,2\n3,4\n5,6\n"
    item = erin.get(f"content/items/{item_id}")
    assert (item["title"], item["size"], item["name"]) == ("joined", 16, "big.csv")


def test_an_upload_past_the_bound_is_refused_and_leaves_nothing(erin: Client,
                                                               server: Server) -> None:
    too_big = b"x" * (MAX_UPLOAD_MB * 1024 * 1024 + 1)
    answer = erin.http.post(erin.url("content/users/erin/addItem"), data={
        "f": "json", "type": "CSV", "title": "huge"}, files={"file": ("huge.csv", too_big)})
    code, text = error_of(answer.json())
    assert code == 413 and "GISTASKS_MAX_UPLOAD_MB" in text
    item_id = erin.add(type="CSV", title="parts", multipart="true", filename="p.csv")
    half = b"y" * (MAX_UPLOAD_MB * 512 * 1024 + 1)
    base = f"content/users/erin/items/{item_id}"
    assert erin.post(f"{base}/addPart", files={"file": ("b", half)}, partNum="1")["success"]
    code, text = error_of(erin.post(f"{base}/addPart", files={"file": ("b", half)},
                                    partNum="2"))
    assert code == 400 and "at most" in text
    assert erin.get(f"{base}/parts")["parts"] == [1]
    staging = server.data_dir / "content" / ".staging"
    assert list(staging.iterdir()) == []


def test_update_replaces_fields_and_file(erin: Client) -> None:
    item_id = erin.add(files={"file": ("a.csv", b"x\n1\n")}, title="first")
    base = f"content/users/erin/items/{item_id}"
    assert erin.post(f"{base}/update", title="second", tags="t1")["success"] is True
    assert erin.post(f"{base}/update", files={"file": ("b.csv", b"x\n2\n")})["success"]
    item = erin.get(f"content/items/{item_id}")
    assert (item["title"], item["tags"], item["name"], item["size"]) == (
        "second", ["t1"], "b.csv", 4)
    assert erin.http.get(erin.url(f"content/items/{item_id}/data")).content == b"x\n2\n"


def test_folders_hold_items_and_a_deleted_folder_takes_its_items(erin: Client) -> None:
    folder = erin.post("content/users/erin/createFolder", title="Projects")["folder"]
    code, text = error_of(erin.post("content/users/erin/createFolder", title="projects"))
    assert code == 400 and "already exists" in text
    inside = erin.add(folder["id"], files={"file": ("in.csv", b"a\n")})
    moved = erin.add(files={"file": ("out.csv", b"a\n")})
    assert erin.post(f"content/users/erin/items/{moved}/move", folder="Projects")["success"]
    listing = erin.get(f"content/users/erin/{folder['id']}")
    assert {i["id"] for i in listing["items"]} == {inside, moved}
    assert listing["currentFolder"]["title"] == "Projects"
    root = erin.get("content/users/erin")
    assert "Projects" in [f["title"] for f in root["folders"]]
    assert inside not in [i["id"] for i in root["items"]]
    assert erin.post(f"content/users/erin/{folder['id']}/delete")["success"] is True
    assert error_of(erin.get(f"content/items/{inside}"))[0] == 404


def test_another_users_item_is_forbidden_and_an_admin_may_read_it(erin: Client,
                                                                  frank: Client,
                                                                  admin: Client) -> None:
    item_id = erin.add(files={"file": ("secret.csv", b"s\n")})
    assert error_of(frank.get(f"content/items/{item_id}"))[0] == 403
    assert error_of(frank.http.get(frank.url(f"content/items/{item_id}/data"),
                                   params={"f": "json"}).json())[0] == 403
    assert error_of(frank.post(f"content/users/erin/items/{item_id}/delete"))[0] == 403
    assert error_of(frank.post(f"content/users/frank/items/{item_id}/delete"))[0] == 403
    assert admin.get(f"content/items/{item_id}")["owner"] == "erin"
    assert erin.get(f"content/items/{item_id}")["id"] == item_id


def test_search_finds_the_callers_items_by_owner_type_and_words(erin: Client,
                                                                frank: Client,
                                                                admin: Client) -> None:
    mine = erin.add(type="Workflow", title="Nightly flood workflow", text="{}")
    theirs = frank.add(type="Workflow", title="Frank's flood workflow", text="{}")
    found = erin.get("search", q='owner:erin AND type:"Workflow"', num="100")
    assert [r["id"] for r in found["results"]] == [mine] and found["total"] == 1
    assert {r["id"] for r in admin.get("search", q="type:Workflow")["results"]} == {
        mine, theirs}
    assert [r["id"] for r in erin.get("search", q="flood")["results"]] == [mine]
    assert erin.get("search", q="flood AND NOT nightly")["total"] == 0
    assert erin.get("search", q="(type:CSV OR type:Workflow) -title:nightly")["total"] >= 0
    assert error_of(erin.get("search", q="(type:CSV"))[0] == 400
    assert error_of(erin.get("search", q="(" * 40 + "a" + ")" * 40))[0] == 400


def test_bad_item_fields_are_named(erin: Client) -> None:
    code, text = error_of(erin.post("content/users/erin/addItem", type="Toaster", text="x"))
    assert code == 400 and "'type'" in text
    code, text = error_of(erin.post("content/users/erin/addItem", text="x"))
    assert "'type'" in text
    code, text = error_of(erin.post("content/users/erin/addItem", type="CSV", url="ftp://x"))
    assert "'url'" in text
    code, text = error_of(erin.post("content/users/erin/addItem", type="CSV",
                                    tags=",".join(str(n) for n in range(200))))
    assert "'tags'" in text
    assert error_of(erin.get("content/items/not-an-id"))[0] == 404


def test_a_file_name_cannot_leave_the_items_folder(erin: Client, server: Server) -> None:
    item_id = erin.add(type="CSV", files={"file": ("../../../escape.csv", b"a\n")})
    assert erin.get(f"content/items/{item_id}")["name"] == "escape.csv"
    assert (server.data_dir / "content" / item_id / "escape.csv").is_file()
    assert not (server.data_dir / "escape.csv").exists()


def test_deleting_an_item_disables_the_tasks_on_it_with_the_reason(erin: Client,
                                                                  server: Server) -> None:
    item_id = erin.add(files={"file": ("n.ipynb", json.dumps(NOTEBOOK).encode())})
    created = erin.post("community/users/erin/tasks/createTask", type="ExecuteNotebook",
                        title="nightly", itemId=item_id, minute="0", hour="3",
                        dayOfMonth="*", month="*", dayOfWeek="?", **from_tomorrow())
    assert created.get("success") is True, created
    assert erin.post(f"content/users/erin/items/{item_id}/delete")["success"] is True
    task = erin.get(f"community/users/erin/tasks/{created['taskId']}")
    assert task["active"] is False and item_id in task["stateReason"]
    code, text = error_of(erin.post(f"community/users/erin/tasks/{created['taskId']}/enable"))
    assert code == 400 and "does not exist" in text
    assert not (server.data_dir / "content" / item_id).exists()


def test_a_task_runs_only_on_an_item_of_its_kind_that_its_owner_may_use(
        erin: Client, frank: Client) -> None:
    csv_id = erin.add(files={"file": ("a.csv", b"a\n")})
    code, text = error_of(erin.post("community/users/erin/tasks/createTask",
                                    type="ExecuteNotebook", itemId=csv_id, minute="0",
                                    hour="3", dayOfMonth="*", month="*", dayOfWeek="?"))
    assert code == 400 and "CSV item" in text and "Notebook" in text
    nb_id = frank.add(files={"file": ("f.ipynb", json.dumps(NOTEBOOK).encode())})
    code, text = error_of(erin.post("community/users/erin/tasks/createTask",
                                    type="ExecuteNotebook", itemId=nb_id, minute="0",
                                    hour="3", dayOfMonth="*", month="*", dayOfWeek="?"))
    assert code == 400 and "may not use it" in text


def test_a_report_lists_the_records_of_its_subtype(admin: Client, erin: Client,
                                                   server: Server) -> None:
    erin.add(type="CSV", title="for the report", files={"file": ("r.csv", b"a\n")})
    started = admin.post("community/users/admin/report", reportType="org",
                         reportSubType="content")
    assert started["success"] is True
    item_id = started["itemId"]
    deadline = time.monotonic() + 20
    while admin.get(f"content/users/admin/items/{item_id}/status")["status"] == "processing":
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert admin.get(f"content/users/admin/items/{item_id}/status")["status"] == "completed"
    csv_text = admin.http.get(admin.url(f"content/items/{item_id}/data")).text
    lines = csv_text.splitlines()
    assert lines[0].startswith("Item ID,Title,Type,Owner")
    with sqlite3.connect(server.data_dir / "gistasks.db") as db:
        count = db.execute("select count(*) from items").fetchone()[0]
    assert len(lines) - 1 in (count - 1, count)  # the report itself may be listed or not
    assert any(",for the report,CSV,erin," in line for line in lines)
    listed = admin.post("portals/self/itemsStatus", type="Administrative Report",
                        status="completed", num="100")
    assert item_id in [r["itemId"] for r in listed["results"]]


def test_only_org_admins_make_reports_and_bad_subtypes_are_named(admin: Client,
                                                                 erin: Client) -> None:
    assert error_of(erin.post("community/users/erin/report", reportSubType="users"))[0] == 403
    code, text = error_of(admin.post("community/users/admin/report", reportSubType="x"))
    assert code == 400 and "'reportSubType'" in text
    code, text = error_of(admin.post("community/users/admin/report",
                                     reportSubType="activity"))
    assert "'timeDuration'" in text


def test_a_report_task_links_its_report_and_counts_the_runs_of_its_period(
        admin: Client) -> None:
    created = admin.post("community/users/admin/tasks/createTask", type="ExecuteReport",
                         title="weekly runs", minute="0", hour="3", dayOfMonth="*",
                         month="*", dayOfWeek="?", parameters=json.dumps(
                             {"reportType": "org", "reportSubType": "tasks",
                              "timeDuration": "daily"}), **from_tomorrow())
    task_id = created["taskId"]
    runs = []
    for _ in range(2):
        run_id = admin.post(f"community/users/admin/tasks/{task_id}/runNow")["runId"]
        deadline = time.monotonic() + 30
        while True:
            run = admin.get(f"community/users/admin/tasks/{task_id}/runs/{run_id}")
            if run["status"] not in ("scheduled", "executing"):
                break
            assert time.monotonic() < deadline
            time.sleep(0.1)
        assert run["status"] == "succeeded", run
        runs.append(run)
        time.sleep(0.01)
    report = admin.http.get(runs[1]["url"]).text.splitlines()
    assert report[0].startswith("Run ID,Task ID,Task Title")
    assert any(line.startswith(runs[0]["runId"]) and ",succeeded," in line
               for line in report[1:]), report


def test_text_that_a_spreadsheet_would_run_stays_text(admin: Client, erin: Client) -> None:
    erin.add(type="CSV", title="=HYPERLINK(\"http://evil\")", files={"file": ("e.csv", b"a")})
    item_id = admin.post("community/users/admin/report", reportSubType="content")["itemId"]
    deadline = time.monotonic() + 20
    while admin.get(f"content/users/admin/items/{item_id}/status")["status"] != "completed":
        assert time.monotonic() < deadline
        time.sleep(0.1)
    text = admin.http.get(admin.url(f"content/items/{item_id}/data")).text
    assert "'=HYPERLINK" in text and ",=HYPERLINK" not in text


def test_item_files_live_in_one_folder_per_item(erin: Client, server: Server) -> None:
    item_id = erin.add(files={"file": ("f.csv", b"1\n")})
    folder = Path(server.data_dir) / "content" / item_id
    assert [p.name for p in folder.iterdir()] == ["f.csv"]


def test_an_upload_without_a_token_writes_nothing(server: Server) -> None:
    staging = server.data_dir / "content" / ".staging"
    big = b"z" * (MAX_UPLOAD_MB * 1024 * 1024 - 10)
    answer = httpx.post(f"{server.url}/sharing/rest/content/users/erin/addItem", verify=False,
                        data={"f": "json", "type": "CSV"}, files={"file": ("a.csv", big)})
    assert error_of(answer.json())[0] == 499
    bad = httpx.post(f"{server.url}/sharing/rest/content/users/erin/addItem", verify=False,
                     data={"f": "json", "type": "CSV", "token": "forged"},
                     files={"file": ("a.csv", big)})
    assert error_of(bad.json())[0] == 498
    assert list(staging.iterdir()) == []


def test_a_deleted_folder_takes_its_items_files_and_disables_their_tasks(
        erin: Client, server: Server) -> None:
    folder = erin.post("content/users/erin/createFolder", title="Doomed")["folder"]
    item_id = erin.add(folder["id"], files={"file": ("d.ipynb", json.dumps(NOTEBOOK).encode())})
    task = erin.post("community/users/erin/tasks/createTask", type="ExecuteNotebook",
                     itemId=item_id, minute="0", hour="3", dayOfMonth="*", month="*",
                     dayOfWeek="?", **from_tomorrow())
    assert erin.post(f"content/users/erin/{folder['id']}/delete")["success"] is True
    assert not (server.data_dir / "content" / item_id).exists()
    shown = erin.get(f"community/users/erin/tasks/{task['taskId']}")
    assert shown["active"] is False and item_id in shown["stateReason"]


def test_a_commit_with_a_missing_part_is_refused_and_the_upload_goes_on(erin: Client) -> None:
    item_id = erin.add(type="CSV", multipart="true", fileName="gap.csv")
    base = f"content/users/erin/items/{item_id}"
    erin.post(f"{base}/addPart", files={"file": ("b", b"1\n")}, partNum="1")
    erin.post(f"{base}/addPart", files={"file": ("b", b"3\n")}, partNum="3")
    code, text = error_of(erin.post(f"{base}/commit"))
    assert code == 400 and "[2]" in text
    assert erin.get(f"{base}/status")["status"] == "partial"
    erin.post(f"{base}/addPart", files={"file": ("b", b"2\n")}, partNum="2")
    assert erin.post(f"{base}/commit")["success"] is True
    assert erin.http.get(erin.url(f"content/items/{item_id}/data")).content == b"1\n2\n3\n"
    code, _ = error_of(erin.post(f"{base}/addPart", files={"file": ("b", b"4\n")},
                                 partNum="4"))
    assert code == 400  # committed: no more parts


def test_an_update_in_parts_keeps_the_old_file_readable_until_its_commit(erin: Client) -> None:
    item_id = erin.add(files={"file": ("v1.csv", b"old\n")}, tags="keep")
    base = f"content/users/erin/items/{item_id}"
    assert erin.post(f"{base}/update", multipart="true", filename="v2.csv",
                     typeKeywords="", description="")["success"] is True
    assert erin.http.get(erin.url(f"content/items/{item_id}/data")).content == b"old\n"
    erin.post(f"{base}/addPart", files={"file": ("p", b"new\n")}, partNum="1")
    assert erin.post(f"{base}/commit")["success"] is True
    item = erin.get(f"content/items/{item_id}")
    assert (item["name"], item["size"], item["tags"]) == ("v2.csv", 4, ["keep"])
    assert erin.http.get(erin.url(f"content/items/{item_id}/data")).content == b"new\n"
