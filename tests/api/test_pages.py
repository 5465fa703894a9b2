"""The browser directory over HTTP, against a real server: every page reachable from the
dashboard renders (a crawl), every form control is labelled and every form of a session
carries its CSRF token; a form POST without it is refused and changes nothing; the session
cookie's attributes; sign-in redirects only within the server; hostile strings are escaped;
the schedule preview; the page assets; the dashboard's JSON."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx
import pytest

from tests.support.gptools import write_services
from tests.support.server import ERIN, FRANK, Server, from_tomorrow, start_with_users, stop

pytestmark = pytest.mark.timeout(300)
ADMIN_PASSWORD = "admin pass 1"
HOSTILE = "<img src=x onerror=alert(1)>\"'&"
CRON = {"minute": "0", "hour": "3", "dayOfMonth": "*", "month": "*", "dayOfWeek": "?"}
POINTS = {"geometryType": "esriGeometryPoint", "spatialReference": {"wkid": 4326},
          "features": [{"geometry": {"x": 1, "y": 2}, "attributes": {}}]}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    data_dir = tmp_path_factory.mktemp("pages")
    write_services(data_dir)
    srv = start_with_users(data_dir, ERIN, FRANK)
    yield srv
    stop(srv)


def signed_in(server: Server, user: str, password: str) -> httpx.Client:
    """A client holding a browser session (the cookie, as a browser would)."""
    client = httpx.Client(verify=False, timeout=60)
    r = client.post(f"{server.url}/home/signin", data={"username": user, "password": password,
                                                       "next": "/arcgis/home"})
    assert r.status_code == 303 and r.headers["location"] == "/arcgis/home", r.text
    return client


def csrf_of(page: str) -> str:
    found = re.search(r'name="csrfToken" value="([0-9a-f]{64})"', page)
    assert found, "the page's forms carry no CSRF token"
    return found.group(1)


@pytest.fixture(scope="module")
def admin(server: Server) -> Iterator[httpx.Client]:
    client = signed_in(server, "admin", ADMIN_PASSWORD)
    yield client
    client.close()


@pytest.fixture(scope="module")
def erin(server: Server) -> Iterator[httpx.Client]:
    client = signed_in(server, "erin", "erins pass 1")
    yield client
    client.close()


def post(client: httpx.Client, server: Server, path: str, **form: Any) -> Any:
    """A form POST of the session, with its CSRF token, answered as JSON."""
    token = csrf_of(client.get(f"{server.url}/home").text)
    data = {k: v if isinstance(v, str) else json.dumps(v) for k, v in form.items()}
    return client.post(f"{server.url}/{path}", data={"f": "json", "csrfToken": token,
                                                     **data}).json()


class Links(HTMLParser):
    """The links, forms and form controls of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []
        self.controls: list[dict[str, str]] = []
        self.labels: set[str] = set()
        self.forms: list[dict[str, Any]] = []
        self.h1 = 0
        self.scripts: list[dict[str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "a" and "href" in a:
            self.links.append(a["href"])
        elif tag in ("input", "select", "textarea") and a.get("type") != "hidden":
            self.controls.append(a)
        elif tag == "label" and "for" in a:
            self.labels.add(a["for"])
        elif tag == "form":
            self.forms.append({**a, "hidden": []})
        elif tag == "input" and self.forms:
            self.forms[-1]["hidden"].append(a.get("name"))
        elif tag == "h1":
            self.h1 += 1
        elif tag == "script":
            self.scripts.append(a)


@pytest.fixture(scope="module")
def content(server: Server, admin: httpx.Client, erin: httpx.Client) -> dict[str, str]:
    """Something of every kind to browse: tasks with runs, an item, a GP job, a backup."""
    made = post(erin, server, "sharing/rest/community/users/erin/tasks/createTask",
                type="Ping", title="crawled", **CRON)
    task = made["taskId"]
    run = post(erin, server, f"sharing/rest/community/users/erin/tasks/{task}/runNow")["runId"]
    item = erin.post(f"{server.url}/sharing/rest/content/users/erin/addItem", data={
        "f": "json", "type": "CSV", "title": "crawled item",
        "csrfToken": csrf_of(erin.get(f"{server.url}/home").text)},
        files={"file": ("a.csv", b"a,b\n1,2\n")}).json()
    assert item.get("success"), item
    job = post(erin, server, "rest/services/Utilities/Geometry/GPServer/Buffer/submitJob",
               Input_Features=POINTS, Distance={"distance": 10, "units": "esriMeters"})
    backup = post(admin, server, "admin/system/disasterrecovery/stores/default/backups/create",
                  name="crawled", passcode="crawl-pass-code")
    assert backup.get("status") == "SUBMITTED", backup
    deadline = time.monotonic() + 60
    while post(admin, server, "admin/system/disasterrecovery/backuprestore/backups").get(
            "backups", []) == []:
        assert time.monotonic() < deadline
        time.sleep(0.3)
    return {"task": task, "run": run, "item": item["id"], "job": job["jobId"]}


SKIP = ("/home/signin", "/notebook.", "/data", "f=pjson", "/static/", "/results/",
        "/inputs/", "/directories/", "oauth2/authorize", "/schedulePreview")


def crawl(client: httpx.Client, server: Server, start: str, limit: int = 400
          ) -> dict[str, Links]:
    origin = server.url.removesuffix("/arcgis")
    seen: dict[str, Links] = {}
    queue = [start]
    while queue and len(seen) < limit:
        url = queue.pop(0)
        if url in seen:
            continue
        r = client.get(origin + url)
        assert r.status_code == 200, f"{url}: HTTP {r.status_code}"
        assert r.headers["content-type"].startswith("text/html"), url
        page = Links()
        page.feed(r.text)
        seen[url] = page
        for href in page.links:
            if not href.startswith("/"):
                continue  # a URL a resource holds (a service's URL), not a page's own link
            target = urljoin(origin + url, href)
            parts = urlsplit(target)
            if parts.netloc != urlsplit(origin).netloc or any(s in target for s in SKIP):
                continue
            path = parts.path + (f"?{parts.query}" if parts.query else "")
            if path.startswith("/arcgis/") and path not in seen:
                queue.append(path)
    return seen


def test_every_page_reachable_from_the_dashboard_renders_with_labelled_controls(
        server: Server, admin: httpx.Client, content: dict[str, str]) -> None:
    pages = crawl(admin, server, "/arcgis/home")
    assert len(pages) > 40, sorted(pages)
    reached = "\n".join(pages)
    for expected in (f"/tasks/{content['task']}", f"/runs/{content['run']}",
                     "/Utilities/Geometry/GPServer/Buffer", "/admin/system/tasks/",
                     "/backups/crawled"):
        assert expected in reached, f"nothing links to {expected}"
    for url, page in pages.items():
        assert page.h1 == 1, f"{url} has {page.h1} h1"
        unlabelled = [c.get("name") for c in page.controls if c.get("id") not in page.labels]
        assert unlabelled == [], f"{url}: controls without a label: {unlabelled}"
        for form in page.forms:
            if form.get("method") == "post":
                assert "csrfToken" in form["hidden"], f"{url}: a form without a CSRF token"
        assert [s.get("src", "") for s in page.scripts] == ["/arcgis/static/gistasks.js"], url


def test_every_page_has_its_json_twin(server: Server, erin: httpx.Client,
                                      content: dict[str, str]) -> None:
    path = f"/sharing/rest/community/users/erin/tasks/{content['task']}"
    page = erin.get(f"{server.url}{path}").text
    assert f'href="/arcgis{path}?f=pjson"' in page
    twin = erin.get(f"{server.url}{path}?f=pjson").json()
    assert twin["id"] == content["task"] and "Latest runs" not in json.dumps(twin)
    assert "Latest runs" in page and content["run"] in page


def test_a_session_post_without_its_csrf_token_is_refused_and_changes_nothing(
        server: Server, erin: httpx.Client, content: dict[str, str]) -> None:
    base = f"{server.url}/sharing/rest/community/users/erin"
    before = erin.get(f"{base}/tasks", params={"f": "json"}).json()["total"]
    for token in (None, "", "0" * 64, csrf_of(signed_in(server, "frank", "franks pass 1")
                                              .get(f"{server.url}/home").text)):
        form = {"f": "json", "type": "Ping", **CRON}
        if token is not None:
            form["csrfToken"] = token
        answer = erin.post(f"{base}/tasks/createTask", data=form).json()
        assert answer["error"]["code"] == 403 and "CSRF" in answer["error"]["message"]
        gone = erin.post(f"{base}/tasks/{content['task']}/delete", data={
            "f": "json", "csrfToken": token or ""}).json()
        assert gone["error"]["code"] == 403
    assert erin.get(f"{base}/tasks", params={"f": "json"}).json()["total"] == before
    # An upload is refused before its file is written.
    staging = server.data_dir / "content" / "staging"
    staged = set(staging.iterdir()) if staging.exists() else set()
    refused = erin.post(f"{server.url}/sharing/rest/content/users/erin/addItem",
                        data={"f": "json", "type": "CSV", "title": "x"},
                        files={"file": ("a.csv", b"a\n" * 100_000)}).json()
    assert refused["error"]["code"] == 403
    assert (set(staging.iterdir()) if staging.exists() else set()) == staged
    # Signing out needs the token too.
    assert erin.post(f"{server.url}/home/signout",
                     data={"f": "json"}).json()["error"]["code"] == 403
    assert erin.get(f"{base}/tasks", params={"f": "json"}).json()["total"] == before


def test_the_admin_apis_take_the_session_and_its_token(server: Server, admin: httpx.Client
                                                       ) -> None:
    answer = post(admin, server, "admin/system/tasks/createTask", type="Ping", title="sys",
                  **CRON, **from_tomorrow())
    assert answer.get("success") is True, answer
    refused = admin.post(f"{server.url}/admin/system/tasks/{answer['taskId']}/delete",
                         data={"f": "json"}).json()
    assert refused["status"] == "error" and refused["code"] == 403


def test_the_session_cookie_is_httponly_secure_strict_and_scoped(server: Server) -> None:
    r = httpx.post(f"{server.url}/home/signin", verify=False, data={
        "username": "erin", "password": "erins pass 1"})
    cookie = r.headers["set-cookie"]
    assert r.status_code == 303 and r.headers["location"] == "/arcgis/home"
    for part in ("gistasks_session=", "HttpOnly", "Secure", "SameSite=strict", "Path=/arcgis",
                 "Max-Age=43200"):
        assert part.lower() in cookie.lower(), cookie
    # A wrong password sets nothing and says why.
    wrong = httpx.post(f"{server.url}/home/signin", verify=False, data={
        "username": "erin", "password": "nope"})
    assert wrong.status_code == 200 and "set-cookie" not in wrong.headers
    assert "Invalid username or password." in wrong.text


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/x", "/elsewhere",
                                    "/arcgis/../x", "javascript:alert(1)", "/arcgis\\x",
                                    "/arcgis/home\r\nSet-Cookie: a=b"])
def test_sign_in_leads_only_within_the_server(server: Server, target: str) -> None:
    r = httpx.post(f"{server.url}/home/signin", verify=False, data={
        "username": "erin", "password": "erins pass 1", "next": target})
    assert r.status_code == 303
    location = r.headers["location"]
    assert location == "/arcgis/home" or (location.startswith("/arcgis/")
                                          and ".." not in location), location


def test_a_stale_cookie_is_anonymous_on_open_pages_and_498_on_closed_ones(server: Server
                                                                           ) -> None:
    jar = {"gistasks_session": "not-a-session"}
    home = httpx.get(f"{server.url}/home", verify=False, cookies=jar)
    assert home.status_code == 200 and "Sign in to see" in home.text
    closed = httpx.get(f"{server.url}/sharing/rest/community/users/erin/tasks", verify=False,
                       params={"f": "json"}, cookies=jar).json()
    assert closed["error"]["code"] == 498
    page = httpx.get(f"{server.url}/sharing/rest/community/users/erin/tasks", verify=False,
                     cookies=jar).text
    assert "/arcgis/home/signin?next=" in page


def test_hostile_strings_are_escaped_on_every_page(server: Server, erin: httpx.Client) -> None:
    made = post(erin, server, "sharing/rest/community/users/erin/tasks/createTask",
                type="Ping", title=HOSTILE, parameters={HOSTILE: HOSTILE}, **CRON)
    for path in (f"sharing/rest/community/users/erin/tasks/{made['taskId']}",
                 "sharing/rest/community/users/erin/tasks", "home"):
        page = erin.get(f"{server.url}/{path}").text
        assert "<img src=x" not in page, path
        assert "&lt;img src=x onerror=alert(1)&gt;&#34;&#39;&amp;" in page, path
    # An error that repeats the request escapes it too.
    error = erin.get(f"{server.url}/sharing/rest/community/users/{HOSTILE}/tasks").text
    assert "<img src=x" not in error and "&lt;img" in error
    bad_f = erin.get(f"{server.url}/sharing/rest/community/users/erin/tasks",
                     params={"start": HOSTILE}).text
    assert "<img src=x" not in bad_f


def test_the_schedule_preview_answers_as_create_task_checks(server: Server) -> None:
    url = f"{server.url}/sharing/rest/schedulePreview"
    ok = httpx.get(url, verify=False, params={**CRON, "dayOfWeek": "MON-FRI", "dayOfMonth": "?",
                                               "timeZone": "Europe/Berlin"}).json()
    assert ok["cronExpression"] == "0 0 3 ? * MON-FRI"
    assert ok["description"] == "At 03:00:00 Europe/Berlin, only on Monday through Friday"
    assert len(ok["nextStarts"]) == 5 and ok["nextStarts"] == sorted(ok["nextStarts"])
    assert ok["nextStarts"][0] > time.time() * 1000
    start = int(time.time() * 1000) + 10 * 86_400_000
    later = httpx.get(url, verify=False, params={**CRON, "startDate": str(start),
                                                  "count": "2"}).json()
    assert len(later["nextStarts"]) == 2 and later["nextStarts"][0] >= start
    often = {**CRON, "minute": "*", "hour": "*"}
    system = httpx.get(url, verify=False, params={**often, "second": "*/10",
                                                   "scope": "system"}).json()
    assert system["runIntervalSeconds"] == 10
    user = httpx.get(url, verify=False, params={**often, "second": "*/10"}).json()
    assert user["error"]["code"] == 400 and "once a minute" in json.dumps(user)
    for bad, named in (({"hour": "25"}, "hour"), ({"timeZone": "Mars/Olympus"}, "time"),
                       ({"dayOfWeek": "FOO"}, "dayOfWeek"), ({"count": "11"}, "count")):
        answer = httpx.get(url, verify=False, params={**CRON, **bad}).json()
        assert answer["error"]["code"] == 400, answer
        assert named.lower() in json.dumps(answer).lower(), answer
    missing = httpx.get(url, verify=False, params={"minute": "0"}).json()
    assert missing["error"]["code"] == 400 and "hour" in json.dumps(missing)


def test_the_page_assets_are_served_and_nothing_else(server: Server) -> None:
    css = httpx.get(f"{server.url}/static/gistasks.css", verify=False)
    js = httpx.get(f"{server.url}/static/gistasks.js", verify=False)
    assert css.headers["content-type"].startswith("text/css") and ":root" in css.text
    assert js.headers["content-type"].startswith("text/javascript") and "use strict" in js.text
    assert "max-age" in css.headers["cache-control"]
    for name in ("nothing.css", "..%2Fpages.py", "%2e%2e%2f__init__.py", "GISTASKS.CSS",
                 "gistasks.css%00"):
        r = httpx.get(f"{server.url}/static/{name}", verify=False)
        assert r.status_code in (200, 404) and "gistasks pages" not in r.text, name


def test_the_page_policy_allows_only_this_servers_script_and_styles(server: Server) -> None:
    r = httpx.get(f"{server.url}/home", verify=False)
    policy = r.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "style-src 'self'" in policy
    assert "unsafe-inline" not in policy and "default-src 'none'" in policy
    assert not re.search(r"<script(?![^>]*\bsrc=)", r.text)  # no inline script
    assert " style=" not in r.text and "<style" not in r.text
    assert "http://" not in r.text and "https://" not in r.text  # no CDN, font or script


def test_the_dashboard_shows_each_user_their_own_and_admins_the_nodes(
        server: Server, admin: httpx.Client, erin: httpx.Client,
        content: dict[str, str]) -> None:
    mine = erin.get(f"{server.url}/home", params={"f": "json"}).json()
    assert mine["everyone"] is False and mine["nodes"] == []
    assert {f["task"]["owner"] for f in mine["fires"]} == {"erin"}
    assert any(r["runId"] == content["run"] for r in mine["runs"])
    run = next(r for r in mine["runs"] if r["runId"] == content["run"])
    assert run["status"] == "succeeded" and run["latenessMs"] >= 0
    assert sum(mine["jobs"].values()) >= 1
    frank = signed_in(server, "frank", "franks pass 1")
    theirs = frank.get(f"{server.url}/home", params={"f": "json"}).json()
    assert theirs["fires"] == [] and theirs["runs"] == [] and theirs["jobs"] == {}
    everything = admin.get(f"{server.url}/home", params={"f": "json"}).json()
    assert everything["everyone"] is True
    assert [n["state"] for n in everything["nodes"]] == ["running"]
    assert everything["nodes"][0]["heartbeat"] > time.time() * 1000 - 60_000
    page = admin.get(f"{server.url}/home").text
    assert "Nodes" in page and 'data-refresh="5"' in page and "crawled" in page
    anonymous = httpx.get(f"{server.url}/home", verify=False, params={"f": "json"}).json()
    assert anonymous["error"]["code"] == 499


def test_signing_out_ends_the_session_on_the_server(server: Server) -> None:
    client = signed_in(server, "erin", "erins pass 1")
    secret = client.cookies["gistasks_session"]
    token = csrf_of(client.get(f"{server.url}/home").text)
    r = client.post(f"{server.url}/home/signout", data={"csrfToken": token})
    assert r.status_code == 303 and "signedOut=1" in r.headers["location"]
    assert 'gistasks_session=""' in r.headers["set-cookie"] or \
        "Max-Age=0" in r.headers["set-cookie"]
    replay = httpx.get(f"{server.url}/sharing/rest/community/users/erin/tasks", verify=False,
                       params={"f": "json"}, cookies={"gistasks_session": secret}).json()
    assert replay["error"]["code"] == 498


def test_a_token_still_wins_over_a_session(server: Server, erin: httpx.Client) -> None:
    token = httpx.post(f"{server.url}/sharing/rest/generateToken", verify=False, data={
        "username": "frank", "password": "franks pass 1", "f": "json"}).json()["token"]
    me = erin.get(f"{server.url}/sharing/rest/community/self",
                  params={"f": "json", "token": token}).json()
    assert me["username"] == "frank"
    # A POST with a token needs no CSRF token: it is not a browser form.
    made = erin.post(f"{server.url}/sharing/rest/community/users/frank/tasks/createTask",
                     data={"f": "json", "token": token, "type": "Ping", **CRON}).json()
    assert made.get("success") is True, made


def test_a_list_of_tasks_is_a_table_whose_rows_link_to_the_tasks(
        server: Server, erin: httpx.Client) -> None:
    ids = [post(erin, server, "sharing/rest/community/users/erin/tasks/createTask",
                type="Ping", title=f"bulk {i}", **CRON)["taskId"] for i in range(3)]
    page = erin.get(f"{server.url}/sharing/rest/community/users/erin/tasks",
                    params={"num": "100"}).text
    assert "<table" in page
    for task_id in ids:
        assert f'href="/arcgis/sharing/rest/community/users/erin/tasks/{task_id}"' in page
