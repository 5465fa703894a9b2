"""Sharing API content: ``content/users/<u>`` (a user's items and folders, addItem, the
multipart upload, createFolder, item update/delete/move/status), ``content/items/<id>`` and
its data, and ``search``.

An item is its owner's: another user gets 403 for it, an org admin may read and change it.
Uploads (addItem, addPart, update) stream their files to disk; each may be as large as
``GISTASKS_MAX_UPLOAD_MB``.
"""

from __future__ import annotations

import mimetypes
from typing import Any

from fastapi import APIRouter
from starlette.responses import FileResponse, Response

from gistasks.api.deps import Call, CallDep
from gistasks.api.params import Boolean, Integer, Text
from gistasks.api.render import ApiError, render
from gistasks.api.spec import POST, READ, Auth, Endpoint, Kind, route
from gistasks.api.views import FOLDER, ITEM
from gistasks.services.content import (
    MAX_DESCRIPTION,
    MAX_PAGE,
    MAX_QUERY,
    MAX_SNIPPET,
    MAX_TITLE,
    ItemFields,
    Upload,
)
from gistasks.store.records import ItemRecord, ItemStatus

router = APIRouter()
TAG = "Content"
USER = "/sharing/rest/content/users/{username}"
FOLDER_PATH = USER + "/{folder_id}"
ITEM_PATH = USER + "/items/{item_id}"
FOLDER_ITEM = FOLDER_PATH + "/items/{item_id}"

TYPE = Text("type", "The item type (`Notebook`, `CSV`, `Administrative Report`, ...); told "
            "from the file's extension when not given.", max_length=64, example="Notebook")
TITLE = Text("title", "The item's title.", max_length=MAX_TITLE, example="My notebook")
TAGS = Text("tags", "Comma-separated tags (or a JSON list).", max_length=64 * 1024)
TYPE_KEYWORDS = Text("typeKeywords", "Comma-separated type keywords (or a JSON list).",
                     max_length=64 * 1024)
DESCRIPTION = Text("description", "The description (HTML allowed; shown escaped).",
                   max_length=MAX_DESCRIPTION)
SNIPPET = Text("snippet", "A one-line summary.", max_length=MAX_SNIPPET)
URL = Text("url", "The URL of a service or web item.", max_length=4096)
TEXT = Text("text", "The item's data as text (a JSON document for web items).")
FILE = Text("file", "The item's file: a multipart part with a file name.")
FILENAME = Text("filename", "The file's name (multipart uploads, or to rename the file).",
                max_length=1024)
FILE_NAME = Text("fileName", "The same as `filename` (the official client's spelling).",
                 max_length=1024)
MULTIPART = Boolean("multipart", "`true`: the file follows in parts (`addPart`, then "
                    "`commit`).")
ASYNC = Boolean("async", "Accepted for compatibility; the item is added at once.")
OVERWRITE = Boolean("overwrite", "Accepted for compatibility.")
ACCESS = Text("access", "Accepted for compatibility: items are private to their owner.",
              choices=("private", "shared", "org", "public"))
CLEAR_EMPTY = Boolean("clearEmptyFields", "`true`: on update, an empty field clears it (else "
                      "it is kept).")
ITEM_FIELDS = (TYPE, TITLE, TAGS, TYPE_KEYWORDS, DESCRIPTION, SNIPPET, URL, TEXT, FILE,
               FILENAME, FILE_NAME, ACCESS, CLEAR_EMPTY)
PART_NUM = Integer("partNum", "The part's number, 1 to 10,000; the parts are joined in the "
                   "order of their numbers.", minimum=1, maximum=10_000, required=True)
FOLDER_TITLE = Text("title", "The folder's name.", max_length=MAX_TITLE, required=True)
MOVE_FOLDER = Text("folder", "The folder to move to (its id; `/` for the root).",
                   max_length=256, required=True)
START = Integer("start", "1-based index of the first result.", minimum=1, maximum=2**31 - 1,
                default=1)
NUM = Integer("num", f"Page size (at most {MAX_PAGE}).", minimum=0, maximum=MAX_PAGE,
              default=10)
Q = Text("q", "The query: `owner:erin AND type:Notebook`, `title:\"a phrase\"`, words; "
         "AND, OR, NOT, `-term` and parentheses.", max_length=MAX_QUERY,
         example="owner:admin")
SORT_FIELD = Text("sortField", "Sort key: created, modified, title, type, owner, size "
                  "(uploaded, avgRating, numRatings, numComments and numViews sort as "
                  "created).", max_length=64, default="created")
SORT_ORDER = Text("sortOrder", "asc or desc.", choices=("asc", "desc"), default="asc")
JOB_ID = Text("jobId", "Accepted for compatibility.", max_length=256)
JOB_TYPE = Text("jobType", "Accepted for compatibility.", max_length=64)
SEARCH_START = Integer("start", "1-based index of the first result; -1 (the last page's "
                       "`nextStart`, which the official client sends back) gives no results.",
                       minimum=-1, maximum=2**31 - 1, default=1)
PAGE = (START, NUM, SORT_FIELD, SORT_ORDER)


def item_json(item: ItemRecord) -> dict[str, Any]:
    return ITEM(item)


def _fields(c: Call) -> ItemFields:
    """The item fields the request carries, as sent (the service decides what an empty one
    means)."""
    form = c.form
    out: dict[str, Any] = {}
    for param, key in ((TYPE, "type"), (TITLE, "title"), (TAGS, "tags"),
                       (TYPE_KEYWORDS, "type_keywords"), (DESCRIPTION, "description"),
                       (SNIPPET, "snippet"), (URL, "url")):
        text = form.exact(param)
        if text is not None:
            out[key] = text
    access = form.get(ACCESS)
    if access is not None:
        out["access"] = access
    text = form.exact(TEXT)
    if text is not None:
        out["text"] = text
    name = form.get(FILENAME) or form.get(FILE_NAME)
    if name:
        out["name"] = name
    fields: ItemFields = {**out}  # type: ignore[typeddict-item]
    return fields


def _upload(c: Call, name: str = "file") -> Upload | None:
    staged = (c.uploads or {}).get(name)
    if staged is None:
        if c.form.values.get(name):
            raise ApiError(400, f"Invalid '{name}'", [f"'{name}' must be sent as a file (a "
                                                      "multipart part with a file name)."])
        return None
    return Upload(staged.path, staged.filename, staged.size)


def _owner(c: Call, username: str) -> str:
    return c.acting_for(username).username


def _own_item(c: Call, username: str, item_id: str) -> ItemRecord:
    """The item in a user's content path (the caller that user or an org admin)."""
    return c.services.content.user_item(c.caller(), _owner(c, username), item_id)


def _user_content(c: Call, username: str, folder: str | None) -> Response:
    owner = _owner(c, username)
    start, num = c.form.value(START, 1), c.form.value(NUM, 10)
    where, total, items = c.services.content.user_items(owner, folder, start - 1, num)
    folders = [FOLDER(f) for f in c.services.content.folders(owner)] if where is None else []
    next_start = start + len(items) if start - 1 + len(items) < total else -1
    return render({"username": owner, "total": total, "start": start, "num": len(items),
                   "nextStart": next_start,
                   "currentFolder": None if where is None else FOLDER(where),
                   "items": [item_json(i) for i in items], "folders": folders}, c.f,
                  f"{owner}'s content")


# -- items ------------------------------------------------------------------------------------


@route(router, "/sharing/rest/content/items/{item_id}", READ, Endpoint(
    "An item", "Item", description="The item's owner and org admins only (403 otherwise).",
    tag=TAG))
async def get_item(c: CallDep, item_id: str) -> Response:
    item = c.services.content.item(c.caller(), item_id)
    return render(item_json(item), c.f, item.title)


@route(router, "/sharing/rest/content/items/{item_id}/data", READ, Endpoint(
    "An item's data", None, kind=Kind.DATA,
    description="The item's file (as an attachment, with its media type) or its text "
    "(`application/json` when it is JSON).", tag=TAG))
async def item_data(c: CallDep, item_id: str) -> Response:
    content = c.services.content
    item = content.item(c.caller(), item_id)
    path = content.data_path(item)
    if path is None or not path.is_file():
        raise ApiError(400, "The item has no data.", [f"Item '{item_id}' has no data yet."])
    if item.data_kind == "text":
        text = path.read_bytes()
        stripped = text.lstrip()[:1]
        return Response(text, media_type="application/json" if stripped in (b"{", b"[")
                        else "text/plain; charset=utf-8")
    media = mimetypes.guess_type(item.name)[0] or "application/octet-stream"
    if item.name.lower().endswith(".ipynb"):
        media = "application/x-ipynb+json"
    return FileResponse(path, media_type=media, filename=item.name,
                        content_disposition_type="attachment")


@route(router, "/sharing/rest/search", READ, Endpoint(
    "Search items", "ItemSearch", (Q, SEARCH_START, *PAGE[1:]),
    "The caller's own items (an org admin's: everyone's; anonymous: public ones) that match "
    "`q`.", auth=Auth.OPTIONAL, tag=TAG),
    aliases=["/sharing/rest/content/search"])
async def search(c: CallDep) -> Response:
    form = c.form
    start, num = form.value(SEARCH_START, 1), form.value(NUM, 10)
    q = form.text(Q)
    total, found = c.services.content.search(
        c.caller_if_any(), q, start - 1, num, form.value(SORT_FIELD, "created"),
        form.value(SORT_ORDER, "asc") == "desc")
    next_start = start + len(found) if start > 0 and start - 1 + len(found) < total else -1
    # ``num`` is the page size asked for, as the portal answers it: the official client
    # counts results by it.
    return render({"query": q, "total": total, "start": start, "num": num if start > 0 else 0,
                   "nextStart": next_start, "results": [item_json(i) for i in found]},
                  c.f, "Search")


# -- a user's content -------------------------------------------------------------------------


def _add(c: Call, username: str, folder: str | None) -> Response:
    owner = _owner(c, username)
    item = c.services.content.add(owner, folder, _upload(c), c.form.value(MULTIPART, False),
                                  **_fields(c))
    return render({"success": True, "id": item.id, "folder": item.folder_id or ""}, c.f,
                  "Item added")


ADD = Endpoint("Add an item", "ItemAdded", (*ITEM_FIELDS, MULTIPART, ASYNC, OVERWRITE),
               "A file (multipart part `file`), a `url`, a `text`, or `multipart=true` and "
               "then `addPart`/`commit`.", tag=TAG, uploads=True)


@route(router, USER + "/addItem", POST, ADD)
async def add_item(c: CallDep, username: str) -> Response:
    return _add(c, username, None)


@route(router, FOLDER_PATH + "/addItem", POST, ADD)
async def add_item_in_folder(c: CallDep, username: str, folder_id: str) -> Response:
    return _add(c, username, folder_id)


@route(router, USER + "/createFolder", POST, Endpoint(
    "Create a folder", "FolderCreated", (FOLDER_TITLE,), tag=TAG))
async def create_folder(c: CallDep, username: str) -> Response:
    owner = _owner(c, username)
    folder = c.services.content.create_folder(owner, c.form.require(FOLDER_TITLE))
    return render({"success": True, "folder": FOLDER(folder)}, c.f, "Folder created")


def _item_operations(base: str) -> None:
    """The operations on an item in a user's content (``base``: with or without a folder
    in the path, as the client sends them)."""

    @route(router, base + "/addPart", POST, Endpoint(
        "Upload a part of an item's file", "Done", (PART_NUM, FILE), tag=TAG, uploads=True))
    async def add_part(c: CallDep, username: str, item_id: str, folder_id: str = "") -> Response:
        item = _own_item(c, username, item_id)
        upload = _upload(c)
        if upload is None:
            raise ApiError(400, "'file' must be specified", ["addPart carries one part of "
                                                             "the file as 'file'."])
        c.services.content.add_part(item, c.form.require(PART_NUM), upload)
        return render({"success": True}, c.f, "Part added")

    @route(router, base + "/commit", POST, Endpoint(
        "Join an item's uploaded parts", "ItemDone", (*ITEM_FIELDS, JOB_TYPE), tag=TAG))
    async def commit(c: CallDep, username: str, item_id: str, folder_id: str = "") -> Response:
        item = _own_item(c, username, item_id)
        fields = _fields(c)
        fields.pop("text", None)
        fields = {k: v for k, v in fields.items()  # type: ignore[assignment]
                  if not isinstance(v, str) or v.strip()}
        done = await c.off_loop(c.services.content.commit, item, **fields)
        return render({"success": True, "id": done.id, "itemId": done.id}, c.f, "Committed")

    @route(router, base + "/status", READ, Endpoint(
        "An item's status", "ItemStatus", (JOB_ID, JOB_TYPE),
        "`partial` while its parts are uploaded, `processing` while it is made (a report), "
        "then `completed` or `failed`.", tag=TAG))
    async def status(c: CallDep, username: str, item_id: str, folder_id: str = "") -> Response:
        item = _own_item(c, username, item_id)
        state = item.status or ItemStatus.COMPLETED
        return render({"itemId": item.id, "status": str(state),
                       "statusMessage": item.status_message or str(state)}, c.f, "Status")

    @route(router, base + "/parts", READ, Endpoint(
        "The parts of an item's file uploaded so far", "ItemParts", tag=TAG))
    async def parts(c: CallDep, username: str, item_id: str, folder_id: str = "") -> Response:
        item = _own_item(c, username, item_id)
        return render({"parts": c.services.content.parts(item)}, c.f, "Parts")

    @route(router, base + "/update", POST, Endpoint(
        "Change an item", "ItemDone", (*ITEM_FIELDS, ASYNC, MULTIPART), tag=TAG, uploads=True))
    async def update(c: CallDep, username: str, item_id: str, folder_id: str = "") -> Response:
        item = _own_item(c, username, item_id)
        done = c.services.content.update(item, _upload(c), c.form.value(MULTIPART, False),
                                         c.form.value(CLEAR_EMPTY, False), **_fields(c))
        return render({"success": True, "id": done.id, "itemId": done.id}, c.f, "Updated")

    @route(router, base + "/delete", POST, Endpoint(
        "Delete an item", "ItemDone", (Boolean("permanent", "Accepted for compatibility: "
                                                "deleting is always permanent."),),
        "Its file goes with it; the tasks that run on it are disabled.", tag=TAG))
    async def delete(c: CallDep, username: str, item_id: str, folder_id: str = "") -> Response:
        item = _own_item(c, username, item_id)
        c.services.content.delete(item)
        return render({"success": True, "itemId": item.id}, c.f, "Deleted")

    @route(router, base + "/move", POST, Endpoint(
        "Move an item to a folder", "ItemMoved", (MOVE_FOLDER,), tag=TAG))
    async def move(c: CallDep, username: str, item_id: str, folder_id: str = "") -> Response:
        item = _own_item(c, username, item_id)
        target = c.form.require(MOVE_FOLDER)
        moved = c.services.content.move(item, None if target == "/" else target)
        return render({"success": True, "itemId": moved.id, "owner": moved.owner,
                       "folder": moved.folder_id or ""}, c.f, "Moved")

    del add_part, commit, status, parts, update, delete, move


_item_operations(ITEM_PATH)
_item_operations(FOLDER_ITEM)


@route(router, USER, READ, Endpoint("A user's content", "UserContent", PAGE[:2],
                                    "The items of the root folder and the folders.", tag=TAG))
async def user_content(c: CallDep, username: str) -> Response:
    return _user_content(c, username, None)


@route(router, FOLDER_PATH, READ, Endpoint("A folder's items", "UserContent", PAGE[:2],
                                           tag=TAG))
async def folder_content(c: CallDep, username: str, folder_id: str) -> Response:
    return _user_content(c, username, folder_id)


@route(router, FOLDER_PATH + "/delete", POST, Endpoint(
    "Delete a folder", "FolderDeleted", description="With the items in it.", tag=TAG))
async def delete_folder(c: CallDep, username: str, folder_id: str) -> Response:
    owner = _owner(c, username)
    gone = c.services.content.delete_folder(owner, folder_id)
    return render({"success": True, "folder": FOLDER(gone)}, c.f, "Folder deleted")


# -- reports ----------------------------------------------------------------------------------

REPORT_TYPE = Text("reportType", "`org`.", choices=("org",), default="org")
REPORT_SUBTYPE = Text("reportSubType", "content, users, activity, tasks or jobs (the last "
                      "two are gistasks' own).", max_length=32, required=True,
                      example="content")
TIME_DURATION = Text("timeDuration", "daily, weekly, monthly or quarterly: the period of an "
                     "activity, tasks or jobs report.", max_length=32, example="weekly")
START_TIME = Text("startTime", "The period's start, epoch ms; without it, the period that "
                  "ends now.", max_length=32)
REPORT_TITLE = Text("title", "The report item's title.", max_length=MAX_TITLE)
TIME_AGGREGATE = Text("timeAggregate", "Accepted for compatibility.", max_length=16)


@route(router, "/sharing/rest/community/users/{username}/report", POST, Endpoint(
    "Make an administrative report", "ReportStarted",
    (REPORT_TYPE, REPORT_SUBTYPE, TIME_DURATION, START_TIME, REPORT_TITLE, TIME_AGGREGATE),
    "Org admins only. Adds an `Administrative Report` item at once (`processing`) and writes "
    "its CSV; follow `content/users/<u>/items/<id>/status` or `portals/self/itemsStatus`.",
    tag=TAG))
async def make_report(c: CallDep, username: str) -> Response:
    owner = _owner(c, username)
    values = {p.name: c.form.exact(p) for p in (REPORT_TYPE, REPORT_SUBTYPE, TIME_DURATION,
                                                 START_TIME, REPORT_TITLE)}
    item_id, _ = c.services.reports.start(owner, values)
    return render({"success": True, "itemId": item_id}, c.f, "Report started")


STATUS = Text("status", "partial, processing, completed or failed.",
              choices=("partial", "processing", "completed", "failed"))
ITEMS_TYPE = Text("type", "Only items of this type.", max_length=64)


@route(router, "/sharing/rest/portals/{portal_id}/itemsStatus", READ, Endpoint(
    "The caller's items by status", "ItemsStatus", (ITEMS_TYPE, STATUS, *PAGE),
    "The caller's items (an org admin's: everyone's) that have the status, newest first by "
    "default, as the official client follows a report.", tag=TAG),
    aliases=["/sharing/rest/portals/{portal_id}/itemsstatus"])
async def items_status(c: CallDep, portal_id: str) -> Response:
    form = c.form
    start, num = form.value(START, 1), form.value(NUM, 10)
    total, found = c.services.content.by_status(
        c.caller(), form.get(STATUS), form.get(ITEMS_TYPE), start - 1, num,
        form.value(SORT_FIELD, "created"), form.value(SORT_ORDER, "asc") == "desc")
    next_start = start + len(found) if start - 1 + len(found) < total else -1
    return render({"total": total, "start": start, "num": len(found), "nextStart": next_start,
                   "results": [{"itemId": i.id, "status": str(i.status or "completed"),
                                "type": i.type, "title": i.title} for i in found]},
                  c.f, "Items status")
