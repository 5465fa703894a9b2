"""The OpenAPI document (``/<context>/openapi.json``) is valid, complete and true.

* Valid: it passes schemathesis' OpenAPI 3.1 meta-schema validation and every ``$ref``
  resolves.
* Complete and honest: every route of ``create_app`` is described, and every described path
  and method reaches a route (Starlette's own matching decides), for two contexts.
* True: schemathesis sends generated requests, valid and invalid, for every operation to a live
  server with a token in a header, and checks that nothing answers 5xx, that ``f=json`` answers
  JSON, that every error is in its family's envelope (Sharing API ``{"error": {...}}``,
  Administrator API ``{"status": "error", ...}``), and that every other answer matches the
  documented success schema. Path parameters hit real users, tasks and runs part of the time.

Server bugs found on the way (fixed) have their own tests at the end.
"""

from __future__ import annotations

import copy
import json
import re
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import httpx
import pytest
import requests
import schemathesis
from fastapi.routing import iter_route_contexts
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from starlette.routing import compile_path

from gistasks.api.app import create_app
from gistasks.api.views import ORG_ID
from gistasks.config import resolve
from tests.support.server import Server, start_with_users, stop, token

ADMIN_PASSWORD = "admin pass 1"
USERS = {"erin": ("erins pass 1", "org_publisher"), "frank": ("franks pass 1", "org_user")}
EVERY_MINUTE = {"minute": "*/1", "hour": "*", "dayOfMonth": "*", "month": "*",
                "dayOfWeek": "?"}
ADMIN_ROOTS = ("admin", "portaladmin")
pytestmark = pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
MAX_EXAMPLES = 12
"""Fuzzed cases per operation (the examples and coverage phases add their own): the whole
module stays near a minute on 2 cores."""


# -- the document and the application's routes ------------------------------------------------


@dataclass(frozen=True, slots=True)
class Route:
    """One route of the application as the router matches it."""

    path: str
    methods: frozenset[str]
    pattern: re.Pattern[str]
    described: bool
    """Whether it must be in the document: not the document itself, not an alias hidden
    from the schema (``sharing/rest/``, ``admin/``)."""


def _routes(context: str, data_dir: Path) -> list[Route]:
    """The application's routes in matching order. FastAPI keeps included routers nested
    (``app.routes`` holds them whole), so its own iterator flattens them."""
    app = create_app(resolve(data_dir=str(data_dir), context=context))
    out = []
    for route in iter_route_contexts(app.routes):
        path = str(route.path)
        pattern, _, _ = compile_path(path)
        described = path != app.openapi_url and bool(getattr(route, "include_in_schema", True))
        out.append(Route(path, frozenset(route.methods or ()) - {"HEAD"}, pattern, described))
    return out


def build_openapi(context: str) -> dict[str, Any]:
    """The document of an application under ``/<context>`` (it writes nothing to disk)."""
    document: dict[str, Any] = create_app(resolve(data_dir="unused", context=context)).openapi()
    return document


def _first_match(routes: list[Route], path: str, method: str) -> Route | None:
    """The route Starlette runs for ``method path``: the first whose path and method match."""
    return next((r for r in routes if r.pattern.match(path) and method in r.methods), None)


@pytest.mark.parametrize("context", ["arcgis", "portal"])
def test_every_route_is_documented_and_every_documented_operation_exists(
        tmp_path: Path, context: str) -> None:
    routes = _routes(context, tmp_path)
    assert len(routes) > 40
    document = build_openapi(context)
    reached: set[tuple[str, str]] = set()
    missing = []
    for template, item in document["paths"].items():
        assert template.startswith(f"/{context}/"), template
        concrete = re.sub(r"{\w+}", "sample0123", template)
        for method in (m.upper() for m in item if m in HTTP_METHODS):
            route = _first_match(routes, concrete, method)
            if route is None or not route.described:
                missing.append(f"{method} {template}")
            else:
                reached.add((route.path, method))
    assert not missing, f"documented, but no route answers: {missing}"
    undocumented = [f"{method} {route.path}" for route in routes if route.described
                    for method in sorted(route.methods) if (route.path, method) not in reached]
    assert not undocumented, f"routes missing from the OpenAPI document: {undocumented}"


def _refs(node: object) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def test_the_document_is_valid_openapi_3_1() -> None:
    document = build_openapi("arcgis")
    assert document["openapi"].startswith("3.1")
    schemathesis.openapi.from_dict(document).validate()
    for ref in set(_refs(document)):
        target: Any = document
        for part in ref.removeprefix("#/").split("/"):
            target = target[part]
        assert isinstance(target, dict), ref
    ids = [op["operationId"] for item in document["paths"].values()
           for method, op in item.items() if method in HTTP_METHODS]
    assert len(ids) == len(set(ids))
    schemes = document["components"]["securitySchemes"]
    assert schemes["esriAuthorization"] | {"in": "header", "name": "X-Esri-Authorization"} \
        == schemes["esriAuthorization"]
    assert schemes["tokenQuery"] | {"in": "query", "name": "token"} == schemes["tokenQuery"]
    assert schemes["bearer"]["scheme"] == "bearer"


def test_the_validation_catches_a_broken_document() -> None:
    broken = build_openapi("arcgis")
    next(iter(broken["paths"].values()))["get"]["responses"] = "none"
    with pytest.raises(Exception, match="responses"):
        schemathesis.openapi.from_dict(broken).validate()


def test_gistasks_extensions_say_so() -> None:
    text = json.dumps(build_openapi("arcgis"))
    for name in ("timeZone", "overlapPolicy", "misfireGraceSeconds", "runNow",
                 "scheduleDescription", "nextStarts", "cronExpression", "occurrences"):
        assert re.search(rf"{name}.{{0,400}}gistasks extension, not ArcGIS", text), name


# -- a live server with real users, tasks and runs --------------------------------------------


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    # Generated sign-ins fail by the hundred: no lockout here, or the successful ones would
    # be locked out too. A small body bound lets every operation get a body over it.
    srv = start_with_users(tmp_path_factory.mktemp("openapi"),
                           *((name, password, role) for name, (password, role) in USERS.items()),
                           env={"GISTASKS_SIGNIN_ACCOUNT_FAILURES": "1000000",
                                "GISTASKS_SIGNIN_ADDRESS_FAILURES": "1000000",
                                "GISTASKS_MAX_BODY_MB": "0.5"})
    yield srv
    stop(srv)


@pytest.fixture(scope="module")
def tokens(server: Server) -> dict[str, str]:
    """A token of the org admin and of each other user."""
    out = {"admin": token(server, "admin", ADMIN_PASSWORD)}
    for name, (password, _) in USERS.items():
        out[name] = token(server, name, password)
    return out


def _post(server: Server, path: str, token: str, **form: str) -> dict[str, Any]:
    answer: dict[str, Any] = httpx.post(
        f"{server.url}{path}", verify=False, data={"f": "json", **form},
        headers={"X-Esri-Authorization": f"Bearer {token}"}).json()
    return answer


def _family(path: str) -> str:
    """``admin`` for the Administrator API's paths, else ``sharing``."""
    for root in ADMIN_ROOTS:
        prefix = f"/arcgis/{root}"
        if path == prefix or path.startswith(prefix + "/"):
            return "admin"
    return "sharing"


TASKS_PER_CREATOR = 3
CREATORS = {"sharing": (("sharing/rest/community/users/admin/tasks", "admin"),
                        ("sharing/rest/community/users/erin/tasks", "erin")),
            "admin": tuple((f"{root}/system/tasks", "admin") for root in ADMIN_ROOTS)}
"""Where the real tasks are created, by API family, and by whom."""


def _placeholders(family: str, kind: str) -> list[str]:
    """Stand-ins for ids the server makes up at run time (the test swaps in the real ones);
    the first is a task of ``admin`` (or its run)."""
    return [f"{family}-{kind}-{n}" for n in range(TASKS_PER_CREATOR * len(CREATORS[family]))]


ITEMS = ("admin", "erin")
"""Users who own a real item (a CSV file) and a real folder."""
KNOWN_VALUES = {
    family: {"username": ["admin", "erin", "frank"], "portal_id": ["self", ORG_ID],
             "task_id": _placeholders(family, "task"), "run_id": _placeholders(family, "run"),
             "item_id": [f"item-{u}" for u in ITEMS],
             "folder_id": [f"folder-{u}" for u in ITEMS]}
    for family in CREATORS
}
"""Path-parameter values that reach real data, by API family."""


@pytest.fixture(scope="module")
def real_ids(server: Server, tokens: dict[str, str]) -> dict[str, str]:
    """Placeholder -> id of a real task (user and system ones) or of a run of one."""
    out: dict[str, str] = {}
    for family, creators in CREATORS.items():
        tasks, runs = iter(_placeholders(family, "task")), iter(_placeholders(family, "run"))
        for base, user in creators:
            for n in range(TASKS_PER_CREATOR):
                created = _post(server, f"/{base}/createTask", tokens[user], type="Ping",
                                title=f"real {n}", **EVERY_MINUTE)
                assert "taskId" in created, created
                ran = _post(server, f"/{base}/{created['taskId']}/runNow", tokens[user])
                assert "runId" in ran, ran
                out[next(tasks)], out[next(runs)] = created["taskId"], ran["runId"]
    for user in ITEMS:
        folder = _post(server, f"/sharing/rest/content/users/{user}/createFolder",
                       tokens[user], title="real folder")
        added = _post(server, f"/sharing/rest/content/users/{user}/addItem", tokens[user],
                      type="CSV", title="real item", text="a,b\n1,2\n")
        assert "id" in added and "folder" in folder, (added, folder)
        out[f"item-{user}"], out[f"folder-{user}"] = added["id"], folder["folder"]["id"]
    return out


def test_the_server_serves_the_document(server: Server) -> None:
    served = httpx.get(f"{server.url}/openapi.json", verify=False)
    assert served.status_code == 200
    assert served.json() == json.loads(json.dumps(build_openapi("arcgis")))


def _deletions_last(path: str) -> int:
    """Sort key: reads and changes, then run deletions, then task deletions (which take
    their runs along)."""
    if not path.endswith("/delete"):
        return 0
    return 1 if "/runs/" in path else 2


def _with_known_values(document: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``document`` made to reach real data: path parameters take known values
    (real users, placeholders of real ids of the path's family) half of the time and have
    matching ones (admin's first task and its run) as examples; generateToken's example
    password is the real one. Deletions come last, to spare the real tasks until the end."""
    out = copy.deepcopy(document)
    for path, item in out["paths"].items():
        known = KNOWN_VALUES[_family(path)]
        for method, operation in item.items():
            if method not in HTTP_METHODS:
                continue
            for parameter in operation.get("parameters", []):
                values = known.get(parameter["name"]) if parameter["in"] == "path" else None
                if values:
                    parameter["example"] = values[0]
                    parameter["schema"] = {"anyOf": [{"enum": values}, parameter["schema"]]}
            if path.endswith("/generateToken") and method == "post":
                for media in operation["requestBody"]["content"].values():
                    media["schema"]["properties"]["password"]["examples"] = [ADMIN_PASSWORD]
    out["paths"] = dict(sorted(out["paths"].items(), key=lambda kv: _deletions_last(kv[0])))
    return out


CONFIG = schemathesis.Config.from_dict({
    "tls-verify": False,
    "generation": {"mode": "all", "deterministic": True, "max-examples": MAX_EXAMPLES,
                   "with-security-parameters": False},
    "phases": {"examples": {"enabled": True}, "coverage": {"enabled": True},
               "fuzzing": {"enabled": True}, "stateful": {"enabled": False}},
    "seed": 20260101,
})
schema = schemathesis.openapi.from_dict(_with_known_values(build_openapi("arcgis")),
                                        config=CONFIG)
"""The document as the server serves it for ``/arcgis`` (``test_the_server_serves_the_document``
checks that), with known values; loaded at import so that every operation is a test item."""


# -- what every answer must be ----------------------------------------------------------------


def _declares_f(case: Any) -> bool:
    """Whether the case's operation takes ``f`` (the OAuth pages and redirects do not)."""
    operation = case.operation.definition.raw
    if any(p.get("name") == "f" for p in operation.get("parameters", [])):
        return True
    return any("f" in media.get("schema", {}).get("properties", {})
               for media in operation.get("requestBody", {}).get("content", {}).values())


FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def _body_is_read(case: Any) -> bool:
    """Whether the server surely reads the case's body: a POST of a form that schemathesis
    encodes itself (a case that sets its own Content-Type, like the coverage phase's
    ``multipart/form-data`` without a boundary, may not be readable)."""
    own_type = any(k.lower() == "content-type" for k in (case.headers or {}))
    return (case.method.upper() == "POST" and not own_type
            and str(case.media_type or "").startswith(FORM_TYPES))


def _asked_format(case: Any) -> str | None:
    """The ``f`` the server reads from the request (the form's over the query's, as
    ``render.params`` merges them; the coverage phase also sends bodies with other methods
    and content types, which the server does not read), normalised; None when the request
    has none."""
    raw: object = None
    if isinstance(case.query, dict) and "f" in case.query:
        raw = case.query["f"]
    if _body_is_read(case) and isinstance(case.body, dict) and "f" in case.body:
        raw = case.body["f"]
    if raw is None:
        return None
    return (raw if isinstance(raw, str) else json.dumps(raw)).strip().lower() or "html"


def _check_envelope(body: Any, family: str) -> None:
    """``body``, if an error, is exactly its family's envelope, with a code below 500."""
    if not isinstance(body, dict):
        return
    sharing_error, admin_error = "error" in body, body.get("status") == "error"
    if family == "admin":
        assert not sharing_error, f"Sharing envelope on an Administrator API path: {body}"
        if admin_error:
            assert set(body) == {"status", "messages", "code"}, body
            assert isinstance(body["code"], int) and body["code"] < 500, body
            assert body["messages"] and all(isinstance(m, str) for m in body["messages"]), body
    else:
        assert not admin_error, f"Administrator envelope on a Sharing API path: {body}"
        if sharing_error:
            assert set(body) == {"error"} and isinstance(body["error"], dict), body
            error = body["error"]
            assert {"code", "message", "details"} <= set(error), body
            assert isinstance(error["code"], int) and error["code"] < 500, body
            assert isinstance(error["message"], str), body
            assert all(isinstance(d, str) for d in error["details"]), body


def check_answer(case: Any, response: Any) -> None:
    """gistasks' own checks of one answer (schemathesis' built-in ones run beside): JSON
    when ``f`` asks for it (or is invalid: the error comes in JSON), and the envelope."""
    content_type = (response.headers.get("content-type") or [""])[0]
    is_json = content_type.startswith("application/json")
    asked = _asked_format(case)
    if _declares_f(case) and asked is not None and asked != "html":
        assert is_json, f"f={asked!r} answered {content_type}: {response.text[:200]}"
    if asked is None and case.path.endswith("/generateToken"):
        # generateToken answers JSON without f, its errors included.
        assert is_json, response.text[:200]
    if is_json:
        body = response.json()
        _check_envelope(body, _family(case.path))
        # A documented task operation that only the catch-all operation route knows.
        messages = [str(body.get("error", {}).get("message", "")), *body.get("messages", [])] \
            if isinstance(body, dict) else []
        assert not any(m.startswith("Operation '") for m in messages), body


BUILT_IN_CHECKS: list[Callable[..., Any]] = [
    not_a_server_error, status_code_conformance, content_type_conformance,
    response_schema_conformance,
]


@pytest.fixture(scope="module")
def session() -> Iterator[requests.Session]:
    """One connection pool for every case (a TLS handshake per request would triple the
    time)."""
    with requests.Session() as s:
        s.verify = False
        yield s


def _caller_headers(case: Any, tokens: dict[str, str]) -> dict[str, str]:
    """The admin's token in ``X-Esri-Authorization`` mostly; for a quarter of the generated
    cases (chosen by their content, so a case always gets the same), erin's in
    ``Authorization`` (403 on the Administrator API and on others' tasks). The examples
    phase is always the admin's."""
    phase = getattr(getattr(case.meta, "phase", None), "name", None)
    content = repr((case.path_parameters, case.query, case.body)).encode()
    if phase != "examples" and zlib.crc32(content) % 4 == 3:
        return {"Authorization": f"Bearer {tokens['erin']}"}
    return {"X-Esri-Authorization": f"Bearer {tokens['admin']}"}


@settings(max_examples=MAX_EXAMPLES, derandomize=True, deadline=None,
          suppress_health_check=list(HealthCheck))
@cast(Callable[[Callable[..., None]], Callable[..., None]], schema.parametrize())
def test_the_live_server_keeps_the_document(case: Any, server: Server, tokens: dict[str, str],
                                            real_ids: dict[str, str],
                                            session: requests.Session) -> None:
    for name, value in list((case.path_parameters or {}).items()):
        if isinstance(value, str) and value in real_ids:
            case.path_parameters[name] = real_ids[value]
    headers = _caller_headers(case, tokens)
    response = case.call(base_url=server.url.removesuffix("/arcgis"), headers=headers,
                         session=session, timeout=30)
    case.validate_response(response, checks=BUILT_IN_CHECKS, headers=headers)
    check_answer(case, response)


# -- hostile bodies for every operation -------------------------------------------------------


def _operations() -> list[tuple[str, str]]:
    document = build_openapi("arcgis")
    return [(method.upper(), path) for path, item in document["paths"].items()
            for method in item if method in HTTP_METHODS]


DEEP = "[" * 3000 + "]" * 3000
HOSTILE_BODIES: dict[str, Callable[[list[str]], bytes]] = {
    "deep JSON in every field": lambda names: "&".join(
        f"{n}={DEEP}" for n in names).encode() + b"&f=json",
    "not UTF-8": lambda names: b"&".join(f"{n}=".encode() + b"caf\xe9\xff" for n in names)
    + b"&f=json",
    "over the body bound": lambda names: b"f=json&" + b"&".join(
        f"{n}=".encode() + b"x" * 60_000 for n in (names * 10)[:10]),
}


@pytest.mark.parametrize("kind", list(HOSTILE_BODIES))
def test_every_operation_answers_hostile_bodies_in_its_envelope(
        server: Server, tokens: dict[str, str], kind: str) -> None:
    document = build_openapi("arcgis")
    failures = []
    session = httpx.Client(verify=False, timeout=30)
    for method, template in _operations():
        if method != "POST":
            continue
        operation = document["paths"][template]["post"]
        path = re.sub(r"{\w+}", "sample0123", template)
        if "application/json" in operation["requestBody"]["content"]:  # OGC API: JSON bodies
            failures += _json_body_failures(session, server, tokens, path, kind)
            continue
        form = operation["requestBody"]["content"][FORM_TYPES[0]]["schema"]["properties"]
        names = [n for n in form if n not in ("f", "token")] or ["x"]
        r = session.post(f"{server.url.removesuffix('/arcgis')}{path}",
                         content=HOSTILE_BODIES[kind](names),
                         headers={"Content-Type": FORM_TYPES[0],
                                  "X-Esri-Authorization": f"Bearer {tokens['admin']}"})
        if r.status_code >= 500:
            failures.append(f"{template}: HTTP {r.status_code}")
            continue
        if r.headers.get("content-type", "").startswith("application/json"):
            try:
                _check_envelope(r.json(), _family(path))
            except AssertionError as exc:
                failures.append(f"{template}: {exc}")
        elif "oauth2" not in template and "/home/sign" not in template:
            # the OAuth and the browser's sign-in pages are always pages or redirects
            failures.append(f"{template}: answered {r.headers.get('content-type')}")
    session.close()
    assert not failures, failures
    assert "Traceback" not in server.output()


JSON_BODIES: dict[str, bytes] = {
    "deep JSON in every field": b'{"inputs": {"Input_Features": ' + DEEP.encode() + b"}}",
    "not UTF-8": b'{"inputs": {"x": "caf\xe9\xff"}}',
    "over the body bound": b'{"inputs": {"x": "' + b"x" * 9_000_000 + b'"}}',
}


def _json_body_failures(session: httpx.Client, server: Server, tokens: dict[str, str],
                        path: str, kind: str) -> list[str]:
    """A hostile JSON body to an OGC API operation: a problem (RFC 7807) with a 4xx status,
    for a real process and for an unknown one."""
    failures = []
    for target in (path.replace("sample0123", "Utilities.Geometry.Buffer"), path):
        r = session.post(f"{server.url.removesuffix('/arcgis')}{target}",
                         content=JSON_BODIES[kind],
                         headers={"Content-Type": "application/json",
                                  "X-Esri-Authorization": f"Bearer {tokens['admin']}"})
        if not 400 <= r.status_code < 500 or "type" not in r.json():
            failures.append(f"{target}: HTTP {r.status_code} {r.text[:200]}")
    return failures


# -- server bugs found while writing the document, fixed: they stay fixed ---------------------


def test_generate_token_errors_follow_its_json_default(server: Server) -> None:
    answer = httpx.post(f"{server.url}/sharing/rest/generateToken", verify=False,
                        data={"username": "admin", "password": "wrong"})
    assert answer.headers["content-type"].startswith("application/json"), answer.text[:100]


HUGE = str(10**30)
SERVER_ERRORS = {
    "generateToken-expiration-inf": (
        "sharing/rest/generateToken", {"username": "admin", "password": "x", "expiration": "inf"}),
    "generateToken-expiration-1e400": (
        "sharing/rest/generateToken", {"username": "admin", "password": "x",
                                       "expiration": "1e400"}),
    "createTask-misfireGraceSeconds-inf": (
        "sharing/rest/community/users/admin/tasks/createTask", {"misfireGraceSeconds": "inf"}),
    "createTask-startDate-inf": (
        "sharing/rest/community/users/admin/tasks/createTask", {"startDate": "inf"}),
    "createTask-endDate-1e400": (
        "sharing/rest/community/users/admin/tasks/createTask", {"endDate": "1e400"}),
    "createTask-maxOccurrences-1e30": (
        "sharing/rest/community/users/admin/tasks/createTask", {"maxOccurrences": HUGE}),
    "createTask-startDate-1e30": (
        "sharing/rest/community/users/admin/tasks/createTask", {"startDate": HUGE}),
    "createTask-endDate-1e30": (
        "sharing/rest/community/users/admin/tasks/createTask", {"endDate": HUGE}),
    "createTask-misfireGraceSeconds-1e30": (
        "sharing/rest/community/users/admin/tasks/createTask", {"misfireGraceSeconds": HUGE}),
    "admin-createTask-maxOccurrences-1e30": (
        "admin/system/tasks/createTask", {"maxOccurrences": HUGE}),
    "limits-update-numLimit-1e30": (
        "admin/system/limits/update", {"properties": json.dumps(
            [{"limitName": "TaskRunHistoryCount", "numLimit": 10**30}])}),
}
"""Requests that answer HTTP 500 instead of error 400 in the envelope: ``int(float("inf"))``
raises OverflowError (only ValueError is caught), and integers beyond 64 bits overflow the
database column."""


@pytest.mark.parametrize(("path", "form"), SERVER_ERRORS.values(), ids=SERVER_ERRORS.keys())
def test_out_of_range_numbers_are_errors_not_500(server: Server, tokens: dict[str, str],
                                                 path: str, form: dict[str, str]) -> None:
    fields = {"type": "Ping", **EVERY_MINUTE, **form} if path.endswith("createTask") else form
    answer = httpx.post(f"{server.url}/{path}", verify=False, data={"f": "json", **fields},
                        headers={"X-Esri-Authorization": f"Bearer {tokens['admin']}"})
    assert answer.status_code == 200, f"{answer.status_code} {answer.text[:100]}"
    _check_envelope(answer.json(), _family(f"/arcgis/{path}"))


def test_task_reads_are_strict_json(server: Server, tokens: dict[str, str]) -> None:
    base = "/sharing/rest/community/users/admin/tasks"
    created = _post(server, f"{base}/createTask", tokens["admin"], type="Ping",
                    parameters='{"a": NaN, "b": Infinity}', **EVERY_MINUTE)
    if "taskId" not in created:
        return  # refused: the fix
    read = httpx.get(f"{server.url}{base}/{created['taskId']}?f=json", verify=False,
                     headers={"X-Esri-Authorization": f"Bearer {tokens['admin']}"})

    def refuse(constant: str) -> Any:
        raise ValueError(f"{constant} is not JSON")

    json.loads(read.text, parse_constant=refuse)
