"""The browser's own resources: the dashboard (``/<context>/home``), the sign-in and sign-out
of browser sessions, the schedule builder's preview, and the static assets of the pages.

Sessions: a sign-in sets the cookie ``gistasks_session`` (HttpOnly, Secure, SameSite=Strict,
path ``/<context>``); the cookie identifies its user to every endpoint when no token is sent,
and every POST it identifies must carry the session's CSRF token (``csrfToken``) or is
refused (403). Signing out ends the session on the server.
"""

from __future__ import annotations

import zlib
from typing import Any
from urllib.parse import unquote, urlsplit

from fastapi import APIRouter
from starlette.responses import RedirectResponse, Response

from gistasks.api.deps import Call, CallDep
from gistasks.api.pages import (
    COOKIE,
    CSRF_FIELD,
    base_context,
    render_template,
    static_asset,
    task_href,
    time_node,
    utc_text,
)
from gistasks.api.params import EpochMs, Integer, Text
from gistasks.api.render import ApiError, render
from gistasks.api.spec import GET, POST, READ, Auth, Endpoint, Kind, route
from gistasks.services.auth import LockedOutError
from gistasks.services.browser import SESSION_HOURS
from gistasks.services.dashboard import MAX_FIRES, Overview
from gistasks.services.task_fields import CRON_FIELDS
from gistasks.store.records import Scope, TaskRecord

router = APIRouter()
TAG = "Browser"
LANES = 6

NEXT = Text("next", "Where to go once signed in: a path on this server.", max_length=2048)
USERNAME = Text("username", "User name.", True, max_length=256)
PASSWORD = Text("password", "Password.", True, secret=True, max_length=1024)
CSRF = Text(CSRF_FIELD, "The session's CSRF token (every page's forms carry it).")
SCOPE = Text("scope", "Whose limits apply: `user` tasks fire at most once a minute, `system` "
             "tasks as often as every second.", choices=("user", "system"), default="user")
TIME_ZONE = Text("timeZone", "IANA zone the fields are read in.", default="UTC",
                 max_length=64)
COUNT = Integer("count", "How many next fires (1-10).", minimum=1, maximum=10, default=5)
START = EpochMs("startDate", "The first moment the task may fire (epoch ms).")
END = EpochMs("endDate", "When the task stops (epoch ms).")
CRON = tuple(Text(name, f"The cron field `{name}`.", True, max_length=256)
             for name in CRON_FIELDS)
SECOND = Text("second", "The seconds field (system tasks).", max_length=256)


def _iso(ms: int) -> str:
    return time_node(ms).iso


def _page(c: Call, name: str, title: str, status: int = 200, **values: Any) -> Response:
    context = base_context(c.request, title)
    context.update(values)
    return Response(render_template(name, context), status,
                    media_type="text/html; charset=utf-8")


def overview_json(o: Overview, ctx: str) -> dict[str, Any]:
    """The dashboard as JSON (``home?f=json``)."""

    def task(t: TaskRecord) -> dict[str, Any]:
        return {"id": t.id, "title": t.title, "type": t.type, "owner": t.owner,
                "scope": t.scope, "taskState": t.task_state,
                "consecutiveFailures": t.consecutive_failures,
                "url": task_href(ctx, t.scope, t.owner, t.id)}

    return {
        "now": o.now, "horizon": o.horizon, "everyone": o.everyone,
        "fires": [{"at": f.at, "task": task(f.task)} for f in o.fires],
        "runs": [{"runId": r.run.id, "status": r.run.status,
                  "scheduledTime": r.run.scheduled_for, "started": r.run.started or -1,
                  "ended": r.run.ended or -1, "latenessMs": r.lateness_ms,
                  "result": r.run.result[:200], "task": task(r.task)} for r in o.runs],
        "troubled": [task(t) for t in o.troubled],
        "jobs": {str(k): v for k, v in sorted(o.jobs.items())},
        "nodes": [{"node": n.node.node, "host": n.node.host, "pid": n.node.pid,
                   "version": n.node.version, "started": n.node.started,
                   "heartbeat": n.node.heartbeat, "state": n.state} for n in o.nodes],
    }


@route(router, "/home", READ, Endpoint(
    "The dashboard", "Dashboard", description="The fires of the next 24 hours, the latest "
    "runs with their lateness, the tasks failing, stopped or completed, the GP jobs by "
    "status and (for org admins) each node's heartbeat. An org admin sees the deployment, "
    "anyone else their own. Anonymous callers get the page with a sign-in link (html) or "
    "error 499 (json).",
    auth=Auth.OPTIONAL, tag=TAG, extension=True))
async def dashboard(c: CallDep) -> Response:
    ctx = f"/{c.settings.context}"
    viewer = c.caller_if_any(required=c.f != "html")
    if viewer is None:
        return _page(c, "dashboard.html", "Dashboard", o=None, lanes=LANES)
    o = c.services.dashboard.overview(viewer)
    if c.f != "html":
        return render(overview_json(o, ctx), c.f)
    span = max(1, o.horizon - o.now)
    timeline = [{"x": round(1000 * (f.at - o.now) / span, 1),
                 "y": 4 + 18 * (zlib.crc32(f.task.id.encode()) % LANES), "at": f.at,
                 "title": f.task.title or f.task.id,
                 "href": task_href(ctx, f.task.scope, f.task.owner, f.task.id)}
                for f in o.fires if f.at >= o.now]
    ticks = [(round(1000 * h / 24, 1), "now" if h == 0 else f"+{h} h") for h in range(0, 24, 3)]
    top = max(o.jobs.values(), default=0)
    jobs = [(str(s), n, round(100 * n / top, 1) if top else 0)
            for s, n in sorted(o.jobs.items())]
    return _page(c, "dashboard.html", "Dashboard", o=o, timeline=timeline, ticks=ticks,
                 lanes=LANES, jobs=jobs, max_fires=MAX_FIRES, utc=utc_text, iso=_iso,
                 href=lambda t: task_href(ctx, t.scope, t.owner, t.id))


def _safe_next(c: Call, target: str) -> str:
    """``target`` if it is a path of this server's context, else the dashboard."""
    ctx = f"/{c.settings.context}"
    parts = urlsplit(target)
    segments = unquote(parts.path).split("/")
    if (not target.startswith(ctx + "/") or target.startswith("//") or parts.scheme
            or parts.netloc or "\\" in target or any(ord(ch) < 32 for ch in target)
            or "." in segments or ".." in segments):
        return f"{ctx}/home"
    return target


def _signin_page(c: Call, messages: list[str], status: int = 200,
                 signed_out: bool = False) -> Response:
    return _page(c, "signin.html", "Sign in", status, messages=messages,
                 next=_safe_next(c, c.form.text(NEXT)), hours=SESSION_HOURS,
                 username=c.form.text(USERNAME) if c.request.method == "POST" else "",
                 signed_out=signed_out)


@route(router, "/home/signin", GET, Endpoint(
    "The sign-in page", None, (NEXT,), "A form for a user name and a password; it starts a "
    "browser session.", auth=Auth.NONE, tag=TAG, kind=Kind.HTML, extension=True))
async def signin_page(c: CallDep) -> Response:
    return _signin_page(c, [], signed_out=c.request.query_params.get("signedOut") == "1")


@route(router, "/home/signin", POST, Endpoint(
    "Sign in (browser)", None, (USERNAME, PASSWORD, NEXT),
    "Redirects (303) to `next` with the session cookie; the page again, saying why, for a "
    "wrong name or password or a locked account.", auth=Auth.NONE, tag=TAG,
    kind=Kind.REDIRECT, extension=True))
async def signin(c: CallDep) -> Response:
    try:
        secret = await c.checking_passwords(
            c.services.browser.sign_in, c.form.text(USERNAME), c.form.text(PASSWORD),
            c.client_ip)
    except LockedOutError as exc:
        return _signin_page(c, [exc.message, *exc.details])
    if secret is None:
        return _signin_page(c, ["Invalid username or password."])
    response = RedirectResponse(_safe_next(c, c.form.text(NEXT)), status_code=303)
    response.set_cookie(COOKIE, secret, max_age=c.services.browser.lifetime_ms // 1000,
                        path=f"/{c.settings.context}", secure=True, httponly=True,
                        samesite="strict")
    return response


@route(router, "/home/signout", POST, Endpoint(
    "Sign out (browser)", None, (CSRF,), "Ends the browser session on the server and "
    "redirects (303) to the sign-in page. Refused (403) without the session's CSRF token.",
    auth=Auth.NONE, tag=TAG, kind=Kind.REDIRECT, extension=True))
async def signout(c: CallDep) -> Response:
    secret = c.request.cookies.get(COOKIE, "")
    if secret:
        if not c.services.browser.check_csrf(secret, c.form.get(CSRF)):
            raise ApiError(403, "Invalid or missing CSRF token",
                           [f"Forms of a browser session carry '{CSRF_FIELD}'."])
        c.services.browser.sign_out(secret)
    response = RedirectResponse(f"/{c.settings.context}/home/signin?signedOut=1",
                                status_code=303)
    response.delete_cookie(COOKIE, path=f"/{c.settings.context}", secure=True, httponly=True,
                           samesite="strict")
    return response


@route(router, "/sharing/rest/schedulePreview", READ, Endpoint(
    "Preview a schedule", "SchedulePreview", (*CRON, SECOND, TIME_ZONE, SCOPE, START, END,
                                              COUNT),
    "What createTask would make of these cron fields: the Quartz expression, its English "
    "description and the next fires, checked as createTask checks them (errors name the "
    "field). The schedule builder of the task forms calls it as you type.", auth=Auth.NONE,
    tag=TAG, extension=True, default_format="json"))
async def schedule_preview(c: CallDep) -> Response:
    form = c.form
    cron = {p.name: form.text(p) for p in (*CRON, SECOND) if form.given(p)}
    found = c.services.tasks.preview_schedule(
        cron, form.text(TIME_ZONE, "UTC"), Scope(form.value(SCOPE, "user")),
        form.get(START), form.get(END), form.value(COUNT, 5))
    return render({"cronExpression": found.expression, "timeZone": found.time_zone,
                   "description": found.description,
                   "runIntervalSeconds": found.interval_seconds,
                   "nextStarts": found.next_fires,
                   "nextStartsText": [utc_text(t) for t in found.next_fires]}, c.f,
                  "Schedule preview")


STATIC_TYPES = {"css": "text/css; charset=utf-8", "js": "text/javascript; charset=utf-8",
                "svg": "image/svg+xml"}


@route(router, "/static/{name}", GET, Endpoint(
    "A page asset", None, description="The stylesheet and the script of the pages.",
    auth=Auth.NONE, tag=TAG, kind=Kind.DATA, extension=True))
async def static(c: CallDep, name: str) -> Response:
    body = static_asset(name)
    if body is None:
        raise ApiError(404, "Not Found")
    return Response(body, media_type=STATIC_TYPES[name.rsplit(".", 1)[-1]],
                    headers={"cache-control": "public, max-age=3600"})

