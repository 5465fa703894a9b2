"""The browser directory: every answer's ``f=html`` page, rendered with Jinja2 templates.

A handler answers through :func:`gistasks.api.render.render` as for JSON; for ``html`` it
gets a :class:`Page`, which renders itself when it is sent, from the request it answers:

* the **properties** of the answer (dates as times the browser shows in its own zone, with
  the epoch value beside; lists of records as tables whose rows link to their resources);
* a **breadcrumb** of the path, a link to the same resource as JSON;
* **links to the child resources** and a **form for each operation**, both found in the
  application's routes and their declarations (:class:`gistasks.api.spec.Endpoint`), so a
  new endpoint has its form without a template: its parameters labelled and described, the
  update forms filled with the current values, destructive operations behind a confirmation
  box, createTask and update with the schedule builder, a GP task's submitJob form made from
  the tool's parameter declarations;
* the browser session's user and CSRF token (every form carries it).

Every string from a request or the store is escaped by Jinja2's autoescaping; no page holds
inline script or style (the Content-Security-Policy forbids both); the one script and the
one stylesheet are served by gistasks (``/<context>/static/``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from importlib import resources
from typing import Any
from urllib.parse import quote, urlencode

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup, escape
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from gistasks.api.params import Boolean, EpochMs, Integer, Number, Param, Text
from gistasks.api.spec import Endpoint, declared_routes
from gistasks.services.errors import ServiceError
from gistasks.tasktypes import Registry

COOKIE = "gistasks_session"
CSRF_FIELD = "csrfToken"
SESSION_USER = "gistasks_session_user"
"""Where ``request.state`` keeps the browser session's user once a handler identified it."""
MAX_DEPTH = 4
"""Nested objects deeper than this are shown as JSON text."""
MAX_ROWS = 500
MAX_COLUMNS = 14
MAX_NODES = 20_000
"""A page shows at most this many values; the rest is in the JSON."""
MAX_TEXT = 20_000
"""A longer string is cut on the page (the JSON has it whole)."""
DATE_KEYS = re.compile(r"(?i)(date|time|created|modified|updated|started|ended|expires|"
                       r"heartbeat|submitted|registered|start|starts|end|lastrun|"
                       r"lastviewed)$")
DESTRUCTIVE = ("delete", "unregister", "restore", "purge", "clean", "remove")
"""Operations (by name prefix) behind a confirmation box."""
OPERATIONS = ("cancel", "submitJob", "execute")
"""Children that answer GET too but are operations, not resources."""
CRON = ("minute", "hour", "dayOfMonth", "month", "dayOfWeek")
HIDDEN_PARAMS = ("f", "token", CSRF_FIELD)
PRESETS = (("Every 5 minutes", "0/5", "*", "*", "*", "?"),
           ("Every hour", "0", "*", "*", "*", "?"),
           ("Every day at 02:00", "0", "2", "*", "*", "?"),
           ("Mondays at 06:30", "30", "6", "?", "*", "MON"),
           ("First of the month", "0", "0", "1", "*", "?"))
STATUS_CLASSES = {"succeeded": "ok", "esriJobSucceeded": "ok", "COMPLETED": "ok",
                  "failed": "bad", "esriJobFailed": "bad", "FAILED": "bad",
                  "submitfailed": "bad", "esriJobTimedOut": "bad",
                  "executing": "busy", "esriJobExecuting": "busy", "EXECUTING": "busy",
                  "scheduled": "wait", "esriJobSubmitted": "wait", "esriJobWaiting": "wait",
                  "SUBMITTED": "wait", "skipped": "off", "esriJobCancelled": "off",
                  "esriJobCancelling": "off", "esriJobDeleted": "off",
                  "active": "ok", "paused": "off", "completed": "off",
                  "running": "ok", "silent": "bad", "stopped": "off"}
TERMINAL_JOB = ("esriJobSucceeded", "esriJobFailed", "esriJobCancelled", "esriJobTimedOut",
                "esriJobDeleted")

_env = Environment(loader=PackageLoader("gistasks.api", "templates"),
                   autoescape=select_autoescape(default=True, default_for_string=True),
                   trim_blocks=True, lstrip_blocks=True)


def status_class(value: object) -> str:
    return STATUS_CLASSES.get(str(value), "")


def md(text: str) -> Markup:
    """``text`` escaped, with its `backticked` words as code (the declarations' markdown)."""
    escaped = str(escape(text))
    return Markup(re.sub(r"`([^`<>]{1,200})`", r"<code>\1</code>", escaped))


_env.filters["status_class"] = status_class
_env.filters["md"] = md


# -- the routes, indexed once per application -------------------------------------------------


@dataclass(slots=True)
class RouteInfo:
    template: str
    regex: re.Pattern[str]
    methods: set[str] = field(default_factory=set)
    endpoints: dict[str, Endpoint] = field(default_factory=dict)
    """The declaration answering each method."""

    @property
    def last(self) -> str:
        return self.template.rsplit("/", 1)[-1]

    def readable(self) -> bool:
        """A resource to link to: it answers GET with something other than a refusal."""
        get, post = self.endpoints.get("GET"), self.endpoints.get("POST")
        return get is not None and (post is None or post is get)

    def operation(self) -> Endpoint | None:
        """The declaration of the operation this route is, if it is one."""
        post = self.endpoints.get("POST")
        if post is None:
            return None
        if not self.readable() or self.last in OPERATIONS:
            return post
        return None


def _regex(template: str) -> re.Pattern[str]:
    out, pos = "", 0
    for m in re.finditer(r"{(\w+)(:path)?}", template):
        out += re.escape(template[pos:m.start()])
        out += f"(?P<{m.group(1)}>.+)" if m.group(2) else f"(?P<{m.group(1)}>[^/]+)"
        pos = m.end()
    return re.compile(out + re.escape(template[pos:]) + "$")


@dataclass(slots=True)
class RouteIndex:
    routes: list[RouteInfo]
    children: dict[str, list[RouteInfo]]
    """By parent template: the routes one segment below it."""
    services_root: str = ""
    """The services directory (``/<context>/rest/services``)."""

    @classmethod
    def of(cls, app: Any) -> RouteIndex:
        found: dict[str, RouteInfo] = {}
        for path, methods, ep in declared_routes(app.routes):
            info = found.setdefault(path, RouteInfo(path, _regex(path)))
            for method in methods:
                info.methods.add(method)
                info.endpoints[method] = ep
        children: dict[str, list[RouteInfo]] = {}
        for info in found.values():
            parent = info.template.rsplit("/", 1)[0]
            children.setdefault(parent, []).append(info)
        roots = [t for t in found if t.endswith("/rest/services")]
        return cls(list(found.values()), children, roots[0] if roots else "")

    def match(self, path: str) -> tuple[RouteInfo, dict[str, str]] | None:
        """The route answering ``path``: a literal one before one with parameters."""
        best: tuple[RouteInfo, dict[str, str]] | None = None
        for info in self.routes:
            m = info.regex.match(path)
            if m is not None and (best is None or info.template.count("{") <
                                  best[0].template.count("{")):
                best = (info, m.groupdict())
        return best

    def readable(self, path: str) -> bool:
        found = self.match(path)
        return found is not None and found[0].readable()


def index_of(app: Any) -> RouteIndex:
    index = getattr(app.state, "page_index", None)
    if not isinstance(index, RouteIndex):
        index = RouteIndex.of(app)
        app.state.page_index = index
    return index


# -- what a page shows ------------------------------------------------------------------------


@dataclass(slots=True)
class Node:
    """One value on a page, made ready for the template."""

    kind: str
    """text, number, bool, null, time, never (a date of -1), link, code, object, list, table,
    status"""
    text: str = ""
    href: str = ""
    ms: int = 0
    iso: str = ""
    items: list[tuple[str, Node]] = field(default_factory=list)
    """object: its fields; list: its values (with empty names)."""
    columns: list[str] = field(default_factory=list)
    rows: list[list[Node]] = field(default_factory=list)
    more: int = 0
    """Rows or values left out."""


class _Budget:
    def __init__(self) -> None:
        self.left = MAX_NODES

    def take(self) -> bool:
        self.left -= 1
        return self.left >= 0


def utc_text(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def time_node(ms: int) -> Node:
    iso = datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return Node("time", utc_text(ms), ms=ms, iso=iso)


def _is_epoch_ms(key: str, value: object) -> bool:
    return (isinstance(value, int) and not isinstance(value, bool)
            and 10**11 <= value < 10**14 and DATE_KEYS.search(key) is not None)


def node_of(key: str, value: Any, budget: _Budget, depth: int = 0,
            link: Callable[[str, Mapping[str, Any]], str] | None = None) -> Node:
    """``value`` (found under ``key``) as a :class:`Node`, within ``budget``."""
    if not budget.take():
        return Node("text", "…")
    if value is None:
        return Node("null", "null")
    if isinstance(value, bool):
        return Node("bool", "true" if value else "false")
    if _is_epoch_ms(key, value):
        return time_node(value)
    if value == -1 and not isinstance(value, bool) and DATE_KEYS.search(key) is not None:
        return Node("never", "none", ms=-1)
    if isinstance(value, int | float):
        return Node("number", str(value))
    if isinstance(value, str):
        text = value if len(value) <= MAX_TEXT else value[:MAX_TEXT] + " … (cut; see the JSON)"
        if key in ("status", "jobStatus", "taskState", "state") and value in STATUS_CLASSES:
            return Node("status", text)
        if value.startswith(("https://", "http://")) and len(value) < 2048:
            return Node("link", text, href=value)
        return Node("text", text)
    if depth >= MAX_DEPTH:
        return Node("code", json.dumps(value, indent=2)[:MAX_TEXT])
    if isinstance(value, Mapping):
        return Node("object", items=[(str(k), node_of(str(k), v, budget, depth + 1))
                                     for k, v in value.items()])
    if isinstance(value, list | tuple):
        if value and all(isinstance(v, Mapping) for v in value):
            return _table(key, value, budget, depth, link)
        items = [("", node_of(key, v, budget, depth + 1)) for v in value[:MAX_ROWS]]
        if link is not None and key in NAME_LISTS:
            for i, (_, n) in enumerate(items):
                href = link(key, {"id": n.text}) if n.kind == "text" else ""
                if href:
                    items[i] = ("", Node("link", n.text, href=href))
        return Node("list", items=items, more=max(0, len(value) - MAX_ROWS))
    return Node("text", str(value))


def _table(key: str, rows: Sequence[Mapping[str, Any]], budget: _Budget, depth: int,
           link: Callable[[str, Mapping[str, Any]], str] | None) -> Node:
    columns: list[str] = []
    for row in rows[:MAX_ROWS]:
        for name in row:
            if name not in columns and len(columns) < MAX_COLUMNS:
                columns.append(str(name))
    out: list[list[Node]] = []
    for row in rows[:MAX_ROWS]:
        cells = [node_of(c, row.get(c), budget, depth + 1) if c in row else Node("text", "")
                 for c in columns]
        href = link(key, row) if link is not None else ""
        if href and cells:
            cells[0] = Node("link", cells[0].text or href, href=href)
        out.append(cells)
    return Node("table", columns=columns, rows=out, more=max(0, len(rows) - MAX_ROWS))


# -- forms ------------------------------------------------------------------------------------


@dataclass(slots=True)
class Field:
    name: str
    label: str
    description: str
    control: str
    """text, textarea, number, select, password, file, datetime"""
    value: str = ""
    required: bool = False
    choices: list[tuple[str, str]] = field(default_factory=list)
    step: str = ""


@dataclass(slots=True)
class Form:
    name: str
    summary: str
    description: str
    action: str
    fields: list[Field]
    multipart: bool = False
    confirm: str = ""
    """The confirmation the box asks for; empty: none."""
    schedule: str = ""
    """The scope (user or system) of the schedule builder this form has; empty: none."""

    @property
    def id(self) -> str:
        return "op-" + re.sub(r"\W", "-", self.name)


def _label(name: str) -> str:
    words = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", name).replace("_", " ")
    return words[:1].upper() + words[1:]


def _prefill(name: str, current: Mapping[str, Any]) -> str:
    """The current value of ``name`` in the resource (top level, or one object down: the
    cron fields sit in ``cronSchedule``)."""
    places = [current, *(v for v in current.values() if isinstance(v, Mapping))]
    for place in places:
        value = place.get(name)
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, int | float | str) and not (isinstance(value, int) and
                                                         value == -1 and "Date" in name):
            return str(value)
        if isinstance(value, Mapping | list) and name == "parameters":
            return json.dumps(value)
    return ""


def field_of(param: Param[Any], current: Mapping[str, Any], uploads: bool,
             types: Registry) -> Field:
    f = Field(param.name, _label(param.name), param.describe(types), "text",
              required=param.required)
    secret = getattr(param, "secret", False)
    if not secret:
        f.value = _prefill(param.name, current)
    enum = param.schema(types).get("enum")
    if isinstance(param, Text) and secret:
        f.control = "password"
    elif isinstance(param, Text) and uploads and param.name == "file":
        f.control = "file"
    elif isinstance(enum, list) and enum:
        f.control = "select"
        f.choices = [("", "(not set)")] * (not param.required) + [(str(c), str(c))
                                                                 for c in enum]
        default = getattr(param, "default", None)
        if not f.value and default is not None:
            f.value = str(default)
    elif isinstance(param, Text) and param.json_text:
        f.control = "textarea"
    elif isinstance(param, Boolean):
        f.control = "select"
        f.choices = [("", "(not set)"), ("true", "true"), ("false", "false")]
    elif isinstance(param, Integer | Number):
        f.control = "number"
        f.step = "1" if isinstance(param, Integer) else "any"
    elif isinstance(param, EpochMs):
        f.control = "datetime"
    return f


def gp_fields(parameters: Iterable[Mapping[str, Any]]) -> list[Field]:
    """The inputs of a GP task's submitJob form, from its parameter declarations."""
    out: list[Field] = []
    for p in parameters:
        if p.get("direction") != "esriGPParameterDirectionInput":
            continue
        name = str(p.get("name", ""))
        kind = str(p.get("dataType", ""))
        default = p.get("defaultValue")
        value = "" if default is None else (default if isinstance(default, str)
                                            else json.dumps(default))
        described = f"{p.get('description') or ''} ({kind})".strip()
        f = Field(name, str(p.get("displayName") or name), described, "text", value,
                  p.get("parameterType") == "esriGPParameterTypeRequired")
        choices = p.get("choiceList")
        if isinstance(choices, list) and choices:
            f.control = "select"
            f.choices = [(str(c), str(c)) for c in choices]
        elif kind == "GPBoolean":
            f.control, f.choices = "select", [("true", "true"), ("false", "false")]
            f.value = "true" if default is True else "false"
        elif kind in ("GPLong", "GPDouble"):
            f.control, f.step = "number", "1" if kind == "GPLong" else "any"
        elif kind not in ("GPString", "GPDate"):
            f.control = "textarea"
        out.append(f)
    return out


# -- the page ---------------------------------------------------------------------------------


@dataclass(slots=True)
class Viewer:
    username: str
    role: str
    csrf: str


def viewer_of(request: Request) -> Viewer | None:
    """The browser session's user, if the request carries a live session."""
    secret = request.cookies.get(COOKIE)
    services = getattr(request.app.state, "services", None)
    if not secret or services is None:
        return None
    user = getattr(request.state, SESSION_USER, None)  # identified by the request already
    if user is None:
        try:
            user = services.browser.user(secret)
        except ServiceError:
            return None
    return Viewer(user.username, user.role, services.browser.csrf_token(secret))


def base_context(request: Request, title: str) -> dict[str, Any]:
    """What every page's frame needs: the context path, the viewer, the title."""
    settings = request.app.state.settings
    ctx = f"/{settings.context}"
    return {"ctx": ctx, "title": title, "viewer": viewer_of(request),
            "path": request.url.path, "csrf_field": CSRF_FIELD,
            "signin_url": f"{ctx}/home/signin?" + urlencode({"next": _here(request)})}


def _here(request: Request) -> str:
    query = [(k, v) for k, v in request.query_params.multi_items() if k not in ("token",)]
    return request.url.path + ("?" + urlencode(query) if query else "")


def render_template(name: str, context: Mapping[str, Any]) -> str:
    return _env.get_template(name).render(**context)


def _breadcrumb(index: RouteIndex, ctx: str, path: str) -> list[tuple[str, str]]:
    parts = [p for p in path[len(ctx):].split("/") if p]
    out: list[tuple[str, str]] = []
    for i, part in enumerate(parts):
        href = ctx + "/" + "/".join(parts[:i + 1])
        out.append((part, href if i < len(parts) - 1 and index.readable(href) else ""))
    return out


ID_KEYS = ("id", "name", "backupName")
NAME_LISTS = ("tasks", "folders")
"""Lists of names that name child resources (a GP service's tasks, the services' folders)."""


def _row_linker(index: RouteIndex, info: RouteInfo | None,
                path: str) -> Callable[[str, Mapping[str, Any]], str]:
    """How a row of a list links to its resource: the child route with one parameter, the
    row's value of that parameter (``task_id`` is ``taskId`` or ``id``)."""
    children = [c for c in index.children.get(info.template, []) if c.readable()
                and c.last.startswith("{")] if info is not None else []

    def link(_key: str, row: Mapping[str, Any]) -> str:
        name, kind = row.get("name"), row.get("type")
        if isinstance(name, str) and isinstance(kind, str) and "/" in name + "/" and \
                kind.endswith("Server") and ".." not in name:
            href = f"{index.services_root}/{quote(name)}/{quote(kind)}"
            if index.readable(href):
                return href
        for child in children:
            param = child.last.strip("{}").split(":")[0]
            camel = re.sub(r"_(\w)", lambda m: m.group(1).upper(), param)
            for key in (camel, param, *ID_KEYS):
                value = row.get(key)
                if isinstance(value, str) and value and "/" not in value:
                    return f"{path}/{quote(value)}"
        return ""

    return link


ANSWER_IDS = (("taskId", "task"), ("runId", "run"), ("jobId", "job"), ("itemId", "item"),
              ("id", "item"))
"""The ids an operation's answer names what it made or changed by, and what they are."""


def _answer_links(index: RouteIndex, ctx: str, path: str,
                  payload: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Links from an operation's answer to what it made or changed (a task, a run, a job,
    an item), and back to the resource the operation belongs to."""
    parent = path.rsplit("/", 1)[0]
    out: list[tuple[str, str]] = []
    for key, kind in ANSWER_IDS:
        value = payload.get(key)
        if not isinstance(value, str) or not value or "/" in value:
            continue
        v = quote(value)
        items = f"{ctx}/sharing/rest/content/items/{v}"
        candidates = ([items, f"{parent}/{v}"] if kind == "item" else
                      [f"{parent}/{v}", f"{parent}/runs/{v}", f"{parent}/jobs/{v}"])
        if parent.endswith("/" + v):
            candidates.insert(0, parent)
        for href in candidates:
            if href != path and index.readable(href):
                if all(h != href for _, h in out):
                    out.append((f"Open {kind} {value}", href))
                break
    if index.readable(parent) and all(h != parent for _, h in out):
        out.append(("Back to " + parent.rsplit("/", 1)[-1], parent))
    return out


class Page(Response):
    """An html answer, rendered when it is sent from the request it answers (see the
    module's text)."""

    media_type = "text/html; charset=utf-8"

    def __init__(self, payload: dict[str, Any], title: str, status_code: int = 200,
                 sections: Callable[[], dict[str, tuple[str, Any]]] | None = None,
                 error: bool = False) -> None:
        super().__init__(b"", status_code)
        self.payload = payload
        self.title = title
        self.sections = sections
        self.error = error

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope)
        self.body = self.build(request).encode()
        self.headers["content-length"] = str(len(self.body))
        await super().__call__(scope, receive, send)

    def build(self, request: Request) -> str:
        index = index_of(request.app)
        services = getattr(request.app.state, "services", None)
        types = services.types if services is not None else Registry.default()
        context = base_context(request, self.title)
        ctx, path = context["ctx"], request.url.path.rstrip("/") or "/"
        found = index.match(path)
        info = found[0] if found else None
        budget = _Budget()
        linker = _row_linker(index, info, path)
        payload = self.payload
        properties = [(str(k), node_of(str(k), v, budget, 0, linker))
                      for k, v in payload.items()]
        extra: dict[str, tuple[str, Any]] = {}
        if self.sections is not None and not self.error:
            try:
                extra = self.sections()
            except ServiceError:
                extra = {}
        sections = []
        for name, (sub, value) in extra.items():
            under = index.match(f"{path}/{sub}") if sub else None
            sub_linker = _row_linker(index, under[0] if under else None, f"{path}/{sub}")
            sections.append((name, f"{path}/{sub}" if under else "",
                             node_of(name, value, budget, 0, sub_linker)))
        links: list[tuple[str, str, str]] = []
        forms: list[Form] = []
        if info is not None and not self.error:
            for child in sorted(index.children.get(info.template, []),
                                key=lambda c: c.template):
                if child.last.startswith("{"):
                    continue
                operation = child.operation()
                href = f"{path}/{child.last}"
                if operation is not None:
                    forms.append(self._form(child, operation, href, payload, ctx, types))
                elif child.readable():
                    ep = child.endpoints["GET"]
                    links.append((child.last, href, ep.summary))
        is_operation = info is not None and info.operation() is not None
        query_form = None
        read = info.endpoints.get("GET") if info is not None and info.readable() else None
        if read is not None and not self.error:
            asked = dict(request.query_params)
            fields = [field_of(p, asked, False, types) for p in read.params
                      if p.name not in HIDDEN_PARAMS and not p.description.startswith("Alias")]
            if fields:
                query_form = Form("query", "Parameters of this page", "", path, fields)
        query = [(k, v) for k, v in request.query_params.multi_items()
                 if k not in ("f", "token")]
        json_href = path + "?" + urlencode([*query, ("f", "pjson")])
        live = ""
        if payload.get("jobStatus") and "/jobs/" in path and not self.error:
            live = "final" if payload["jobStatus"] in TERMINAL_JOB else "2"
        context.update(
            breadcrumb=_breadcrumb(index, ctx, path), properties=properties,
            sections=sections, links=links, forms=forms, json_href=json_href,
            error=self.error, answer_links=(_answer_links(index, ctx, path, payload)
                                            if is_operation and not self.error else []),
            summary=_summary(info),
            needs_signin=self.error and payload_code(payload) in (498, 499),
            live=live, presets=PRESETS, query_form=query_form)
        return render_template("resource.html", context)

    def _form(self, child: RouteInfo, operation: Endpoint, href: str,
              payload: Mapping[str, Any], ctx: str, types: Registry) -> Form:
        name = child.last
        current = payload if name in ("update", "edit") else {}
        params = [p for p in operation.params if p.name not in HIDDEN_PARAMS
                  and not p.description.startswith("Alias of")]
        if operation.open_params and isinstance(payload.get("parameters"), list):
            fields = gp_fields(payload["parameters"])
        else:
            fields = [field_of(p, current, operation.uploads, types) for p in params]
        names = {p.name for p in params}
        form = Form(name, operation.summary, operation.description, href, fields,
                    multipart=operation.uploads)
        if name.lower().startswith(DESTRUCTIVE):
            form.confirm = f"Yes, {operation.summary[:1].lower()}{operation.summary[1:]}"
        if all(c in names for c in CRON):
            form.schedule = "system" if f"{ctx}/admin/" in href or \
                f"{ctx}/portaladmin/" in href else "user"
        return form


def _summary(info: RouteInfo | None) -> str:
    if info is None:
        return ""
    ep = info.endpoints.get("GET") or info.endpoints.get("POST")
    return ep.summary if ep is not None else ""


def payload_code(payload: Mapping[str, Any]) -> int | None:
    """The code of an error payload of either envelope."""
    error = payload.get("error")
    code = error.get("code") if isinstance(error, Mapping) else payload.get("code")
    return code if isinstance(code, int) else None


def task_href(ctx: str, scope: str, owner: str, task_id: str) -> str:
    """The page of a task of either API."""
    if scope == "system":
        return f"{ctx}/admin/system/tasks/{quote(task_id)}"
    return f"{ctx}/sharing/rest/community/users/{quote(owner)}/tasks/{quote(task_id)}"


@lru_cache(maxsize=8)
def static_asset(name: str) -> bytes | None:
    """A file of ``api/static`` (the stylesheet, the script), or None."""
    if not re.fullmatch(r"[a-z][a-z0-9-]*\.(css|js|svg)", name):
        return None
    path = resources.files("gistasks.api").joinpath("static", name)
    return path.read_bytes() if path.is_file() else None
