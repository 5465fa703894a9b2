"""The browser directory in a real Chromium (Debian's, headless, driven by Playwright): sign
in, the schedule builder, a task created, run and disabled from its forms, an item uploaded,
GP jobs submitted from their generated form and followed live, a backup made and validated,
the CSRF token and escaping, sign-out; every page checked with axe-core and photographed at
desktop and phone width under ``tests/artifacts/``.

The pages run under their real Content-Security-Policy (a violation is a failure); axe-core
is injected in a second browser context that bypasses the policy, with the same cookies.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import (
    Browser,
    BrowserContext,
    Dialog,
    Locator,
    Page,
    Playwright,
    ViewportSize,
    expect,
    sync_playwright,
)

from tests.support.gptools import write_services
from tests.support.server import ERIN, Server, start_with_users, stop

pytestmark = pytest.mark.timeout(300)
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--headless=new", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ROOT = Path(__file__).resolve().parents[2]
AXE = ROOT / ".venv" / "axe" / "node_modules" / "axe-core" / "axe.min.js"
ARTIFACTS = ROOT / "tests" / "artifacts"
DESKTOP: ViewportSize = {"width": 1280, "height": 900}
PHONE: ViewportSize = {"width": 390, "height": 844}
POINTS = {"geometryType": "esriGeometryPoint", "spatialReference": {"wkid": 4326},
          "features": [{"geometry": {"x": 13.4, "y": 52.5}, "attributes": {}}]}
PASSCODE = "browser-pass-code"
HOSTILE = "<script>alert(1)</script>"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    data_dir = tmp_path_factory.mktemp("browser")
    write_services(data_dir)
    srv = start_with_users(data_dir, ERIN)
    yield srv
    stop(srv)


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    assert Path(CHROMIUM).exists(), "make test installs Debian's chromium"
    assert AXE.exists(), "make test installs axe-core from npm"
    b = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
    yield b
    b.close()


class Visitor:
    """A browser user: the page they use (under the real CSP), and the checks every page
    they see gets (axe-core, screenshots)."""

    def __init__(self, browser: Browser, server: Server) -> None:
        self.browser = browser
        self.server = server
        self.context = browser.new_context(ignore_https_errors=True, viewport=DESKTOP)
        self.page = self.context.new_page()
        self.console: list[str] = []
        self.dialogs: list[str] = []
        self.page.on("console", lambda m: self.console.append(f"{m.type}: {m.text}"))
        self.page.on("pageerror", lambda e: self.console.append(f"pageerror: {e}"))
        self.page.on("dialog", self._dialog)
        self.checked: dict[str, list[str]] = {}
        self._axe: BrowserContext | None = None

    def _dialog(self, dialog: Dialog) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def url(self, path: str) -> str:
        return f"{self.server.url}/{path.lstrip('/')}"

    def go(self, path: str) -> Page:
        self.page.goto(self.url(path) if not path.startswith("https://") else path)
        return self.page

    def check(self, name: str) -> None:
        """axe-core finds nothing on the current page; screenshots at both widths."""
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        url = self.page.url
        if self._axe is None:
            self._axe = self.browser.new_context(ignore_https_errors=True, bypass_csp=True,
                                                 viewport=DESKTOP)
        self._axe.clear_cookies()
        self._axe.add_cookies(self.context.cookies())  # type: ignore[arg-type]
        page = self._axe.new_page()
        try:
            page.goto(url)
            page.wait_for_load_state("networkidle")
            page.add_script_tag(path=str(AXE))
            result = page.evaluate("() => axe.run(document, {resultTypes: ['violations']})")
            violations = [f"{v['id']}: {v['help']} at "
                          f"{[n['target'] for n in v['nodes']][:3]}"
                          for v in result["violations"]]
            self.checked[name] = violations
            page.screenshot(path=str(ARTIFACTS / f"{name}-desktop.png"), full_page=True)
            page.set_viewport_size(PHONE)
            page.wait_for_timeout(100)
            page.screenshot(path=str(ARTIFACTS / f"{name}-phone.png"), full_page=True)
            overflow = page.evaluate(
                "() => document.documentElement.scrollWidth - window.innerWidth")
        finally:
            page.close()
        assert violations == [], f"axe-core on {name} ({url}): {violations}"
        assert overflow <= 1, f"{name} scrolls sideways on a phone by {overflow} px"

    def sign_in(self, user: str, password: str, then: str = "home") -> None:
        self.go(f"home/signin?next=/arcgis/{then}")
        self.page.get_by_label("User name").fill(user)
        self.page.get_by_label("Password").fill(password)
        self.page.get_by_role("button", name="Sign in").click()
        expect(self.page.get_by_text(f"Signed in as {user}")).to_be_visible()

    def operation(self, name: str) -> Page:
        """Open the form of operation ``name`` on the current page."""
        details = self.page.locator(f"details#op-{name}")
        if details.get_attribute("open") is None:
            details.locator("summary").click()
        return self.page

    def close(self) -> None:
        if self._axe is not None:
            self._axe.close()
        self.context.close()

    def csp_violations(self) -> list[str]:
        return [m for m in self.console if "Content Security Policy" in m
                or m.startswith("pageerror")]


@pytest.fixture(scope="module")
def erin(browser: Browser, server: Server) -> Iterator[Visitor]:
    visitor = Visitor(browser, server)
    yield visitor
    assert visitor.csp_violations() == []
    visitor.close()


@pytest.fixture(scope="module")
def admin(browser: Browser, server: Server) -> Iterator[Visitor]:
    visitor = Visitor(browser, server)
    visitor.sign_in("admin", "admin pass 1")
    yield visitor
    assert visitor.csp_violations() == []
    visitor.close()


def test_signing_in_sets_a_strict_session_cookie_and_leads_where_asked(erin: Visitor) -> None:
    erin.go("home/signin")
    erin.check("signin")
    erin.page.get_by_label("User name").fill("erin")
    erin.page.get_by_label("Password").fill("not the password")
    erin.page.get_by_role("button", name="Sign in").click()
    expect(erin.page.get_by_role("alert")).to_contain_text("Invalid username or password")
    erin.sign_in("erin", "erins pass 1", then="sharing/rest/community/users/erin/tasks")
    assert erin.page.url.endswith("/arcgis/sharing/rest/community/users/erin/tasks")
    cookie = next(c for c in erin.context.cookies() if c["name"] == "gistasks_session")
    assert cookie["httpOnly"] and cookie["secure"] and cookie["sameSite"] == "Strict"
    assert cookie["path"] == "/arcgis"
    assert erin.page.evaluate("() => document.cookie") == ""  # HttpOnly: no script reads it
    erin.check("task-list")


def test_the_schedule_builder_describes_the_schedule_while_typing(erin: Visitor) -> None:
    page = erin.go("sharing/rest/community/users/erin/tasks")
    erin.operation("createTask")
    form = page.locator("details#op-createTask form")
    _cron(form, "15", "4", "?", "*", "SAT")
    preview = form.locator("[data-schedule-output]")
    expect(preview.locator(".cron-description")).to_have_text(
        "At 04:15:00 UTC, only on Saturday")
    expect(preview.locator(".cron-expression")).to_have_text("0 15 4 ? * SAT")
    expect(preview.locator("ol.fires li")).to_have_count(5)
    first = int(preview.locator("ol.fires time").first.get_attribute("data-ms") or 0)
    assert first > time.time() * 1000
    # A bad field is named while typing, before anything is sent to createTask.
    form.get_by_label(re.compile("^Hour( |$)")).fill("25")
    expect(preview).to_contain_text("hour")
    # The presets fill the five fields.
    form.get_by_role("button", name="Every 5 minutes").click()
    expect(form.get_by_label(re.compile("^Minute( |$)"))).to_have_value("0/5")
    expect(preview.locator(".cron-description")).to_contain_text("5 minutes")
    erin.check("task-create-form")


def _cron(form: Locator, *values: str) -> None:
    """Type the five cron fields, each found by its label."""
    for label, value in zip(("Minute", "Hour", "Day Of Month", "Month", "Day Of Week"), values,
                            strict=True):
        form.get_by_label(re.compile(f"^{label}( |$)"), exact=False).fill(value)


def _create_task(visitor: Visitor, title: str, minute: str = "0", hour: str = "3") -> str:
    page = visitor.go("sharing/rest/community/users/erin/tasks")
    visitor.operation("createTask")
    form = page.locator("details#op-createTask form")
    form.get_by_label("Type").select_option("Ping")
    form.get_by_label("Title").fill(title)
    _cron(form, minute, hour, "*", "*", "?")
    expect(form.locator(".cron-description")).to_be_visible()
    form.get_by_role("button", name="createTask").click()
    expect(page.locator("h1")).to_have_text("Task created")
    page.get_by_role("link", name=re.compile("^Open task")).click()
    expect(page.locator("h1")).to_have_text(title)
    return page.url.rsplit("/", 1)[-1]


def test_a_task_made_in_the_form_runs_and_its_run_appears_live(erin: Visitor) -> None:
    task_id = _create_task(erin, "nightly ping")
    page = erin.page
    assert re.fullmatch(r"[0-9a-f]{32}", task_id)
    expect(page.locator("dl.props")).to_contain_text("At 03:00:00 UTC")
    # Dates are the browser's local times, with the epoch value beside.
    created = page.locator("dl.props time").first
    assert created.get_attribute("data-ms") and "UTC" in (created.get_attribute("title") or "")
    erin.check("task")
    runs = page.locator("section[data-refresh]").filter(has_text="Latest runs")
    expect(runs).to_contain_text("None yet")
    # Run it now from its form; stay on the task page: the run appears without a reload.
    task_url = page.url
    erin.operation("runNow")
    page.locator("details#op-runNow button[type=submit]").click()
    expect(page.locator("h1")).to_have_text("Done")
    page.goto(task_url)
    runs = page.locator("section[data-refresh]").filter(has_text="Latest runs")
    expect(runs.locator(".badge")).to_have_text("succeeded", timeout=20_000)
    expect(runs).to_contain_text("pong")
    # The dashboard shows the run, the task's coming fires, and refreshes itself.
    page.goto(erin.url("home"))
    dash = page.locator("#dash")
    expect(dash.locator("section").filter(has_text="Recent runs")).to_contain_text(
        "nightly ping")
    expect(dash.locator("svg.timeline rect.fire").first).to_be_attached()
    before = dash.get_attribute("data-refreshed")
    expect(dash).to_have_attribute("data-refreshed", re.compile(r"\d+"), timeout=12_000)
    assert dash.get_attribute("data-refreshed") != before
    erin.check("dashboard")


def test_disabling_a_task_from_its_page_pauses_it(erin: Visitor) -> None:
    task_id = _create_task(erin, "to disable", minute="30")
    page = erin.page
    erin.operation("disable")
    page.locator("details#op-disable button[type=submit]").click()
    expect(page.locator("h1")).to_have_text("Done")
    page.get_by_role("link", name=re.compile("^Open task")).click()
    expect(page.locator("dl.props .badge").filter(has_text="paused")).to_be_visible()
    assert page.url.endswith(task_id)
    # Deleting asks for a confirmation first: without the box ticked nothing is sent.
    erin.operation("delete")
    page.locator("details#op-delete button[type=submit]").click()
    expect(page.locator("h1")).to_have_text("to disable")
    page.locator("details#op-delete").get_by_label(re.compile("^Yes, delete")).check()
    page.locator("details#op-delete button[type=submit]").click()
    expect(page.locator("h1")).to_have_text("Done")


def test_an_update_form_holds_the_current_values(erin: Visitor) -> None:
    _create_task(erin, "to update", minute="45", hour="5")
    page = erin.page
    erin.operation("update")
    form = page.locator("details#op-update form")
    expect(form.get_by_label("Title")).to_have_value("to update")
    expect(form.get_by_label(re.compile("^Minute( |$)"))).to_have_value("45")
    expect(form.locator(".cron-description")).to_have_text("At 05:45:00 UTC")
    form.get_by_label(re.compile("^Hour( |$)")).fill("6")
    expect(form.locator(".cron-description")).to_have_text("At 06:45:00 UTC")
    form.get_by_role("button", name="update").click()
    page.get_by_role("link", name=re.compile("^Open task")).click()
    expect(page.locator("dl.props")).to_contain_text("At 06:45:00 UTC")


def test_a_list_takes_its_parameters_from_a_get_form(erin: Visitor) -> None:
    _create_task(erin, "listed one", minute="1")
    _create_task(erin, "listed two", minute="2")
    page = erin.go("sharing/rest/community/users/erin/tasks")
    erin.operation("query")
    form = page.locator("details#op-query form")
    form.get_by_label("Num", exact=True).fill("1")
    form.get_by_label("Sort Order").select_option("desc")
    form.get_by_role("button", name="Show").click()
    page.wait_for_url(re.compile(r"num=1"))
    expect(page.locator("dl.props table tbody tr")).to_have_count(1)
    expect(page.locator("dl.props table")).to_contain_text("listed two")  # the newest
    erin.operation("query")
    expect(page.locator("details#op-query").get_by_label("Num", exact=True)).to_have_value("1")


def test_a_hostile_title_shows_as_text(erin: Visitor) -> None:
    _create_task(erin, HOSTILE, minute="10")
    page = erin.page
    expect(page.locator("h1")).to_have_text(HOSTILE)
    assert page.title().startswith(HOSTILE)
    page.goto(erin.url("home"))
    expect(page.locator("#dash")).to_contain_text(HOSTILE)
    page.goto(erin.url("sharing/rest/community/users/erin/tasks"))
    expect(page.locator("table")).to_contain_text(HOSTILE)
    assert erin.dialogs == []
    assert page.evaluate("() => document.querySelectorAll('script').length") == 1


def test_an_item_uploads_from_the_form(erin: Visitor, tmp_path: Path) -> None:
    csv = tmp_path / "stations.csv"
    csv.write_text("name,x,y\nA,1,2\n")
    page = erin.go("sharing/rest/content/users/erin")
    erin.check("content")
    erin.operation("addItem")
    form = page.locator("details#op-addItem form")
    form.get_by_label("Type", exact=True).fill("CSV")
    form.get_by_label("Title", exact=True).fill("Stations")
    form.locator("input[type=file]").set_input_files(str(csv))
    form.get_by_role("button", name="addItem").click()
    expect(page.locator("dl.props")).to_contain_text("true")
    page.get_by_role("link", name=re.compile("^Open item")).click()
    expect(page.locator("dl.props")).to_contain_text("Stations")
    expect(page.locator("dl.props")).to_contain_text("stations.csv")
    erin.check("item")


def test_a_gp_job_from_the_generated_form_is_followed_live(erin: Visitor) -> None:
    page = erin.go("rest/services/Utilities/Geometry/GPServer/Buffer")
    erin.check("gp-task")
    erin.operation("submitJob")
    form = page.locator("details#op-submitJob form")
    form.get_by_label("Input Features").fill(json.dumps(POINTS))
    expect(form.get_by_label("Distance")).to_have_value(re.compile("100"))
    form.get_by_role("button", name="submitJob").click()
    expect(page.locator("dl.props")).to_contain_text("esriJob")
    page.get_by_role("link", name=re.compile("^Open job")).click()
    status = page.locator("#props .badge").first
    expect(status).to_have_text("esriJobSucceeded", timeout=30_000)
    expect(page.locator("#props")).not_to_have_attribute("data-refresh", re.compile("."))
    erin.check("gp-job")


def test_a_running_gp_job_is_cancelled_from_its_page(erin: Visitor) -> None:
    page = erin.go("rest/services/Tests/Tools/GPServer/Sleep")
    erin.operation("submitJob")
    form = page.locator("details#op-submitJob form")
    form.get_by_label("Seconds").fill("3.5")
    form.get_by_role("button", name="submitJob").click()
    page.get_by_role("link", name=re.compile("^Open job")).click()
    job_url = page.url
    expect(page.locator("#props .badge").first).to_have_text(
        re.compile("esriJob(Submitted|Waiting|Executing)"))
    erin.operation("cancel")
    page.locator("details#op-cancel button[type=submit]").click()
    page.goto(job_url)
    expect(page.locator("#props .badge").first).to_have_text("esriJobCancelled",
                                                             timeout=20_000)


def test_a_form_post_without_the_csrf_token_is_refused(erin: Visitor, server: Server) -> None:
    page = erin.go("sharing/rest/community/users/erin/tasks")
    before = httpx.get(f"{server.url}/sharing/rest/community/users/erin/tasks", verify=False,
                       params={"f": "json", "token": _token(server)}).json()["total"]
    erin.operation("createTask")
    page.locator("details#op-createTask input[name=csrfToken]").evaluate("e => e.remove()")
    form = page.locator("details#op-createTask form")
    form.get_by_label("Type").select_option("Ping")
    _cron(form, "0", "1", "*", "*", "?")
    form.get_by_role("button", name="createTask").click()
    expect(page.locator("h1")).to_contain_text("403")
    expect(page.locator("dl.props")).to_contain_text("CSRF")
    # A forged token is refused the same way, and nothing was created.
    answer = page.evaluate("""async (url) => {
        const body = new URLSearchParams({f: "json", type: "Ping", minute: "0", hour: "1",
            dayOfMonth: "*", month: "*", dayOfWeek: "?", csrfToken: "0".repeat(64)});
        const r = await fetch(url, {method: "POST", body});
        return await r.json(); }""", erin.url("sharing/rest/community/users/erin/tasks/"
                                             "createTask"))
    assert answer["error"]["code"] == 403
    after = httpx.get(f"{server.url}/sharing/rest/community/users/erin/tasks", verify=False,
                      params={"f": "json", "token": _token(server)}).json()["total"]
    assert after == before


def _token(server: Server) -> str:
    return str(httpx.post(f"{server.url}/sharing/rest/generateToken", verify=False, data={
        "username": "erin", "password": "erins pass 1", "f": "json"}).json()["token"])


def test_an_admin_makes_and_validates_a_backup_from_the_forms(admin: Visitor) -> None:
    page = admin.go("admin/system/disasterrecovery/stores/default/backups")
    admin.check("backups")
    admin.operation("create")
    form = page.locator("details#op-create form")
    form.get_by_label("Name").fill("from-the-browser")
    form.get_by_label("Passcode").fill(PASSCODE)
    form.get_by_role("button", name="create").click()
    expect(page.locator("dl.props")).to_contain_text("SUBMITTED")
    page.locator("dl.props a").filter(has_text="/admin/jobs/").click()
    deadline = time.monotonic() + 60
    while "COMPLETED" not in (page.locator("dl.props").text_content() or ""):
        assert time.monotonic() < deadline, page.content()
        page.wait_for_timeout(500)
        page.reload()
    admin.check("admin-job")
    page = admin.go("admin/system/disasterrecovery/stores/default/backups/from-the-browser")
    admin.check("backup")
    admin.operation("validate")
    form = page.locator("details#op-validate form")
    form.get_by_label("Passcode").fill(PASSCODE)
    form.get_by_role("button", name="validate").click()
    expect(page.locator("dl.props")).to_contain_text("true")
    # The restore form asks for a confirmation.
    page.get_by_role("link", name="Back to from-the-browser").click()
    admin.operation("restore")
    expect(page.locator("details#op-restore").get_by_label(
        re.compile("^Yes, restore"))).to_be_visible()


def test_the_admin_sees_the_nodes_and_every_directory_page_passes_axe(admin: Visitor) -> None:
    page = admin.go("home")
    nodes = page.locator("section").filter(has_text="Nodes")
    expect(nodes.locator(".badge").first).to_have_text("running")
    admin.check("dashboard-admin")
    for name, path in (("portal", "sharing/rest"), ("services", "rest/services"),
                       ("gp-service", "rest/services/Utilities/Geometry/GPServer"),
                       ("admin", "admin"), ("system-tasks", "admin/system/tasks"),
                       ("limits", "admin/system/limits"),
                       ("disaster-recovery", "admin/system/disasterrecovery"),
                       ("gp-admin-jobs", "admin/services/Utilities/Geometry.GPServer/jobs"),
                       ("oauth-signin", "sharing/rest/oauth2/authorize?client_id=pythonapi&"
                        "response_type=code&redirect_uri=urn:ietf:wg:oauth:2.0:oob")):
        admin.go(path)
        expect(page.locator("h1")).not_to_contain_text("Error")
        admin.check(name)
    # A system task's page, with its schedule builder.
    admin.go("admin/system/tasks")
    page.locator("table a").first.click()
    admin.operation("update")
    expect(page.locator("details#op-update .cron-description")).to_be_visible()
    admin.check("system-task")


def _tab_to(page: Page, condition: str, limit: int = 80) -> None:
    """Press Tab until ``condition`` (a script over ``document.activeElement``) holds."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate(f"() => {{ const e = document.activeElement; return {condition}; }}"):
            return
    raise AssertionError(f"Tab never reached {condition}")


def test_the_keyboard_alone_signs_in_and_submits_a_form(browser: Browser,
                                                        server: Server) -> None:
    visitor = Visitor(browser, server)
    try:
        page = visitor.go("home/signin?next=/arcgis/admin/system/limits")
        page.keyboard.press("Tab")
        expect(page.locator(":focus")).to_have_text("Skip to content")
        _tab_to(page, "e.id === 'username'")
        page.keyboard.type("admin")
        page.keyboard.press("Tab")
        expect(page.locator(":focus")).to_have_attribute("id", "password")
        page.keyboard.type("admin pass 1")
        page.keyboard.press("Enter")
        page.wait_for_url(re.compile(r"^[^?]*/admin/system/limits$"), wait_until="load")
        _tab_to(page, "e.name === 'properties'")
        page.keyboard.type('{"limitName": "TaskRunHistoryCount", "numLimit": 25}')
        _tab_to(page, "e.tagName === 'BUTTON' && e.type === 'submit' && "
                      "e.closest('form').action.endsWith('/limits/update')")
        page.keyboard.press("Enter")
        page.wait_for_url(re.compile("/limits/update$"), wait_until="load")
        expect(page.locator("h1")).not_to_contain_text("Error")
        page.goto(visitor.url("admin/system/limits"))
        expect(page.locator("dl.props tr").filter(has_text="TaskRunHistoryCount")).to_contain_text(
            "25")
        assert visitor.csp_violations() == []
    finally:
        visitor.close()


def test_signing_out_ends_the_session_on_the_server(erin: Visitor, server: Server) -> None:
    erin.go("home")
    secret = next(c["value"] for c in erin.context.cookies()
                  if c["name"] == "gistasks_session")
    erin.page.get_by_role("button", name="Sign out").click()
    expect(erin.page.get_by_role("status")).to_have_text("You are signed out.")
    assert not [c for c in erin.context.cookies() if c["name"] == "gistasks_session"]
    erin.go("sharing/rest/community/users/erin/tasks")
    expect(erin.page.locator("h1")).to_contain_text("499")
    expect(erin.page.get_by_role("link", name="Sign in").last).to_be_visible()
    erin.check("signed-out")
    # The old cookie, replayed, no longer stands for anyone.
    replay = httpx.get(f"{server.url}/sharing/rest/community/users/erin/tasks", verify=False,
                       params={"f": "json"}, cookies={"gistasks_session": secret})
    assert replay.json()["error"]["code"] == 498


def test_a_busy_deployment_shows_on_the_dashboard_and_the_task_page(
        admin: Visitor, server: Server) -> None:
    """The state the README's two screenshots show (``readme-*.png``)."""
    api = httpx.Client(verify=False, timeout=30, params={"f": "json"}, headers={
        "X-Esri-Authorization": f"Bearer {_token(server)}"})
    base = f"{server.url}/sharing/rest/community/users/erin/tasks"
    schedules = {"Refresh parcels": ("0/15", "*"), "Nightly report": ("30", "2"),
                 "Hourly sync": ("5", "*")}
    ids = {}
    for title, (minute, hour) in schedules.items():
        made = api.post(f"{base}/createTask", data={
            "type": "Ping", "title": title, "minute": minute, "hour": hour,
            "dayOfMonth": "*", "month": "*", "dayOfWeek": "?"}).json()
        ids[title] = made["taskId"]
    runs = [api.post(f"{base}/{ids['Refresh parcels']}/runNow").json()["runId"]
            for _ in range(3)]
    deadline = time.monotonic() + 20
    while any(r["status"] != "succeeded" for r in api.get(
            f"{base}/{ids['Refresh parcels']}/runs").json()["runs"]):
        assert time.monotonic() < deadline
        time.sleep(0.2)
    api.post(f"{base}/{ids['Refresh parcels']}/runs/{runs[0]}/update",
             data={"status": "failed", "result": "the parcels service did not answer"})
    page = admin.go("home")
    recent = page.locator("section").filter(has_text="Recent runs")
    expect(recent.locator(".badge.bad")).to_have_count(1)
    assert page.locator("svg.timeline rect.fire").count() >= 50
    page.screenshot(path=str(ARTIFACTS / "readme-dashboard.png"), full_page=True)
    page = admin.go(f"sharing/rest/community/users/erin/tasks/{ids['Refresh parcels']}")
    expect(page.locator("section").filter(has_text="Latest runs").locator("tbody tr")
           ).to_have_count(3)
    page.screenshot(path=str(ARTIFACTS / "readme-task.png"), full_page=True,
                    clip={"x": 0, "y": 0, "width": DESKTOP["width"], "height": 1750})
    admin.operation("update")
    expect(page.locator("details#op-update .cron-description")).to_have_text(
        "Every 15 minutes (UTC)")
    api.close()
