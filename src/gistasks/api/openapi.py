"""The OpenAPI 3.1 document of the whole server, served at ``/<context>/openapi.json``.

The route handlers read their parameters from the request themselves (``render.params``
merges the query string and the form body), so FastAPI's generated schema knows no parameters.
This module describes every endpoint as it really behaves instead: the ``f`` format switch,
GET and POST for reads, form-encoded (or multipart) POST bodies, the three token transports,
and the two ArcGIS error envelopes, both sent with HTTP 200. ``tests/test_openapi.py`` keeps
the document honest: every route the application has must be described here, every path
described here must exist, and schemathesis checks the live server's answers against it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from gistasks import __version__
from gistasks.api.render import FORMATS
from gistasks.engine import limits
from gistasks.store import RUN_STATUSES, TASK_STATES
from gistasks.tasktypes import registry

Json = dict[str, Any]

EXTENSION = "gistasks extension, not ArcGIS."
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
CRON_FIELDS = ("minute", "hour", "dayOfMonth", "month", "dayOfWeek")
ADMIN_ROOTS = ("admin", "portaladmin")


def _ref(name: str) -> Json:
    """A reference to the component schema ``name``."""
    return {"$ref": f"#/components/schemas/{name}"}


def _obj(properties: Json, required: tuple[str, ...] = (), description: str = "") -> Json:
    """An object schema (extra properties allowed: answers may grow)."""
    schema: Json = {"type": "object", "properties": properties}
    if required:
        schema["required"] = list(required)
    if description:
        schema["description"] = description
    return schema


STR: Json = {"type": "string"}
INT: Json = {"type": "integer"}
BOOL: Json = {"type": "boolean"}
EPOCH_MS: Json = {"type": "integer", "description": "Epoch milliseconds (UTC)."}
EPOCH_MS_OR_NONE: Json = {"type": "integer",
                          "description": "Epoch milliseconds (UTC); -1 when there is none."}


def _ext(schema: Json, text: str = "") -> Json:
    """``schema`` marked as a gistasks extension."""
    return {**schema, "description": f"{text} {EXTENSION}".strip()}


# -- request parameters -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Field:
    """One request parameter: a query parameter on GET, a form field on POST."""

    name: str
    schema: Json
    description: str
    required: bool = False
    example: Any = None


F = Field("f", {"type": "string", "enum": list(FORMATS), "default": "html"},
          "Response format: `json`, `pjson` (indented JSON) or `html` (a property page, the "
          "default). An unknown value is answered with error 400 in JSON.", example="json")
F_JSON = Field("f", {"type": "string", "enum": list(FORMATS), "default": "json"},
               "Response format; unlike elsewhere the token comes as `json` without `f` (an "
               "error without `f`, though, comes as an HTML page).", example="json")
TOKEN_FIELD = Field("token", STR, "The token, as a form field (the query string, the "
                    "`X-Esri-Authorization` and the `Authorization` headers work as well; "
                    "a header wins).")


def _type_names(scope: str) -> list[str]:
    """The type names allowed in ``scope``, with their internal (admin ``type``) aliases."""
    names = registry.names(scope)
    aliases = [t.internal_name for t in map(registry.get, names)
               if t is not None and t.internal_name]
    return names + aliases


def _needed_by(scope: str, flag: str, create: bool) -> str:
    """Which task types of ``scope`` require a field (their ``needs_*`` ``flag``)."""
    types = [name for name in registry.names(scope)
             if getattr(registry.get(name), flag, False)]
    if not types:
        return "No task type on this server requires it."
    when = "" if create else " (kept from the task when left out)"
    return f"Required for the types {', '.join(types)}{when}."


def _task_type_field(required: bool, scope: str) -> Field:
    """``type``, enumerating the task types this server allows in ``scope``."""
    return Field("type", {"type": "string", "enum": _type_names(scope)},
                 "The task type: one of the types this server allows here (its registry, "
                 "entry points included); a type's internal constant (`PING_TASK_TYPE`) "
                 "names it too." + ("" if required else " Defaults to the current type."),
                 required, example="Ping")


def _cron_fields(required: bool, minimum: str) -> tuple[Field, ...]:
    """The five cron fields; ``minimum`` says how often the schedule may fire."""
    examples = {"minute": "*/5", "hour": "*", "dayOfMonth": "*", "month": "*",
                "dayOfWeek": "?"}
    syntax = {"minute": "0-59 and `, - * /`", "hour": "0-23 and `, - * /`",
              "dayOfMonth": "1-31 and `, - * ? / L W`", "month": "1-12 or JAN-DEC and `, - * /`",
              "dayOfWeek": "1-7 (Sunday-Saturday; 0 is read as Sunday) or SUN-SAT and "
                           "`, - * ? / L #`"}
    when = "Required." if required else "Optional; the current value stays when left out."
    return tuple(
        Field(name, STR, f"Quartz cron field: {syntax[name]}. Evaluated in UTC unless "
              f"`timeZone` says otherwise; the schedule may fire {minimum}. {when}",
              required, example=examples[name])
        for name in CRON_FIELDS)


SCHEDULE_EXTRAS = (
    Field("timeZone", {"type": "string", "default": "UTC"},
          f"IANA time zone the cron fields are read in (ArcGIS reads them in UTC). {EXTENSION}",
          example="Europe/Berlin"),
    Field("overlapPolicy", {"type": "string", "enum": ["skip", "allow"], "default": "skip"},
          "What a fire does while the previous run still runs: `skip` records a skipped run, "
          f"`allow` starts another. {EXTENSION}", example="skip"),
    Field("misfireGraceSeconds", {"type": "number"},
          "How late a fire may start after downtime before it is skipped, in seconds. "
          f"{EXTENSION}", example=300),
)


def _task_fields(*, create: bool, scope: str) -> tuple[Field, ...]:
    """The createTask / update parameters of user (``user``) or system (``system``) tasks."""
    minimum = "once a minute at most (ArcGIS's limit)" if scope == "user" \
        else "as often as every second"
    return (
        _task_type_field(create, scope),
        Field("title", STR, "Task title (at most 256 characters kept).", example="heartbeat"),
        Field("parameters", {"type": "string", "contentMediaType": "application/json"},
              "The type's parameters: a JSON object as text. Secrets in it are stored "
              "encrypted and shown masked.", example="{}"),
        Field("itemId", STR, "The portal item the task works on. "
              + _needed_by(scope, "needs_item", create), example="item-a"),
        Field("taskURL", STR, "URL of the service the task calls (GPService tasks). "
              + _needed_by(scope, "needs_task_url", create),
              example="https://host/server/rest/services/Tools/GPServer/Task"),
        Field("taskUrl", STR, "Alias of `taskURL`, as the Python client spells it on update."),
        *_cron_fields(create, minimum),
        Field("startDate", EPOCH_MS, "First moment the task may fire, epoch ms (epoch "
              "seconds are accepted too).", example=1700000000000),
        Field("endDate", EPOCH_MS, "When the task stops, epoch ms; must be in the future and "
              "after `startDate`.", example=4102444800000),
        Field("maxOccurrences", {"type": "integer", "minimum": -1},
              "How many times the task fires; -1 for unlimited (the default).", example=10),
        Field("isActive", BOOL, "Whether the task is active (`true`/`false`; `1`/`0` and the "
              "Python client's `True`/`False` are accepted).", example=True),
        *SCHEDULE_EXTRAS,
    )


LIST_FILTERS = (
    Field("start", {"type": "integer", "minimum": 1, "maximum": 2**31 - 1, "default": 1},
          "1-based index of the first task of the page.", example=1),
    Field("num", {"type": "integer", "minimum": 0, "maximum": 100, "default": 10},
          "Page size (at most 100). The official Python client (user agent `Geosaurus/...`) "
          "gets every match in one page, because its paging loop breaks on a second page.",
          example=10),
    Field("itemId", STR, "Only the tasks of this item."),
    Field("active", BOOL, "Only active (`true`) or inactive (`false`) tasks."),
    Field("types", STR, "Only tasks of these types (comma-separated).", example="Ping"),
    Field("sortField", {"type": "string", "enum": ["created", "updated", "title", "type"],
                        "default": "created"}, "Sort key.", example="created"),
    Field("sortOrder", {"type": "string", "enum": ["asc", "desc"], "default": "asc"},
          "Sort order.", example="asc"),
)

RUN_UPDATE_FIELDS = (
    Field("status", {"type": "string", "enum": list(RUN_STATUSES)}, "The run's new status.",
          required=True, example="succeeded"),
    Field("result", STR, "The run's result text; the current one stays when left out.",
          example="done"),
)


# -- response schemas -------------------------------------------------------------------------


def _schemas() -> Json:
    """The component schemas: both error envelopes and every success answer."""
    cron_schedule = _obj({k: STR for k in CRON_FIELDS}, CRON_FIELDS,
                         "The five cron fields, normalised.")
    task_extras: Json = {
        "cronExpression": _ext(STR, "The 6-field Quartz expression."),
        "timeZone": _ext(STR, "IANA zone of the cron fields."),
        "scheduleDescription": _ext(STR, "The schedule in words."),
        "nextStarts": _ext({"type": "array", "items": INT}, "The next (at most 5) fires, "
                           "epoch ms."),
        "occurrences": _ext(INT, "How many times the task has fired."),
        "overlapPolicy": _ext({"type": "string", "enum": ["skip", "allow"]}),
        "misfireGraceSeconds": _ext({"type": ["integer", "null"]},
                                    "null: the server's default grace."),
    }
    task_properties: Json = {
        "id": STR, "itemId": STR, "type": STR, "title": STR,
        "userId": {"type": "string", "description": "The owner's user name."},
        "cronSchedule": cron_schedule,
        "runIntervalSeconds": {"type": "integer",
                               "description": "Interval the schedule implies; 0 if irregular."},
        "lastStart": EPOCH_MS_OR_NONE, "nextStart": EPOCH_MS_OR_NONE,
        "maxOccurrences": {"type": "integer", "minimum": -1},
        "parameters": {"type": "object", "description": "Secrets masked."}, "taskURL": STR,
        "created": EPOCH_MS, "updated": EPOCH_MS, "startDate": EPOCH_MS,
        "endDate": EPOCH_MS_OR_NONE, "active": BOOL,
        "taskState": {"type": "string", "enum": list(TASK_STATES)},
        **task_extras,
    }
    task_required = ("id", "itemId", "type", "title", "userId", "cronSchedule",
                     "runIntervalSeconds", "lastStart", "nextStart", "maxOccurrences",
                     "parameters", "taskURL", "created", "updated", "startDate", "endDate",
                     "active", "taskState", *task_extras)
    task = _obj(task_properties, task_required, "A user task (Sharing API).")
    run_fields: Json = {
        "runId": STR, "status": {"type": "string", "enum": list(RUN_STATUSES)},
        "result": STR, "url": STR, "created": EPOCH_MS, "modified": EPOCH_MS,
        "taskId": _ext(STR), "started": _ext(EPOCH_MS_OR_NONE, "When the run started."),
        "ended": _ext(EPOCH_MS_OR_NONE, "When the run ended."),
        "scheduledTime": _ext(EPOCH_MS, "The fire time the run belongs to."),
        "node": _ext(STR, "The node that ran it; empty before a node leased it."),
    }
    run_required = tuple(run_fields)
    admin_task = _obj({
        **task_properties,
        "taskId": {"type": "string", "description": "The same as `id`."},
        "taskType": {"type": "string", "description": "The type name (`Ping`, ...)."},
        "type": {"type": "string", "description": "The type's internal constant "
                 "(`PING_TASK_TYPE`, ...), else its name."},
        "taskTitle": {"type": "string", "description": "The same as `title`."},
        "ownerId": {"type": "string", "description": "The creating administrator."},
        "orgId": STR,
        "generation": {"type": "integer", "description": "Revision counter of the task."},
    }, (*task_required, "taskId", "taskType", "taskTitle", "ownerId", "orgId", "generation"),
        "A system task (Administrator API), with the Sharing API's fields the official "
        "client reads too.")
    admin_run = _obj({**run_fields, "task": _ref("AdminTask")}, (*run_required, "task"),
                     "A run of a system task, with its task.")
    page = {"total": INT, "start": INT, "num": INT,
            "nextStart": {"type": "integer", "description": "-1 on the last page."}}
    admin_page = {**page, "start": {"type": "integer", "description": "0-based offset."},
                  "nextStart": {"type": "integer",
                                "description": "0 on the last page, as ArcGIS shows it."}}
    return {
        "SharingError": _obj({"error": _obj({
            "code": {"type": "integer", "description": "HTTP-like code: 400, 403, 404, 405, "
                     "498 (invalid token), 499 (token required)."},
            "message": STR, "details": {"type": "array", "items": STR},
        }, ("code", "message", "details"))}, ("error",),
            "The Sharing API error envelope, sent with HTTP 200.") | {
            "additionalProperties": False},
        "AdminError": _obj({
            "status": {"const": "error"},
            "messages": {"type": "array", "items": STR, "minItems": 1},
            "code": INT,
        }, ("status", "messages", "code"),
            "The Administrator API error envelope, sent with HTTP 200.") | {
            "additionalProperties": False},
        "PortalRoot": _obj({"currentVersion": STR}, ("currentVersion",)),
        "Info": _obj({
            "owningSystemUrl": STR,
            "authInfo": _obj({"isTokenBasedSecurity": BOOL, "tokenServicesUrl": STR,
                              "shortLivedTokenValidity": INT},
                             ("isTokenBasedSecurity", "tokenServicesUrl")),
            "currentVersion": STR, "fullVersion": STR,
            "gistasksVersion": _ext(STR, "The server's version."),
        }, ("owningSystemUrl", "authInfo", "currentVersion")),
        "Token": _obj({"token": STR, "expires": EPOCH_MS, "ssl": BOOL},
                      ("token", "expires", "ssl")),
        "OAuthToken": _obj({
            "access_token": STR, "expires_in": {"type": "integer", "description": "Seconds."},
            "username": STR, "ssl": BOOL, "refresh_token": STR,
            "refresh_token_expires_in": {"type": "integer", "description": "Seconds."},
        }, ("access_token", "expires_in", "username")),
        "User": _obj({
            "username": STR, "id": STR, "fullName": STR, "email": STR,
            "role": {"type": "string", "enum": ["org_admin", "org_publisher", "org_user"]},
            "privileges": {"type": "array", "items": STR}, "orgId": STR, "disabled": BOOL,
            "level": STR, "userType": STR, "created": EPOCH_MS, "modified": EPOCH_MS,
            "access": STR, "provider": STR, "groups": {"type": "array"},
            "tags": {"type": "array", "items": STR}, "culture": STR,
        }, ("username", "fullName", "role", "privileges", "orgId", "created", "modified")),
        "Portal": _obj({
            "id": STR, "name": STR, "portalName": STR, "isPortal": BOOL, "portalMode": STR,
            "portalDeploymentType": STR, "portalHostname": STR, "allSSL": BOOL,
            "supportsOAuth": BOOL, "currentVersion": STR, "helperServices": {"type": "object"},
            "customBaseUrl": STR, "urlKey": STR, "access": STR,
            "user": {**_ref("User"), "description": "The caller, when a token came."},
        }, ("id", "name", "isPortal", "portalMode", "currentVersion")),
        "Task": task,
        "TaskList": _obj({**page, "tasks": {"type": "array", "items": _ref("Task")}},
                         ("total", "start", "num", "nextStart", "tasks")),
        "Run": _obj(run_fields, run_required, "A run of a user task."),
        "RunList": _obj({"runs": {"type": "array", "items": _ref("Run")}}, ("runs",)),
        "TaskDone": _obj({"success": {"const": True}, "taskId": STR,
                          "runId": _ext(STR, "The run `runNow` started.")},
                         ("success", "taskId")),
        "RunDone": _obj({"success": {"const": True}, "taskId": STR, "runId": STR},
                        ("success", "taskId", "runId")),
        "AdminRoot": _obj({"resources": {"type": "array", "items": STR},
                           "currentVersion": STR, "fullVersion": STR},
                          ("resources", "currentVersion", "fullVersion")),
        "AdminSystem": _obj({"resources": {"type": "array", "items": STR}}, ("resources",)),
        "AdminTask": admin_task,
        "AdminTaskList": _obj({"result": {"type": "array", "items": _ref("AdminTask")},
                               **admin_page}, ("result", "total", "num", "start", "nextStart")),
        "AdminRun": admin_run,
        "AdminRunList": _obj({"result": {"type": "array", "items": _ref("AdminRun")},
                              "runs": {"type": "array", "items": _ref("AdminRun"),
                                       "description": "The same list as `result`, as the "
                                       "Sharing API names it."},
                              **admin_page}, ("result", "runs", "total", "num", "start",
                                        "nextStart")),
        "AdminDone": _obj({"status": {"const": "success"}, "success": {"const": True}},
                          ("status", "success")),
        "AdminTaskDone": _obj({"status": {"const": "success"}, "success": {"const": True},
                               "taskId": STR, "runId": _ext(STR, "The run `runNow` started.")},
                              ("status", "success", "taskId")),
        "AdminRunDone": _obj({"status": {"const": "success"}, "success": {"const": True},
                              "taskId": STR, "runId": STR},
                             ("status", "success", "taskId", "runId")),
        "Limits": _obj({limits.CATEGORY: {"type": "array", "items": _obj(
            {"limitName": {"type": "string", "enum": list(limits.DEFAULTS)},
             "numLimit": {"type": "integer", "minimum": -1, "description": "-1: no limit."}},
            ("limitName", "numLimit"))}},
            (limits.CATEGORY,), "The scheduled-task limits (ArcGIS 11.2+ `system/limits`); "
            "a limit never set has its default."),
    }


# -- operations -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One documented path (relative to ``/<context>``) with its methods and answer."""

    path: str
    methods: tuple[str, ...]
    summary: str
    answer: str | None
    fields: tuple[Field, ...] = ()
    description: str = ""
    auth: str = "required"  # required | optional | none
    family: str = "sharing"
    tag: str = "Sharing"
    kind: str = "arcgis"  # arcgis (f switch, envelope) | html | redirect | oauth-json
    extension: bool = False


PATH_PARAMETERS: dict[str, Json] = {
    "username": {"description": "A user name: the caller's own, or anyone's for an org admin.",
                 "example": "admin"},
    "portalId": {"description": "`self` or the organisation id (both mean this portal).",
                 "example": "self"},
    "taskId": {"description": "A task id (32 hex digits).",
               "example": "5837c7bc37ac404e8e3c16d9022b2b59"},
    "runId": {"description": "A run id (32 hex digits).",
              "example": "dae1bfa5d6ec44349790ebb3f27dd4e1"},
}

READ = ("GET", "POST")
POST = ("POST",)
USER_TASKS = "/sharing/rest/community/users/{username}/tasks"
USER_TASK = USER_TASKS + "/{taskId}"


def _sharing_endpoints() -> list[Endpoint]:
    """The Sharing API (with OAuth sign-in) and the user tasks."""
    create_fields = _task_fields(create=True, scope="user")
    update_fields = _task_fields(create=False, scope="user")
    return [
        Endpoint("/sharing/rest", READ, "Portal root", "PortalRoot", auth="none",
                 description="`{\"currentVersion\": ...}`. `/sharing/rest/` answers the same."),
        Endpoint("/sharing/rest/info", READ, "Login discovery", "Info", auth="none",
                 description="Where tokens come from (`authInfo.tokenServicesUrl`)."),
        Endpoint("/sharing/rest/generateToken", POST, "Generate a token", "Token",
                 (Field("username", STR, "User name.", True, "admin"),
                  Field("password", {"type": "string", "format": "password"}, "Password.",
                        True, "secret"),
                  Field("client", {"type": "string", "enum": ["referer", "requestip", "ip"]},
                        "What the token is bound to: a referer, the caller's IP, or `ip`.",
                        example="referer"),
                  Field("referer", STR, "The referer the token is bound to (client=referer).",
                        example="https://app.example.com"),
                  Field("ip", STR, "The IP address the token is bound to (client=ip).",
                        example="127.0.0.1"),
                  Field("expiration", {"type": "integer", "minimum": 1, "default": 60},
                        "Minutes; capped by GISTASKS_TOKEN_MAX_MINUTES (default 20160).",
                        example=60),
                  F_JSON),
                 "POST only: credentials never travel in the URL (GET answers error 405).",
                 auth="none"),
        Endpoint("/sharing/rest/generateToken", ("GET",), "generateToken by GET (refused)",
                 None, (F_JSON,), "Always error 405: send the credentials by POST.",
                 auth="none"),
        Endpoint("/sharing/rest/oauth2/authorize", READ, "OAuth sign-in page", None,
                 (Field("client_id", STR, "The application's client id.", True, "pythonapi"),
                  Field("response_type", {"type": "string", "enum": ["token", "code"],
                                          "default": "token"},
                        "Implicit (`token`) or authorization-code (`code`) flow."),
                  Field("redirect_uri", STR, "https URL, http://localhost or "
                        "urn:ietf:wg:oauth:2.0:oob.", True, "urn:ietf:wg:oauth:2.0:oob"),
                  Field("state", STR, "Opaque client state, handed back."),
                  Field("expiration", INT, "Token minutes (1-20160)."),
                  Field("locale", STR, "Page locale.")),
                 "An HTML page whose script holds `var oAuthInfo = {...}` with the "
                 "`oauth_state`; errors are pages too (`oAuthInfo.messages`).",
                 auth="none", tag="OAuth", kind="html"),
        Endpoint("/sharing/oauth2/signin", POST, "OAuth sign-in (browser form)", None,
                 (Field("oauth_state", STR, "The state from the authorize page.", True),
                  Field("username", STR, "User name.", True),
                  Field("password", {"type": "string", "format": "password"}, "Password.",
                        True),
                  Field("expiration", INT, "Token minutes (1-20160).")),
                 "Redirects (302) to `redirect_uri#access_token=...` (implicit flow) or "
                 "`?code=...` (code flow); with the out-of-band redirect, or on a failed "
                 "sign-in, an HTML page.", auth="none", tag="OAuth", kind="redirect"),
        Endpoint("/sharing/rest/oauth2/token", POST, "OAuth token exchange", "OAuthToken",
                 (Field("grant_type", {"type": "string",
                                       "enum": ["authorization_code", "refresh_token"]},
                        "The grant.", True, "authorization_code"),
                  Field("client_id", STR, "The application's client id.", True, "pythonapi"),
                  Field("code", STR, "The code (authorization_code grant)."),
                  Field("redirect_uri", STR, "Must match the authorize request's."),
                  Field("refresh_token", STR, "The refresh token (refresh_token grant)."),
                  Field("expiration", INT, "Token minutes (1-20160).")),
                 "Always JSON. Errors carry an OAuth `error` name inside the Sharing "
                 "envelope.", auth="none", tag="OAuth", kind="oauth-json"),
        Endpoint("/sharing/rest/portals/self", READ, "The portal", "Portal", auth="optional",
                 description="Anonymous callers get the portal; with a token, its `user` too."),
        Endpoint("/sharing/rest/portals/{portalId}/allScheduledTasks", READ,
                 "Every user's tasks (org admins)", "TaskList",
                 (*LIST_FILTERS, Field("userFilter", STR, "Only this user's tasks.",
                                       example="admin")),
                 "Org admins only (403 otherwise)."),
        Endpoint("/sharing/rest/community/self", READ, "The signed-in user", "User"),
        Endpoint("/sharing/rest/community/users/{username}", READ, "A user", "User",
                 description="The user themselves and org admins only; an unknown user is "
                 "error 400."),
        Endpoint(USER_TASKS, READ, "A user's tasks", "TaskList", LIST_FILTERS, tag="User tasks"),
        Endpoint(USER_TASKS + "/createTask", POST, "Create a task", "TaskDone", create_fields,
                 "The five cron fields are required; the answer is "
                 "`{\"success\": true, \"taskId\": ...}`.", tag="User tasks"),
        Endpoint(USER_TASK, READ, "A task", "Task", tag="User tasks"),
        Endpoint(USER_TASK + "/update", POST, "Change a task", "TaskDone", update_fields,
                 "Every field optional; the current values fill the gaps.", tag="User tasks"),
        *(Endpoint(f"{USER_TASK}/{op}", POST, summary, "TaskDone", tag="User tasks",
                   extension=op == "runNow", description=text)
          for op, summary, text in (
              ("delete", "Delete a task", "Deletes the task and its runs."),
              ("enable", "Enable a task", "`taskState` active, `active` true."),
              ("disable", "Disable a task", "`taskState` paused, `active` false."),
              ("runNow", "Run a task now", "Starts a run at once; the answer has its "
               f"`runId`. {EXTENSION}"))),
        Endpoint(USER_TASK + "/runs", READ, "A task's runs", "RunList", tag="User tasks",
                 description="`{\"runs\": [...]}`, newest first."),
        Endpoint(USER_TASK + "/runs/{runId}", READ, "A run", "Run", tag="User tasks"),
        Endpoint(USER_TASK + "/runs/{runId}/update", POST, "Change a run", "RunDone",
                 RUN_UPDATE_FIELDS, tag="User tasks"),
        Endpoint(USER_TASK + "/runs/{runId}/delete", POST, "Delete a run", "RunDone",
                 tag="User tasks"),
    ]


def _admin_endpoints(root: str) -> list[Endpoint]:
    """The Administrator API under ``/<root>`` (``admin`` and, identical, ``portaladmin``)."""
    tasks = f"/{root}/system/tasks"
    task = tasks + "/{taskId}"
    tag = "Administrator API" if root == "admin" else "Portal Administrator API"

    def admin(path: str, methods: tuple[str, ...], summary: str, answer: str,
              fields: tuple[Field, ...] = (), description: str = "",
              extension: bool = False) -> Endpoint:
        return Endpoint(path, methods, summary, answer, fields,
                        (description + " Org admins only (403 otherwise).").strip(),
                        family="admin", tag=tag, extension=extension)

    run_update = (
        *RUN_UPDATE_FIELDS,
        Field("results", STR, "Alias of `result` (the official client's admin class sends "
              "it)."),
    )
    return [
        admin(f"/{root}", READ, "Administrator API root", "AdminRoot",
              description="Its `resources` and versions. `/" + root + "/` answers the same."),
        admin(f"/{root}/system", READ, "System resources", "AdminSystem"),
        admin(tasks, READ, "System tasks", "AdminTaskList", (
            Field("start", {"type": "integer", "minimum": 0, "maximum": 2**31 - 1,
                            "default": 0}, "0-based offset of the first task.", example=0),
            Field("num", {"type": "integer", "minimum": 0, "maximum": 1000, "default": 1000},
                  "Page size (at most 1000).", example=100)),
              "`{\"result\": [...], \"total\", \"num\", \"start\", \"nextStart\"}`; "
              "`nextStart` is 0 on the last page, as the ArcGIS examples show."),
        admin(tasks + "/createTask", POST, "Create a system task", "AdminTaskDone",
              _task_fields(create=True, scope="system"),
              "The five cron fields are required. Answers "
              "`{\"status\": \"success\", \"success\": true, \"taskId\": ...}`."),
        admin(task, READ, "A system task", "AdminTask"),
        admin(task + "/update", POST, "Change a system task", "AdminTaskDone",
              _task_fields(create=False, scope="system"),
              "Every field optional; the current values fill the gaps, and a masked secret "
              "sent back keeps the stored one."),
        admin(task + "/delete", POST, "Delete a system task", "AdminTaskDone",
              description="Deletes the task and its runs."),
        admin(task + "/enable", POST, "Enable a system task", "AdminTaskDone"),
        admin(task + "/disable", POST, "Disable a system task", "AdminTaskDone"),
        admin(task + "/runNow", POST, "Run a system task now", "AdminTaskDone",
              description=f"Starts a run at once; the answer has its `runId`. {EXTENSION}",
              extension=True),
        admin(task + "/runs", READ, "A system task's runs", "AdminRunList",
              description="Every run, newest first, each with its task."),
        admin(task + "/runs/{runId}", READ, "A run of a system task", "AdminRun"),
        admin(task + "/runs/{runId}/update", POST, "Change a run", "AdminRunDone", run_update),
        admin(task + "/runs/{runId}/delete", POST, "Delete a run", "AdminRunDone"),
        admin(f"/{root}/system/limits", READ, "Scheduled-task limits", "Limits"),
        admin(f"/{root}/system/limits/update", POST, "Set scheduled-task limits", "AdminDone",
              (Field("properties", {"type": "string", "contentMediaType": "application/json"},
                     "A JSON list of `{\"limitName\": ..., \"numLimit\": ...}` (one such "
                     "object alone is accepted too); `numLimit` is an integer, -1 for no "
                     f"limit. The names: {', '.join(limits.DEFAULTS)}. Every change is "
                     "checked before any is stored.", True,
                     '[{"limitName": "ExecuteNotebooksUserLimit", "numLimit": 20}]'),
               Field("category", {"type": "string", "enum": [limits.CATEGORY],
                                  "default": limits.CATEGORY},
                     "The limit category.", example=limits.CATEGORY))),
    ]


def endpoints() -> list[Endpoint]:
    """Every documented endpoint, relative to ``/<context>``."""
    out = _sharing_endpoints()
    for root in ADMIN_ROOTS:
        out += _admin_endpoints(root)
    return out


SECURITY_SCHEMES: Json = {
    "esriAuthorization": {
        "type": "apiKey", "in": "header", "name": "X-Esri-Authorization",
        "description": "`Bearer <token>`, as the ArcGIS clients send it.",
    },
    "bearer": {"type": "http", "scheme": "bearer",
               "description": "`Authorization: Bearer <token>`."},
    "tokenQuery": {
        "type": "apiKey", "in": "query", "name": "token",
        "description": "`token=<token>` in the query string (or, on POST, the form body).",
    },
}
SECURED: list[Json] = [{"esriAuthorization": []}, {"bearer": []}, {"tokenQuery": []}]


def _operation_id(method: str, path: str) -> str:
    """``getArcgisSharingRestInfo``: unique per method and path."""
    words = re.sub(r"[{}]", "", path).strip("/").split("/")
    return method.lower() + "".join(w[:1].upper() + w[1:] for w in words)


def _parameter(item: Field) -> Json:
    """``item`` as a query parameter (GET)."""
    parameter: Json = {"name": item.name, "in": "query", "required": item.required,
                       "description": item.description, "schema": item.schema}
    if item.example is not None:
        parameter["example"] = item.example
    return parameter


def _form(fields: tuple[Field, ...]) -> Json:
    """``fields`` as a form body (POST), url-encoded or multipart."""
    properties: Json = {}
    for item in fields:
        prop = {**item.schema, "description": item.description}
        if item.example is not None:
            prop["examples"] = [item.example]
        properties[item.name] = prop
    schema: Json = {"type": "object", "properties": properties}
    required = [item.name for item in fields if item.required]
    if required:
        schema["required"] = required
    return {"required": bool(required),
            "content": {media: {"schema": schema} for media in FORM_TYPES}}


def _responses(ep: Endpoint) -> Json:
    """The answers of ``ep``: its success schema or its family's error envelope, with HTTP
    200, as JSON (``f=json|pjson``) or an HTML page (``f=html``)."""
    error = "AdminError" if ep.family == "admin" else "SharingError"
    if ep.kind == "html":
        return {"200": {"description": "An HTML page.",
                        "content": {"text/html": {"schema": STR}}}}
    if ep.kind == "redirect":
        return {"200": {"description": "An HTML page (failed sign-in, or the code for the "
                        "out-of-band redirect).", "content": {"text/html": {"schema": STR}}},
                "302": {"description": "To the redirect URI with the token or code.",
                        "headers": {"Location": {"schema": STR}}}}
    answer = {"oneOf": [_ref(ep.answer), _ref(error)]} if ep.answer else _ref(error)
    content: Json = {"application/json": {"schema": answer}}
    if ep.kind == "arcgis":
        content["text/html"] = {"schema": {
            "type": "string", "description": "`f=html`: the same answer as a property page."}}
    what = f"`{ep.answer}`" if ep.answer else "Nothing but"
    return {"200": {"description": f"{what} or the {ep.family} error envelope (errors come "
                    "with HTTP 200).", "content": content}}


def _operations(ep: Endpoint, context: str) -> Json:
    """``{path: {method: operation}}`` for ``ep`` under ``/<context>``."""
    path = f"/{context}{ep.path}"
    out: Json = {}
    fields = ep.fields
    if ep.kind == "arcgis" and not any(item.name == "f" for item in fields):
        fields = (F, *fields)
    names = re.findall(r"{(\w+)}", ep.path)
    path_parameters = [{"name": name, "in": "path", "required": True,
                        "schema": {"type": "string", "minLength": 1},
                        **PATH_PARAMETERS[name]} for name in names]
    for method in ep.methods:
        operation: Json = {
            "operationId": _operation_id(method, path),
            "summary": ep.summary, "tags": [ep.tag],
            "responses": _responses(ep),
        }
        description = ep.description
        if ep.extension:
            description = f"{description} {EXTENSION}".strip() \
                if EXTENSION not in description else description
        if description:
            operation["description"] = description
        if ep.auth == "none":
            operation["security"] = []
        elif ep.auth == "optional":
            operation["security"] = [*SECURED, {}]
        else:
            operation["security"] = SECURED
        parameters = list(path_parameters)
        if method == "GET":
            parameters += [_parameter(item) for item in fields]
        else:
            body = fields if ep.auth == "none" else (*fields, TOKEN_FIELD)
            operation["requestBody"] = _form(body)
        if parameters:
            operation["parameters"] = parameters
        out[method.lower()] = operation
    return {path: out}


DESCRIPTION = """\
A scheduler server speaking the ArcGIS Enterprise REST dialect.

Conventions (as ArcGIS has them):

* Every resource takes `f` = `json` | `pjson` | `html` (the default is `html`, a property page).
* Reads answer GET and POST alike. POST bodies are form-encoded
  (`application/x-www-form-urlencoded`) or `multipart/form-data`; every parameter may also
  travel in the query string (a form value wins over a query value of the same name).
  Structured values (`parameters`, `properties`) are JSON text inside a form field.
* A token travels in `X-Esri-Authorization: Bearer <t>`, `Authorization: Bearer <t>`, or
  `token=<t>` in the query string or the form body. No token where one is needed is error 499;
  an unknown, expired, revoked or wrongly bound one is 498; too few privileges 403.
* Errors come with HTTP 200 and an envelope, because ArcGIS clients read the body. The Sharing
  API's (paths under `sharing/`): `{"error": {"code": 404, "message": "...", "details": []}}`.
  The Administrator API's (paths under `admin/` and `portaladmin/`):
  `{"status": "error", "messages": ["..."], "code": 404}`; its successes carry
  `"status": "success"`. An unknown path is error 404 and a wrong method 405, in the envelope
  of the path's family.
* Times are epoch milliseconds (UTC).

Fields, parameters and operations marked "gistasks extension, not ArcGIS" are this server's
own: `timeZone`, `overlapPolicy`, `misfireGraceSeconds`, `runNow`, and in the task JSON
`cronExpression`, `scheduleDescription`, `nextStarts`, `occurrences`.

Not described here: this document itself (`openapi.json`) and the trailing-slash aliases
`sharing/rest/`, `admin/` and `portaladmin/` of the roots.
"""


def build_openapi(context: str) -> Json:
    """The OpenAPI 3.1 document for a server whose routes live under ``/<context>``."""
    paths: Json = {}
    for ep in endpoints():
        for path, operations in _operations(ep, context).items():
            paths.setdefault(path, {}).update(operations)
    return {
        "openapi": "3.1.0",
        "info": {"title": "gistasks", "version": __version__, "description": DESCRIPTION},
        "servers": [{"url": "/", "description": "This server."}],
        "tags": [{"name": name} for name in ("Sharing", "User tasks", "OAuth",
                                              "Administrator API",
                                              "Portal Administrator API")],
        "paths": paths,
        "components": {"schemas": _schemas(), "securitySchemes": SECURITY_SCHEMES},
    }
