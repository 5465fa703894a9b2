"""The OpenAPI 3.1 document of the whole server, served at ``/<context>/openapi.json``.

Built from the application's routes: each handler carries its declaration (``spec.Endpoint``:
summary, parameters, answer, who may call it), each parameter its schema, each answer shape
its fields, so the document cannot miss a route or describe one that is not there. It
describes every endpoint as it really behaves: the ``f`` format switch, GET and POST for
reads, form-encoded (or multipart) POST bodies, the three token transports, and the two ArcGIS
error envelopes, both sent with HTTP 200. ``tests/api/test_openapi.py`` checks it against the
routes both ways and against a live server with schemathesis.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import FastAPI

from gistasks import __version__
from gistasks.api.params import EXTENSION, TOKEN, F, Json, Param
from gistasks.api.render import Family
from gistasks.api.spec import Auth, Endpoint, Kind, declared_routes
from gistasks.api.views import BOOL, EPOCH_MS, INT, SHAPES, STR, ext, obj, ref
from gistasks.services.limits import CATEGORY, DEFAULTS
from gistasks.services.oauth import APP_TYPES
from gistasks.tasktypes import Registry

FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
ADMIN_ROOTS = {"admin": "Administrator API", "portaladmin": "Portal Administrator API"}
TAGS = ("Sharing", "User tasks", "OAuth", "Geoprocessing", "OGC API - Processes",
        *ADMIN_ROOTS.values(), "Geoprocessing administration", "Disaster recovery",
        "Browser")

PATH_PARAMETERS: dict[str, Json] = {
    "name": {"description": "The name of a page asset: `gistasks.css` or `gistasks.js`.",
             "example": "gistasks.css"},
    "username": {"description": "A user name: the caller's own, or anyone's for an org admin.",
                 "example": "admin"},
    "portal_id": {"description": "`self` or the organisation id (both mean this portal).",
                  "example": "self"},
    "task_id": {"description": "A task id (32 hex digits).",
                "example": "5837c7bc37ac404e8e3c16d9022b2b59"},
    "run_id": {"description": "A run id (32 hex digits).",
               "example": "dae1bfa5d6ec44349790ebb3f27dd4e1"},
    "client_id": {"description": "A registered app's client id.", "example": "pythonapi"},
    "folder": {"description": "A folder of GP services.", "example": "Utilities"},
    "folder_id": {"description": "A user's folder: its id (32 hex digits) or its title.",
                  "example": "0123456789abcdef0123456789abcdef"},
    "notebook_job_id": {"description": "A notebook job id (32 hex digits).",
                        "example": "0123456789abcdef0123456789abcdef"},
    "item_id": {"description": "An item id (32 hex digits).",
                "example": "0123456789abcdef0123456789abcdef"},
    "service": {"description": "A GP service of the folder.", "example": "Geometry"},
    "service_type": {"description": "`<service>.GPServer`.", "example": "Geometry.GPServer"},
    "task": {"description": "A task (tool) of the GP service.", "example": "Buffer"},
    "job_id": {"description": "A job id (`j` and 32 hex digits).",
               "example": "j0123456789abcdef0123456789abcdef"},
    "param": {"description": "A parameter of the job's task.", "example": "Output_Features"},
    "service_dir": {"description": "`<service>_gpserver`.", "example": "geometry_gpserver"},
    "file_path": {"description": "A file's path in the job's folder.",
                  "example": "features.gpkg"},
    "process_id": {"description": "`<Folder>.<Service>.<Task>`.",
                   "example": "Utilities.Geometry.Buffer"},
    "store_name": {"description": "A backup store's name.", "example": "default"},
    "backup_name": {"description": "A backup's name.", "example": "nightly-2026-12-01-02-00-00"},
    "admin_job_id": {"description": "An asynchronous operation's id (`j` and a UUID).",
                     "example": "j47c0c626-7188-4053-be06-ae93de987b01"},
}


def _schemas() -> Json:
    """The component schemas: both error envelopes and every success answer."""
    page = {"total": INT, "start": INT, "num": INT,
            "nextStart": {"type": "integer", "description": "-1 on the last page."}}
    admin_page = {**page, "start": {"type": "integer", "description": "0-based offset."},
                  "nextStart": {"type": "integer",
                                "description": "0 on the last page, as ArcGIS shows it."}}
    return {
        **{shape.name: shape.schema() for shape in SHAPES},
        "SharingError": obj({"error": obj({
            "code": {"type": "integer", "description": "HTTP-like code: 400, 403, 404, 405, "
                     "498 (invalid token), 499 (token required)."},
            "message": STR, "details": {"type": "array", "items": STR},
        }, ("code", "message", "details"))}, ("error",),
            "The Sharing API error envelope, sent with HTTP 200.") | {
            "additionalProperties": False},
        "AdminError": obj({
            "status": {"const": "error"},
            "messages": {"type": "array", "items": STR, "minItems": 1},
            "code": INT,
        }, ("status", "messages", "code"),
            "The Administrator API error envelope, sent with HTTP 200.") | {
            "additionalProperties": False},
        "PortalRoot": obj({"currentVersion": STR}, ("currentVersion",)),
        "Info": obj({
            "owningSystemUrl": STR,
            "authInfo": obj({"isTokenBasedSecurity": BOOL, "tokenServicesUrl": STR,
                              "shortLivedTokenValidity": INT},
                             ("isTokenBasedSecurity", "tokenServicesUrl")),
            "currentVersion": STR, "fullVersion": STR,
            "gistasksVersion": ext(STR, "The server's version."),
        }, ("owningSystemUrl", "authInfo", "currentVersion")),
        "Token": obj({"token": STR, "expires": EPOCH_MS, "ssl": BOOL},
                      ("token", "expires", "ssl")),
        "OAuthToken": obj({
            "access_token": STR, "expires_in": {"type": "integer", "description": "Seconds."},
            "username": STR, "ssl": BOOL, "refresh_token": STR,
            "refresh_token_expires_in": {"type": "integer", "description": "Seconds."},
        }, ("access_token", "expires_in", "username")),
        "Portal": obj({
            "id": STR, "name": STR, "portalName": STR, "isPortal": BOOL, "portalMode": STR,
            "portalDeploymentType": STR, "portalHostname": STR, "allSSL": BOOL,
            "supportsOAuth": BOOL, "currentVersion": STR, "helperServices": {"type": "object"},
            "customBaseUrl": STR, "urlKey": STR, "access": STR,
            "user": {**ref("User"), "description": "The caller, when a token came."},
        }, ("id", "name", "isPortal", "portalMode", "currentVersion")),
        "TaskList": obj({**page, "tasks": {"type": "array", "items": ref("Task")}},
                         ("total", "start", "num", "nextStart", "tasks")),
        "RunList": obj({"runs": {"type": "array", "items": ref("Run")}}, ("runs",)),
        "TaskDone": obj({"success": {"const": True}, "taskId": STR,
                          "runId": ext(STR, "The run `runNow` started.")},
                         ("success", "taskId")),
        "RunDone": obj({"success": {"const": True}, "taskId": STR, "runId": STR},
                        ("success", "taskId", "runId")),
        "AdminRoot": obj({"resources": {"type": "array", "items": STR},
                           "currentVersion": STR, "fullVersion": STR},
                          ("resources", "currentVersion", "fullVersion")),
        "AdminSystem": obj({"resources": {"type": "array", "items": STR}}, ("resources",)),
        "AdminTaskList": obj({"result": {"type": "array", "items": ref("AdminTask")},
                               **admin_page}, ("result", "total", "num", "start", "nextStart")),
        "AdminRunList": obj({"result": {"type": "array", "items": ref("AdminRun")},
                              "runs": {"type": "array", "items": ref("AdminRun"),
                                       "description": "The same list as `result`, as the "
                                       "Sharing API names it."},
                              **admin_page}, ("result", "runs", "total", "num", "start",
                                        "nextStart")),
        "AdminDone": obj({"status": {"const": "success"}, "success": {"const": True}},
                          ("status", "success")),
        "AdminTaskDone": obj({"status": {"const": "success"}, "success": {"const": True},
                               "taskId": STR, "runId": ext(STR, "The run `runNow` started.")},
                              ("status", "success", "taskId")),
        "AdminRunDone": obj({"status": {"const": "success"}, "success": {"const": True},
                              "taskId": STR, "runId": STR},
                             ("status", "success", "taskId", "runId")),
        "OAuthApp": obj({
            "client_id": STR, "appType": {"type": "string", "enum": list(APP_TYPES)},
            "redirect_uris": {"type": "array", "items": STR}, "itemId": STR,
            "registered": EPOCH_MS, "modified": EPOCH_MS, "title": ext(STR),
            "portalRedirects": ext(BOOL, "The app may be redirected to the portal itself.")},
            ("client_id", "appType", "redirect_uris", "registered", "modified"),
            "A registered app (ArcGIS's Registered App)."),
        "AppDone": obj({"success": {"const": True}, "client_id": STR}, ("success", "client_id")),
        **_gp_schemas(),
        **_content_schemas(page),
        "Limits": obj({CATEGORY: {"type": "array", "items": obj(
            {"limitName": {"type": "string", "enum": list(DEFAULTS)},
             "numLimit": {"type": "integer", "minimum": -1, "description": "-1: no limit."}},
            ("limitName", "numLimit"))}},
            (CATEGORY,), "The scheduled-task limits (ArcGIS 11.2+ `system/limits`); "
            "a limit never set has its default."),
    }


def _content_schemas(page: Json) -> Json:
    """The answers of the content operations."""
    done = {"success": {"const": True}}
    items = {"type": "array", "items": ref("Item")}
    return {
        "ItemSearch": obj({"query": STR, **page, "results": items},
                          ("query", "total", "start", "num", "nextStart", "results")),
        "UserContent": obj({"username": STR, **page,
                            "currentFolder": {"oneOf": [ref("Folder"), {"type": "null"}]},
                            "items": items, "folders": {"type": "array",
                                                        "items": ref("Folder")}},
                           ("username", "total", "items", "folders", "currentFolder")),
        "ItemAdded": obj({**done, "id": STR, "folder": STR}, ("success", "id")),
        "ItemDone": obj({**done, "itemId": STR, "id": STR}, ("success", "itemId")),
        "ItemMoved": obj({**done, "itemId": STR, "owner": STR, "folder": STR},
                         ("success", "itemId", "folder")),
        "ItemStatus": obj({"itemId": STR, "status": {"type": "string", "enum": [
            "partial", "processing", "completed", "failed"]}, "statusMessage": STR},
            ("itemId", "status")),
        "ItemParts": obj({"parts": {"type": "array", "items": INT}}, ("parts",)),
        "FolderCreated": obj({**done, "folder": ref("Folder")}, ("success", "folder")),
        "FolderDeleted": obj({**done, "folder": ref("Folder")}, ("success", "folder")),
        "Done": obj(done, ("success",)),
        "Servers": obj({"servers": {"type": "array", "items": obj(
            {"id": STR, "name": STR, "url": STR, "adminUrl": STR, "serverType": STR,
             "serverRole": STR, "serverFunction": STR}, ("id", "url", "serverFunction"))}},
            ("servers",)),
        "NotebookJobStarted": obj({"status": {"const": "success"}, "itemId": STR,
                                   "jobId": STR, "jobUrl": STR},
                                  ("status", "itemId", "jobId", "jobUrl")),
        "NotebookJob": obj({"jobId": STR, "id": STR, "type": {"const": "executeNotebook"},
                            "status": {"type": "string", "enum": [
                                "SUBMITTED", "EXECUTING", "COMPLETED", "FAILED"]},
                            "inputs": {"type": "object"}, "username": STR,
                            "created": EPOCH_MS, "startTime": INT, "endTime": INT,
                            "messages": {"type": "array", "items": STR},
                            "results": {"type": "object"}},
                           ("jobId", "id", "type", "status", "inputs", "username")),
        "NotebookJobList": obj({"asyncJobs": {"type": "array", "items": ref("NotebookJob")},
                                "total": INT}, ("asyncJobs", "total")),
        "NotebooksRoot": obj({"resources": {"type": "array", "items": STR},
                              "operations": {"type": "array", "items": STR}},
                             ("resources", "operations")),
        "DrRoot": obj({"resources": {"type": "array", "items": STR}}, ("resources",)),
        "BackupStore": obj({"name": STR, "default": BOOL, "type": STR, "rootDir": STR,
                            "created": EPOCH_MS}, ("name", "default", "rootDir")),
        "BackupStoreList": obj({"backupStores": {"type": "array", "items": ref("BackupStore")}},
                               ("backupStores",)),
        "BackupStoreRegistered": obj({"status": {"const": "success"}, "success": {"const": True},
                                      "name": STR, "jobsUrl": STR, "jobid": STR},
                                     ("status", "name")),
        "StoreValidation": obj({"status": STR, "storeName": STR, "rootDir": STR,
                                "writable": BOOL, "freeSpace": INT}, ("status", "writable")),
        "Backup": obj({"name": STR, "backupName": STR, "release": STR, "description": STR,
                       "backupStore": STR, "backupType": {"const": "FULL"},
                       "scheduleType": {"type": "string", "enum": ["MANUAL", "SCHEDULED"]},
                       "startTime": EPOCH_MS, "completeTime": EPOCH_MS,
                       "retentionDate": {"type": "integer", "description": "-1: kept for ever."},
                       "size": INT, "createdBy": STR},
                      ("name", "backupName", "backupStore", "scheduleType", "startTime",
                       "completeTime", "retentionDate", "size")),
        "Dashboard": obj({
            "now": INT, "horizon": INT, "everyone": BOOL,
            "fires": {"type": "array", "items": obj({"at": INT, "task": {"type": "object"}})},
            "runs": {"type": "array", "items": {"type": "object"}},
            "troubled": {"type": "array", "items": {"type": "object"}},
            "jobs": {"type": "object", "additionalProperties": INT},
            "nodes": {"type": "array", "items": {"type": "object"}}},
            ("now", "fires", "runs", "troubled", "jobs", "nodes"),
            ext({}, "The dashboard's figures.")["description"]),
        "SchedulePreview": obj({
            "cronExpression": STR, "timeZone": STR, "description": STR,
            "runIntervalSeconds": INT,
            "nextStarts": {"type": "array", "items": INT, "description": "Epoch ms."},
            "nextStartsText": {"type": "array", "items": STR, "description": "The same, "
                               "as UTC text."}},
            ("cronExpression", "description", "nextStarts"),
            ext({}, "What createTask would make of cron fields.")["description"]),
        "BackupList": obj({"backups": {"type": "array", "items": ref("Backup")}}, ("backups",)),
        "BackupValidation": obj({"status": STR, "backupName": STR, "verified": BOOL,
                                 "size": INT}, ("status", "backupName", "verified")),
        "AdminJobSubmitted": obj({"jobsUrl": STR, "jobid": STR, "status": {"const": "SUBMITTED"}},
                                 ("jobsUrl", "jobid", "status")),
        "AdminJob": obj({"jobid": STR, "operation": STR, "operationURI": STR,
                         "status": {"type": "string", "enum": [
                             "SUBMITTED", "EXECUTING", "COMPLETED", "FAILED"]},
                         "username": STR, "starttime": EPOCH_MS, "endtime": INT,
                         "updatedtime": EPOCH_MS, "result": {"type": "object"}},
                        ("jobid", "status", "operationURI", "starttime", "endtime")),
        "AdminJobList": obj({"jobs": {"type": "array", "items": STR}}, ("jobs",)),
        "DrStatus": obj({"status": {"type": "object"}}, ("status",)),
        "DrSettings": obj({"timeoutInMinutes": INT}, ("timeoutInMinutes",)),
        "ReportStarted": obj({**done, "itemId": STR}, ("success", "itemId")),
        "ItemsStatus": obj({**page, "results": {"type": "array", "items": obj(
            {"itemId": STR, "status": STR, "type": STR, "title": STR}, ("itemId", "status"))}},
            ("total", "results")),
    }


def _gp_schemas() -> Json:
    """The answers of the GP services, their administration and OGC API - Processes."""
    any_value: Json = {"description": "A value of the parameter's data type."}
    message = obj({"type": STR, "description": STR}, ("type", "description"))
    job_admin = obj({"jobId": STR, "submittedTime": EPOCH_MS,
                     "endTime": {"type": "integer", "description": "-1 until it ends."},
                     "status": STR, "username": {"type": ["string", "null"]},
                     "machinename": {"type": ["string", "null"]}, "url": STR},
                    ("jobId", "submittedTime", "endTime", "status", "username", "machinename",
                     "url"), "A job, in the seed page's shape.")
    param_url = {"type": "object", "additionalProperties": obj({"paramUrl": STR},
                                                                ("paramUrl",))}
    return {
        "RestInfo": obj({"currentVersion": {"type": "number"}, "fullVersion": STR,
                         "owningSystemUrl": STR, "authInfo": {"type": "object"}},
                        ("currentVersion", "authInfo")),
        "ServicesDirectory": obj({"currentVersion": {"type": "number"},
                                  "folders": {"type": "array", "items": STR},
                                  "services": {"type": "array", "items": obj(
                                      {"name": STR, "type": STR}, ("name", "type"))}},
                                 ("folders", "services")),
        "GPService": obj({"currentVersion": {"type": "number"}, "serviceDescription": STR,
                          "tasks": {"type": "array", "items": STR}, "executionType": STR,
                          "resultMapServerName": STR, "maximumRecords": INT},
                         ("tasks", "executionType", "resultMapServerName")),
        "GPTask": obj({"name": STR, "displayName": STR, "description": STR,
                       "executionType": STR, "parameters": {"type": "array", "items": obj({
                           "name": STR, "dataType": STR, "displayName": STR,
                           "direction": STR, "defaultValue": any_value,
                           "parameterType": STR, "description": STR,
                           "choiceList": {"type": "array"}},
                           ("name", "dataType", "displayName", "direction", "defaultValue",
                            "parameterType"))}}, ("name", "parameters")),
        "GPJobSubmitted": obj({"jobId": STR, "jobStatus": STR}, ("jobId", "jobStatus")),
        "GPJob": obj({"jobId": STR, "jobStatus": STR,
                      "messages": {"type": "array", "items": message},
                      "results": param_url, "inputs": param_url,
                      "progress": obj({"type": STR, "message": STR,
                                       "percent": {"type": ["number", "null"]}})},
                     ("jobId", "jobStatus")),
        "GPValue": obj({"paramName": STR, "dataType": STR, "value": any_value},
                       ("paramName", "dataType", "value")),
        "GPExecuted": obj({"results": {"type": "array", "items": ref("GPValue")},
                           "messages": {"type": "array", "items": message}},
                          ("results", "messages")),
        "AdminServices": obj({"folders": {"type": "array", "items": STR},
                              "services": {"type": "array"}}, ("services",)),
        "AdminService": obj({"serviceName": STR, "type": STR, "properties": {
            "type": "object"}}, ("serviceName", "type")),
        "AdminJobsRoot": obj({"resources": {"type": "array", "items": STR},
                              "operations": {"type": "array", "items": STR}},
                             ("resources", "operations")),
        "AdminJob": job_admin,
        "AdminJobQuery": obj({"total": INT, "num": INT, "start": INT,
                              "nextStart": {"type": "integer",
                                            "description": "-1 on the last page."},
                              "query": {"type": "object"},
                              "results": {"type": "object", "additionalProperties": job_admin,
                                          "description": "The jobs, keyed by job id."}},
                             ("total", "num", "start", "nextStart", "results")),
        "AdminJobStatistics": obj({"total": INT, "succeeded": INT, "failed": INT,
                                   "cancelled": INT}, ("total",)),
    }


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
    words = re.split(r"[/_]", re.sub(r"[{}]", "", path).strip("/"))
    return method.lower() + "".join(w[:1].upper() + w[1:] for w in words)


def _parameter(item: Param[Any], types: Registry) -> Json:
    """``item`` as a query parameter (GET)."""
    schema = item.schema(types)
    parameter: Json = {"name": item.name, "in": "query", "required": item.required,
                       "description": schema.pop("description"), "schema": schema}
    if item.example is not None:
        parameter["example"] = item.example
    return parameter


def _form(fields: tuple[Param[Any], ...], types: Registry, open_params: str = "") -> Json:
    """``fields`` as a form body (POST), url-encoded or multipart; ``open_params`` says what
    the other fields of an open form are."""
    properties: Json = {}
    for item in fields:
        prop = item.schema(types)
        if item.example is not None:
            prop["examples"] = [item.example]
        properties[item.name] = prop
    schema: Json = {"type": "object", "properties": properties}
    if open_params:
        schema["additionalProperties"] = {"type": "string", "description": open_params}
    required = [item.name for item in fields if item.required]
    if required:
        schema["required"] = required
    return {"required": bool(required),
            "content": {media: {"schema": schema} for media in FORM_TYPES}}


def _responses(ep: Endpoint, family: Family) -> Json:
    """The answers of ``ep``: its success schema or its family's error envelope, with HTTP
    200, as JSON (``f=json|pjson``) or an HTML page (``f=html``)."""
    error = "AdminError" if family == Family.ADMIN else "SharingError"
    if ep.kind == Kind.HTML:
        return {"200": {"description": "An HTML page.",
                        "content": {"text/html": {"schema": STR}}}}
    if ep.kind == Kind.FILE:
        return {"200": {"description": "The file (an attachment), or the Sharing error "
                        "envelope.", "content": {"application/octet-stream": {"schema": {
                            "type": "string", "format": "binary"}},
                            "application/json": {"schema": ref(error)},
                            "text/html": {"schema": {"type": "string", "description":
                                                     "`f=html`: the error as a page."}}}}}
    if ep.kind == Kind.DATA:
        return {"200": {"description": "The item's data in its own media type (a file as an "
                        "attachment, a JSON text as JSON), or the Sharing error envelope.",
                        "content": {"*/*": {"schema": {}}}}}
    if ep.kind == Kind.OGC:
        problem = {"application/problem+json": {"schema": obj(
            {"type": STR, "title": STR, "status": INT, "detail": STR}, ("type",))}}
        return {"200": {"description": "The OGC API answer.",
                        "content": {"application/json": {"schema": {"type": ["object",
                                                                              "array"]}}}},
                "201": {"description": "An asynchronous job was created (`Location`).",
                        "content": {"application/json": {"schema": {"type": "object"}}}},
                "4XX": {"description": "A problem (RFC 7807).", "content": problem},
                "5XX": {"description": "A failed process.", "content": problem}}
    if ep.kind == Kind.REDIRECT:
        return {"200": {"description": "An HTML page (failed sign-in, or the code for the "
                        "out-of-band redirect).", "content": {"text/html": {"schema": STR}}},
                "302": {"description": "To the redirect URI with the token or code.",
                        "headers": {"Location": {"schema": STR}}},
                "303": {"description": "The browser's sign-in and sign-out: to the page "
                        "asked for.", "headers": {"Location": {"schema": STR}}}}
    answer = {"oneOf": [ref(ep.answer), ref(error)]} if ep.answer else ref(error)
    content: Json = {"application/json": {"schema": answer}}
    if ep.kind == Kind.ARCGIS:
        content["text/html"] = {"schema": {
            "type": "string", "description": "`f=html`: the same answer as a property page."}}
    what = f"`{ep.answer}`" if ep.answer else "Nothing but"
    return {"200": {"description": f"{what} or the {family} error envelope (errors come "
                    "with HTTP 200).", "content": content}}


def _family_and_tag(path: str, context: str, ep: Endpoint) -> tuple[Family, str]:
    for root, tag in ADMIN_ROOTS.items():
        prefix = f"/{context}/{root}"
        if path == prefix or path.startswith(prefix + "/"):
            return Family.ADMIN, ep.tag or tag
    if ep.kind == Kind.OGC:
        return Family.OGC, ep.tag
    return Family.SHARING, ep.tag or "Sharing"


def _operation(ep: Endpoint, method: str, path: str, context: str, types: Registry) -> Json:
    """The operation of ``method path``, from its declaration."""
    family, tag = _family_and_tag(path, context, ep)
    fields = ep.params
    if ep.kind in (Kind.ARCGIS, Kind.FILE) and not any(item.name == "f" for item in fields):
        fields = (F, *fields)
    operation: Json = {"operationId": _operation_id(method, path), "summary": ep.summary,
                       "tags": [tag], "responses": _responses(ep, family)}
    description = ep.description
    if ep.extension and EXTENSION not in description:
        description = f"{description} {EXTENSION}".strip()
    if description:
        operation["description"] = description
    operation["security"] = {Auth.NONE: [], Auth.OPTIONAL: [*SECURED, {}]}.get(ep.auth, SECURED)
    parameters = [{"name": name, "in": "path", "required": True,
                   "schema": {"type": "string", "minLength": 1}, **PATH_PARAMETERS[name]}
                  for name in re.findall(r"{(\w+)}", path)]
    if ep.kind == Kind.OGC:
        parameters += [_parameter(item, types) for item in ep.params]
        if method == "POST":
            operation["requestBody"] = {"required": True, "content": {"application/json": {
                "schema": obj({"inputs": {"type": "object"}, "outputs": {"type": "object"},
                               "response": {"type": "string", "enum": ["raw", "document"]}}
                              )}}}
    elif method == "GET":
        parameters += [_parameter(item, types) for item in fields]
    else:
        body = fields if ep.auth == Auth.NONE else (*fields, TOKEN)
        operation["requestBody"] = _form(body, types, ep.open_params)
    if parameters:
        operation["parameters"] = parameters
    return operation


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


def build_openapi(app: FastAPI, context: str, types: Registry) -> Json:
    """The OpenAPI 3.1 document of ``app``, whose routes live under ``/<context>``, on a
    server whose task types are ``types``. Routes without a declaration (the document itself)
    and aliases hidden from the schema are left out."""
    paths: Json = {}
    for full_path, methods, ep in declared_routes(app.routes):
        path = re.sub(r"{(\w+):\w+}", r"{\1}", full_path)  # {file_path:path}: a template
        for method in sorted(methods - {"HEAD"}):
            paths.setdefault(path, {})[method.lower()] = _operation(ep, method, path, context,
                                                                    types)
    return {
        "openapi": "3.1.0",
        "info": {"title": "gistasks", "version": __version__, "description": DESCRIPTION},
        "servers": [{"url": "/", "description": "This server."}],
        "tags": [{"name": name} for name in TAGS],
        "paths": paths,
        "components": {"schemas": _schemas(), "securitySchemes": SECURITY_SCHEMES},
    }
