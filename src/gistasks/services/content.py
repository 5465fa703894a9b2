"""Portal content: users' folders and items, their files, search, and item status.

Who may do what: an item is its owner's; an org admin may read and change everyone's; anybody
else gets 403 for it (``ForbiddenError``), and a missing item is 404. Every item has a folder
of its own in the data directory (``<data>/content/<id>/``) holding its file; a file is
written beside its final name and renamed into place (readers see the old file or the new
one, never half of either), and an upload streamed by the API arrives as a file in
``staging`` on the same file system, moved in without a copy. An upload may be at most
``ContentPolicy.max_upload_bytes``, whole or all its parts together, and what one user stores
at most ``ContentPolicy.max_user_storage_bytes``.

Deleting an item disables the tasks that run on it, with the reason (ArcGIS deactivates a
notebook task whose item changes owner).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TypedDict, Unpack

from gistasks.config import ContentPolicy
from gistasks.services.auth import ORG_ADMIN
from gistasks.services.errors import (
    ForbiddenError,
    InvalidParameterError,
    MissingParameterError,
    NotFoundError,
    RefusedError,
)
from gistasks.store import Store
from gistasks.store.items import ITEM_SORT_COLUMNS
from gistasks.store.records import (
    ActivityRecord,
    AllOf,
    AnyOf,
    FolderRecord,
    ItemRecord,
    ItemStatus,
    NotOf,
    Query,
    Term,
    UserRecord,
)

ITEM_TYPES = (
    "Notebook", "Administrative Report", "CSV", "Insights Workbook", "Insights Report",
    "Insights Page", "Scene Service", "Workflow", "Geoprocessing Service", "Web Tool",
    "File Geodatabase", "GeoPackage", "Feature Service", "Map Service", "Image Service",
    "Vector Tile Service", "Web Map", "Web Scene", "Web Mapping Application", "Data Pipeline",
    "GeoJson", "Shapefile", "KML", "Microsoft Excel", "Microsoft Word", "PDF", "Image",
    "Code Attachment", "Service Definition", "Document Link", "Python Notebook", "Text",
)
"""The item types this portal takes (compared without regard to case)."""
_TYPES = {t.lower(): t for t in ITEM_TYPES}
EXTENSION_TYPES = {".ipynb": "Notebook", ".csv": "CSV", ".gpkg": "GeoPackage",
                   ".geojson": "GeoJson", ".kml": "KML", ".pdf": "PDF", ".xlsx": "Microsoft Excel",
                   ".docx": "Microsoft Word", ".png": "Image", ".jpg": "Image", ".txt": "Text",
                   ".sd": "Service Definition"}
"""The type of an item added without one, from its file's extension."""
MISSING = "Item does not exist or is inaccessible."
"""The portal's words for a missing item: the official client's ``content.get`` answers None
for an error that says exactly this, and raises for anything else."""
MAX_TITLE = 256
MAX_TAGS = 128
MAX_TAG = 256
MAX_SNIPPET = 2048
MAX_DESCRIPTION = 64 * 1024
MAX_URL = 4096
MAX_NAME = 200
MAX_PARTS = 10_000
MAX_QUERY = 2048
MAX_TERMS = 64
MAX_DEPTH = 16
MAX_PAGE = 100
MAX_FOLDERS = 1000
ACTIVITY_DAYS = 400
"""How long sign-ins and item changes are kept for the activity report."""
CONTENT_DIR = "content"
STAGING_DIR = ".staging"
PARTS_DIR = ".parts"
PENDING_NAME = ".name"
"""In the parts folder: the name the file takes at commit."""
TEXT_FILE = ".item-text"
"""Where a text item's text is kept, in its folder."""


class ItemFields(TypedDict, total=False):
    """What a client sets on an item; absent means the default (add) or keep (update)."""

    type: str
    title: str
    tags: str
    type_keywords: str
    description: str
    snippet: str
    url: str
    text: str
    name: str
    access: str


@dataclass(frozen=True, slots=True)
class Upload:
    """A file the API has streamed to ``ContentService.staging`` (the service moves it)."""

    path: Path
    filename: str
    size: int


def _words(text: str, name: str, limit: int = MAX_TAGS) -> list[str]:
    """A comma-separated list (``tags``, ``typeKeywords``), or a JSON list of strings."""
    text = text.strip()
    values: Any
    if text.startswith("["):
        try:
            values = json.loads(text)
        except ValueError:
            raise InvalidParameterError(name, f"'{name}' is not a JSON list") from None
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise InvalidParameterError(name, f"'{name}' must be a list of texts")
    else:
        values = text.split(",")
    out = list(dict.fromkeys(v.strip() for v in values if v.strip()))
    if len(out) > limit or any(len(v) > MAX_TAG for v in out):
        raise InvalidParameterError(name, f"'{name}' may hold at most {limit} values of at "
                                    f"most {MAX_TAG} characters each")
    return out


def _bounded(value: str, name: str, limit: int) -> str:
    if len(value) > limit:
        raise InvalidParameterError(name, f"'{name}' must have at most {limit} characters")
    return value


def file_name(filename: str) -> str:
    """A safe name for an item's file from the name a client gave: its last path part,
    without control characters, not hidden, at most ``MAX_NAME`` characters."""
    base = re.split(r"[\\/]", filename)[-1]
    base = "".join(c for c in base if c.isprintable()).strip().lstrip(".")
    if not base:
        return "data"
    if len(base) > MAX_NAME:
        stem, dot, ext = base.rpartition(".")
        base = (stem[:MAX_NAME - len(ext) - 1] + dot + ext) if dot and len(ext) < 16 \
            else base[:MAX_NAME]
    return base


def _sync_write(path: Path, data: bytes) -> None:
    """``data`` in ``path``, atomically (a temporary beside it, synced, renamed)."""
    temp = path.with_name(f".tmp-{uuid.uuid4().hex}")
    try:
        with open(temp, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            temp.unlink()


# -- the q syntax of the portal's search --------------------------------------------------------

_TOKEN = re.compile(r'\s*(?:(\()|(\))|([A-Za-z]+):\s*"([^"]*)"|([A-Za-z]+):\s*([^\s()"]+)'
                    r'|"([^"]*)"|([^\s()"]+))')
TRUE_FIELDS = ("orgid", "accountid")
SORT_ALIASES = {"uploaded": "created", "avgrating": "created", "numratings": "created",
                "numcomments": "created", "numviews": "created", "": "created"}
"""ArcGIS sort fields this portal has no column for: every item has 0 of them, so they sort
as the creation time does (the official client sorts by ``avgRating`` by default)."""


def sort_column(field: str) -> str:
    """The column an ArcGIS ``sortField`` sorts by (the first of a comma-separated list);
    InvalidParameterError for a field items do not have."""
    first = field.split(",")[0].strip().lower()
    column = SORT_ALIASES.get(first, first)
    if column not in ITEM_SORT_COLUMNS:
        raise InvalidParameterError("sortField", f"'sortField' must be one of "
                                    f"{', '.join((*ITEM_SORT_COLUMNS, *SORT_ALIASES))[:-2]}")
    return column
"""Fields every item of this one-organisation portal matches."""


class _Parser:
    """``a AND b``, ``a OR b``, ``NOT a``, ``-a``, ``( … )``, ``field:value``,
    ``field:"a phrase"``, free words; terms side by side are ANDed. OR binds looser than
    AND, as in the portal's Lucene syntax."""

    def __init__(self, text: str) -> None:
        self.tokens: list[tuple[str, str, str]] = []
        pos = 0
        while pos < len(text):
            found = _TOKEN.match(text, pos)
            if found is None or found.end() == pos:
                if text[pos:].strip():
                    raise InvalidParameterError("q", f"'q' cannot be read from "
                                                f"{text[pos:pos + 20]!r}")
                break
            pos = found.end()
            opening, closing, f1, v1, f2, v2, phrase, word = found.groups()
            if opening:
                self.tokens.append(("(", "", ""))
            elif closing:
                self.tokens.append((")", "", ""))
            elif f1 is not None:
                self.tokens.append(("term", f1.lower(), v1))
            elif f2 is not None:
                self.tokens.append(("term", f2.lower(), v2.strip("\\")))
            elif phrase is not None:
                self.tokens.append(("term", "", phrase))
            elif word in ("AND", "OR", "NOT", "&&", "||"):
                self.tokens.append(({"&&": "AND", "||": "OR"}.get(word, word), "", ""))
            else:
                self.tokens.append(("term", "", word))
        if sum(t[0] == "term" for t in self.tokens) > MAX_TERMS:
            raise InvalidParameterError("q", f"'q' may hold at most {MAX_TERMS} terms")
        self.at = 0

    def parse(self) -> Query | None:
        if not self.tokens:
            return None
        query = self._any(0)
        if self.at < len(self.tokens):
            raise InvalidParameterError("q", "'q' has an unmatched ')'")
        return query

    def _peek(self) -> str:
        return self.tokens[self.at][0] if self.at < len(self.tokens) else ""

    def _any(self, depth: int) -> Query:
        if depth > MAX_DEPTH:
            raise InvalidParameterError("q", f"'q' may nest at most {MAX_DEPTH} levels")
        parts = [self._all(depth)]
        while self._peek() == "OR":
            self.at += 1
            parts.append(self._all(depth))
        return parts[0] if len(parts) == 1 else AnyOf(tuple(parts))

    def _all(self, depth: int) -> Query:
        parts = [self._one(depth)]
        while self._peek() not in ("", "OR", ")"):
            if self._peek() == "AND":
                self.at += 1
            parts.append(self._one(depth))
        return parts[0] if len(parts) == 1 else AllOf(tuple(parts))

    def _one(self, depth: int) -> Query:
        kind = self._peek()
        if kind == "NOT":
            self.at += 1
            return NotOf(self._one(depth + 1))
        if kind == "(":
            self.at += 1
            inner = self._any(depth + 1)
            if self._peek() != ")":
                raise InvalidParameterError("q", "'q' has an unclosed '('")
            self.at += 1
            return inner
        if kind != "term":
            raise InvalidParameterError("q", f"'q' has {kind or 'nothing'} where a term "
                                        f"belongs")
        _, field, value = self.tokens[self.at]
        self.at += 1
        negate = not field and value.startswith("-") and len(value) > 1
        if negate:
            field, _, rest = value[1:].partition(":")
            field, value = (field.lower(), rest.strip('"')) if rest else ("", value[1:])
        term: Query = AllOf(()) if field in TRUE_FIELDS else Term(field, value)
        return NotOf(term) if negate else term


def parse_query(text: str) -> Query | None:
    """The search ``q`` as a query (None: everything); InvalidParameterError naming ``q``."""
    return _Parser(_bounded(text, "q", MAX_QUERY)).parse()


# -- the service ----------------------------------------------------------------------------------


class ContentService:
    """Folders, items and their files, for the API, the task types and Python callers."""

    def __init__(self, store: Store, data_dir: Path, policy: ContentPolicy,
                 now_ms: Callable[[], int],
                 on_item_deleted: Callable[[ItemRecord], object] | None = None) -> None:
        self.store = store
        self.root = data_dir / CONTENT_DIR
        self.staging = self.root / STAGING_DIR
        self.policy = policy
        self.now_ms = now_ms
        self.on_item_deleted = on_item_deleted
        self.staging.mkdir(parents=True, exist_ok=True, mode=0o700)

    # -- who may -----------------------------------------------------------------------------

    def item(self, caller: UserRecord, item_id: str) -> ItemRecord:
        """The item, if ``caller`` owns it or is an org admin: NotFoundError when there is
        none, ForbiddenError when it is another user's."""
        item = self.store.items.get(item_id) if re.fullmatch(r"[0-9a-f]{32}", item_id) \
            else None
        if item is None:
            raise NotFoundError(MISSING)
        if item.owner != caller.username and caller.role != ORG_ADMIN:
            raise ForbiddenError()
        return item

    def user_item(self, caller: UserRecord, owner: str, item_id: str) -> ItemRecord:
        """The item ``item_id`` in ``owner``'s content, for ``caller`` (``owner`` or an org
        admin): ForbiddenError for another user's item, InvalidParameterError when it is not
        ``owner``'s."""
        item = self.item(caller, item_id)
        if item.owner != owner:
            raise InvalidParameterError("itemId", f"Item '{item_id}' does not belong to "
                                        f"{owner}.")
        return item

    def folder_of(self, owner: str, key: str | None) -> FolderRecord | None:
        """The owner's folder by id or title; None for the root (``None``, "", ``/``)."""
        if key in (None, "", "/", "root"):
            return None
        folder = self.store.items.folder(owner, key)
        if folder is None:
            raise NotFoundError(f"Folder '{key}' does not exist.")
        return folder

    # -- folders -------------------------------------------------------------------------------

    def create_folder(self, owner: str, title: str) -> FolderRecord:
        title = title.strip()
        if not title or len(title) > MAX_TITLE or any(c in title for c in '/\\<>:"|?*'):
            raise InvalidParameterError("title", f"'title' must be 1 to {MAX_TITLE} "
                                        "characters without / \\ < > : \" | ? *")
        if len(self.store.items.folders(owner)) >= MAX_FOLDERS:
            raise RefusedError("create the folder", f"a user may have at most {MAX_FOLDERS} "
                               "folders")
        folder = FolderRecord(uuid.uuid4().hex, owner, title, self.now_ms())
        if not self.store.items.add_folder(folder):
            raise RefusedError("create the folder", f"Folder '{title}' already exists.")
        return folder

    def folders(self, owner: str) -> list[FolderRecord]:
        return self.store.items.folders(owner)

    def delete_folder(self, owner: str, key: str) -> FolderRecord:
        """Delete a folder with the items in it."""
        folder = self.folder_of(owner, key)
        if folder is None:
            raise InvalidParameterError("folder", "The root folder cannot be deleted.")
        for item in self.store.items.delete_folder(folder.id):
            self._gone(item)
        return folder

    # -- adding --------------------------------------------------------------------------------

    def add(self, owner: str, folder: str | None = None, upload: Upload | None = None,
            multipart: bool = False, **fields: Unpack[ItemFields]) -> ItemRecord:
        """Add an item for ``owner`` in ``folder`` (root: None): with a file (``upload``),
        with ``text``, with a ``url``, or nothing yet (``multipart``: its parts follow by
        ``add_part``, then ``commit``)."""
        if multipart and (upload is not None or "text" in fields):
            raise InvalidParameterError("multipart", "With multipart=true the file follows "
                                        "in parts (addPart), not with addItem.")
        where = self.folder_of(owner, folder)
        name = file_name(fields.get("name") or (upload.filename if upload else "")) \
            if (upload or fields.get("name") or multipart) else ""
        item_type = self._type(fields.get("type"), name)
        now = self.now_ms()
        item = ItemRecord(
            id=uuid.uuid4().hex, owner=owner, folder_id=where.id if where else None,
            type=item_type, title="", name="", data_kind="", url="", tags="[]",
            type_keywords="[]", description="", snippet="", access="private", size=0,
            status=ItemStatus.PARTIAL if multipart else ItemStatus.NONE, status_message="",
            created=now, modified=now)
        item = replace(item, **self._columns(fields))
        if not item.title:
            item = replace(item, title=(name.rpartition(".")[0] or name) or item_type)
        folder_dir = self.root / item.id
        folder_dir.mkdir(mode=0o700)
        try:
            if upload is not None and not multipart:
                item = self._take(item, upload, name)
            elif "text" in fields:
                item = self._text(item, fields["text"])
            elif multipart:
                if not name or (name == "data" and not fields.get("name")):
                    raise MissingParameterError("fileName", "An upload in parts names its "
                                                "file with 'fileName' (or 'filename').")
                item = replace(item, name=name, data_kind="file")
                (folder_dir / PARTS_DIR).mkdir(mode=0o700)
                _sync_write(folder_dir / PARTS_DIR / PENDING_NAME, name.encode("utf-8"))
            self.store.items.insert(item)
        except BaseException:
            shutil.rmtree(folder_dir, ignore_errors=True)
            raise
        self._log(owner, "item-add", item.id)
        return item

    def _type(self, given: str | None, name: str) -> str:
        if given:
            found = _TYPES.get(given.strip().lower())
            if found is None:
                raise InvalidParameterError("type", f"'type' must be one of "
                                            f"{', '.join(ITEM_TYPES)}")
            return found
        ext = os.path.splitext(name.lower())[1]
        if ext in EXTENSION_TYPES:
            return EXTENSION_TYPES[ext]
        raise MissingParameterError("type", "The item's 'type' is required (it cannot be told "
                                    "from the file's name).")

    def _columns(self, fields: ItemFields) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if "title" in fields:
            out["title"] = _bounded(fields["title"].strip(), "title", MAX_TITLE)
        if "tags" in fields:
            out["tags"] = json.dumps(_words(fields["tags"], "tags"))
        if "type_keywords" in fields:
            out["type_keywords"] = json.dumps(_words(fields["type_keywords"], "typeKeywords"))
        if "description" in fields:
            out["description"] = _bounded(fields["description"], "description",
                                          MAX_DESCRIPTION)
        if "snippet" in fields:
            out["snippet"] = _bounded(fields["snippet"], "snippet", MAX_SNIPPET)
        if "url" in fields:
            url = _bounded(fields["url"].strip(), "url", MAX_URL)
            if url and not re.match(r"https?://[^\s/]+", url):
                raise InvalidParameterError("url", "'url' must be an http(s) URL")
            out["url"] = url
        if "access" in fields:
            if fields["access"] not in ("private", "shared", "org", "public"):
                raise InvalidParameterError("access", "'access' is private, shared, org or "
                                            "public")
            out["access"] = fields["access"]
        return out

    def _check_size(self, size: int, item: ItemRecord | None = None) -> None:
        """A file of ``size`` bytes fits the upload bound and, becoming ``item``'s data
        (replacing what it holds), its owner's storage quota."""
        limit = self.policy.max_upload_bytes
        if size > limit:
            raise RefusedError("add the file", f"The file is {size} bytes; this portal takes "
                               f"files of at most {limit} bytes (GISTASKS_MAX_UPLOAD_MB).")
        quota = self.policy.max_user_storage_bytes
        if item is None or quota <= 0:
            return
        used = self.store.items.bytes_of(item.owner) - item.size
        if used + size > quota:
            raise RefusedError("add the file", f"{item.owner} stores {used} bytes; with this "
                               f"file of {size} bytes it would be more than the {quota} one "
                               f"user may store (GISTASKS_USER_STORAGE_MB).")

    def _take(self, item: ItemRecord, upload: Upload, name: str) -> ItemRecord:
        """Move a staged upload in as the item's file ``name`` (the caller drops the old
        data once the row says so)."""
        self._check_size(upload.size, item)
        folder_dir = self.root / item.id
        if not folder_dir.is_dir():
            raise NotFoundError(MISSING)
        os.replace(upload.path, folder_dir / name)
        return replace(item, name=name, data_kind="file", size=upload.size)

    def _text(self, item: ItemRecord, text: str) -> ItemRecord:
        data = text.encode("utf-8")
        self._check_size(len(data), item)
        _sync_write(self.root / item.id / TEXT_FILE, data)
        return replace(item, data_kind="text", size=len(data))

    # -- uploading in parts -------------------------------------------------------------------

    def add_part(self, item: ItemRecord, part_num: int, upload: Upload) -> None:
        """Keep part ``part_num`` (1 to 10,000; sent again, it replaces the earlier one) of an
        item added with ``multipart``."""
        if item.status != ItemStatus.PARTIAL:
            raise RefusedError("add the part", "The item is not being uploaded in parts.")
        if not 1 <= part_num <= MAX_PARTS:
            raise InvalidParameterError("partNum", f"'partNum' must be from 1 to {MAX_PARTS}")
        parts = self.root / item.id / PARTS_DIR
        held = sum(p.stat().st_size for p in parts.iterdir() if p.name != str(part_num))
        self._check_size(held + upload.size, item)
        os.replace(upload.path, parts / str(part_num))
        now = self.store.items.update(item.id, modified=self.now_ms())  # still going on
        if now is None or now.status != ItemStatus.PARTIAL:  # committed meanwhile
            with contextlib.suppress(FileNotFoundError):
                (parts / str(part_num)).unlink()
            raise RefusedError("add the part", "The item is not being uploaded in parts.")

    def parts(self, item: ItemRecord) -> list[int]:
        parts = self.root / item.id / PARTS_DIR
        return sorted(int(p.name) for p in parts.iterdir() if p.name.isdigit()) \
            if parts.is_dir() else []

    def commit(self, item: ItemRecord, **fields: Unpack[ItemFields]) -> ItemRecord:
        """Join the parts, 1 to N without a gap, into the item's file. The fields are checked
        first; the item is taken out of ``partial`` atomically, so a second commit or a late
        part is refused instead of racing this one; if joining fails, it is ``partial``
        again with its parts."""
        if item.status != ItemStatus.PARTIAL:
            raise RefusedError("commit the item", "The item is not being uploaded in parts.")
        changes = self._columns(fields)
        folder_dir = self.root / item.id
        numbers = self.parts(item)
        if not numbers:
            raise RefusedError("commit the item", "No part of the file was uploaded.")
        if numbers != list(range(1, len(numbers) + 1)):
            missing = sorted(set(range(1, numbers[-1] + 1)) - set(numbers))[:10]
            raise RefusedError("commit the item", f"Parts {missing} were not uploaded (parts "
                               "are numbered from 1 without a gap).")
        if not self.store.items.set_status_if(item.id, ItemStatus.PARTIAL,
                                              ItemStatus.PROCESSING, self.now_ms()):
            raise RefusedError("commit the item", "The item is not being uploaded in parts.")
        joined = self.staging / uuid.uuid4().hex
        try:
            with open(joined, "wb") as out:
                for n in numbers:
                    with open(folder_dir / PARTS_DIR / str(n), "rb") as part:
                        shutil.copyfileobj(part, out, 1024 * 1024)
                size = out.tell()
                out.flush()
                os.fsync(out.fileno())
            name = self._pending_name(item)
            self._check_size(size, item)
            os.replace(joined, folder_dir / f".{name}.new")
            os.replace(folder_dir / f".{name}.new", folder_dir / name)
        except BaseException:
            self.store.items.update(item.id, status=ItemStatus.PARTIAL)
            raise
        finally:
            with contextlib.suppress(FileNotFoundError):
                joined.unlink()
        changes.update(name=name, size=size, data_kind="file", status=ItemStatus.COMPLETED,
                       modified=self.now_ms())
        found = self.store.items.update(item.id, **changes)
        if found is None:
            raise NotFoundError(MISSING)
        self._drop_old(item, name)
        shutil.rmtree(folder_dir / PARTS_DIR, ignore_errors=True)
        return found

    def _pending_name(self, item: ItemRecord) -> str:
        """The name the file uploaded in parts takes (an update in parts may rename it)."""
        pending = self.root / item.id / PARTS_DIR / PENDING_NAME
        with contextlib.suppress(FileNotFoundError):
            return file_name(pending.read_text(encoding="utf-8"))
        return item.name or "data"

    def _drop_old(self, item: ItemRecord, kept: str) -> None:
        """Remove the data the item had before, unless it is ``kept``."""
        folder_dir = self.root / item.id
        if item.data_kind == "file" and item.name and item.name != kept:
            with contextlib.suppress(FileNotFoundError):
                (folder_dir / item.name).unlink()
        if item.data_kind == "text":
            with contextlib.suppress(FileNotFoundError):
                (folder_dir / TEXT_FILE).unlink()

    # -- reading -------------------------------------------------------------------------------

    def data_path(self, item: ItemRecord) -> Path | None:
        """The item's file (or its text's file); None when it has no data."""
        if item.data_kind == "file" and item.name:
            path = self.root / item.id / item.name
            return path if item.status != ItemStatus.PARTIAL or path.is_file() else None
        if item.data_kind == "text":
            return self.root / item.id / TEXT_FILE
        return None

    def folder_path(self, item: ItemRecord) -> Path:
        return self.root / item.id

    def user_items(self, owner: str, folder: str | None, offset: int,
                   limit: int) -> tuple[FolderRecord | None, int, list[ItemRecord]]:
        """The owner's items in ``folder`` (root: None), newest last."""
        where = self.folder_of(owner, folder)
        total, found = self.store.items.page(owner=owner, folder_id=where.id if where else None,
                                             in_folder=True, offset=offset,
                                             limit=min(limit, MAX_PAGE))
        return where, total, found

    def search(self, caller: UserRecord | None, q: str, offset: int = 0, limit: int = 10,
               sort_field: str = "created", descending: bool = False
               ) -> tuple[int, list[ItemRecord]]:
        """The items matching ``q`` that ``caller`` may see (their own; an org admin
        everyone's; an anonymous caller the public ones); a negative ``offset`` (the official
        client asks again from the last page's ``nextStart``, -1) finds none."""
        column = sort_column(sort_field)
        query = parse_query(q)
        if offset < 0:
            return 0, []
        owner = None
        if caller is None:
            public: Query = Term("access", "public")
            query = public if query is None else AllOf((query, public))
        elif caller.role != ORG_ADMIN:
            owner = caller.username
        return self.store.items.page(query=query, owner=owner, sort_field=column,
                                     descending=descending, offset=offset,
                                     limit=min(limit, MAX_PAGE))

    def by_status(self, caller: UserRecord, status: str | None, item_type: str | None,
                  offset: int, limit: int, sort_field: str = "created",
                  descending: bool = False) -> tuple[int, list[ItemRecord]]:
        """The items ``caller`` may see that have ``status`` (and ``item_type``)."""
        parts: list[Query] = []
        if status:
            parts.append(Term("status", status, exact=True))
        if item_type:
            parts.append(Term("type", item_type, exact=True))
        return self.store.items.page(
            query=AllOf(tuple(parts)), owner=None if caller.role == ORG_ADMIN
            else caller.username, sort_field=sort_column(sort_field), descending=descending,
            offset=offset, limit=min(limit, MAX_PAGE))

    # -- changing ------------------------------------------------------------------------------

    def update(self, item: ItemRecord, upload: Upload | None = None, multipart: bool = False,
               clear_empty: bool = False, **fields: Unpack[ItemFields]) -> ItemRecord:
        """Change an item's fields and, with ``upload`` or ``text``, its data; with
        ``multipart``, its new file follows in parts (``add_part``, ``commit``) and the old
        one stays readable until then. An empty field keeps its value unless
        ``clear_empty`` (the official client sends ``typeKeywords`` and ``description``
        empty on every update)."""
        if not clear_empty:
            fields = {k: v for k, v in fields.items()  # type: ignore[assignment]
                      if k == "text" or (isinstance(v, str) and v.strip())}
        if multipart and (upload is not None or "text" in fields):
            raise InvalidParameterError("multipart", "With multipart=true the file follows "
                                        "in parts (addPart), not with the update.")
        changes = self._columns(fields)
        if fields.get("type"):
            changes["type"] = self._type(fields["type"], item.name)
        if multipart:
            name = file_name(fields.get("name") or item.name)
            if not self.store.items.set_status_if(item.id, item.status, ItemStatus.PARTIAL,
                                                  self.now_ms()):
                raise RefusedError("update the item", "The item changed meanwhile; try "
                                   "again.")
            parts = self.root / item.id / PARTS_DIR
            parts.mkdir(mode=0o700, exist_ok=True)
            _sync_write(parts / PENDING_NAME, name.encode("utf-8"))
        elif upload is not None:
            name = file_name(fields.get("name") or upload.filename or item.name)
            changed = self._take(item, upload, name)
            changes.update(name=changed.name, data_kind="file", size=changed.size)
        elif "text" in fields:
            changed = self._text(item, fields["text"])
            changes.update(name="", data_kind="text", size=changed.size)
        changes["modified"] = self.now_ms()
        found = self.store.items.update(item.id, **changes)
        if found is None:
            raise NotFoundError(MISSING)
        if not multipart and (upload is not None or "text" in fields):
            self._drop_old(item, found.name if found.data_kind == "file" else "")
        self._log(item.owner, "item-update", item.id)
        return found

    def replace_data(self, item: ItemRecord, data: bytes) -> ItemRecord:
        """Write the item's data anew (a notebook after its run), keeping name and type."""
        self._check_size(len(data), item)
        path = self.data_path(item)
        if path is None:
            raise RefusedError("update the item", "The item has no data to replace.")
        _sync_write(path, data)
        found = self.store.items.update(item.id, size=len(data), modified=self.now_ms())
        if found is None:
            raise NotFoundError(MISSING)
        return found

    def replace_file(self, item: ItemRecord, staged: Path) -> ItemRecord:
        """Move a file of the staging directory in as the item's data (a report), keeping
        its name and type."""
        size = staged.stat().st_size
        self._check_size(size, item)
        path = self.data_path(item)
        if path is None:
            raise RefusedError("update the item", "The item has no data to replace.")
        os.replace(staged, path)
        found = self.store.items.update(item.id, size=size, modified=self.now_ms())
        if found is None:
            raise NotFoundError(MISSING)
        return found

    def move(self, item: ItemRecord, folder: str | None) -> ItemRecord:
        where = self.folder_of(item.owner, folder)
        found = self.store.items.update(item.id, folder_id=where.id if where else None,
                                        modified=self.now_ms())
        assert found is not None
        return found

    def set_status(self, item_id: str, status: ItemStatus | str, message: str = "") -> None:
        self.store.items.update(item_id, status=ItemStatus(status), status_message=message,
                                modified=self.now_ms())

    def delete(self, item: ItemRecord) -> None:
        """Delete the item with its file; the tasks that run on it are disabled."""
        if not self.store.items.delete(item.id):
            raise NotFoundError(MISSING)
        self._gone(item)

    def _gone(self, item: ItemRecord) -> None:
        shutil.rmtree(self.root / item.id, ignore_errors=True)
        self._log(item.owner, "item-delete", item.id)
        if self.on_item_deleted is not None:
            self.on_item_deleted(item)

    def _log(self, username: str, action: str, target: str) -> None:
        self.store.items.record(ActivityRecord(self.now_ms(), username, action, target))

    def forget_activity(self) -> int:
        """At start: drop the activity records older than ``ACTIVITY_DAYS`` (the longest
        report period, a quarter, fits in them many times); how many."""
        return self.store.items.forget_activity(self.now_ms() - ACTIVITY_DAYS * 86_400_000)

    def clean_staging(self, older_than_s: float = 24 * 3600) -> int:
        """At start: remove staged uploads a crash left behind, and the parts of uploads in
        parts that nobody committed for ``older_than_s`` (an item added in parts and never
        committed goes with them); how many files and items went."""
        import time

        count = 0
        for path in self.staging.iterdir():
            with contextlib.suppress(OSError):
                if time.time() - path.stat().st_mtime > older_than_s:
                    path.unlink()
                    count += 1
        cutoff = self.now_ms() - int(older_than_s * 1000)
        for item in self.store.items.stale_partial(cutoff):
            if item.size == 0 and self.store.items.delete(item.id):
                self._gone(item)  # never committed: nothing of it was ever readable
            else:  # an update in parts abandoned: the item keeps its old data
                shutil.rmtree(self.root / item.id / PARTS_DIR, ignore_errors=True)
                self.store.items.update(item.id, status=ItemStatus.NONE)
            count += 1
        return count


class TaskItems:
    """The content service as the task types see it (``tasktypes.ItemAccess``): each call
    acts for a task's owner, who must own the item or be an org admin."""

    def __init__(self, content: ContentService) -> None:
        self.content = content

    def _item(self, owner: str, item_id: str) -> ItemRecord:
        user = self.content.store.users.get(owner)
        item = self.content.store.items.get(item_id)
        if item is None or user is None:
            raise LookupError(f"Item '{item_id}' does not exist.")
        if item.owner != user.username and user.role != ORG_ADMIN:
            raise PermissionError(f"{owner} may not use item '{item_id}' (it is "
                                  f"{item.owner}'s).")
        return item

    def info(self, owner: str, item_id: str) -> dict[str, Any]:
        item = self._item(owner, item_id)
        return {"id": item.id, "type": item.type, "title": item.title, "owner": item.owner,
                "name": item.name, "url": item.url, "size": item.size,
                "modified": item.modified}

    def data(self, owner: str, item_id: str, max_bytes: int | None = None) -> bytes:
        item = self._item(owner, item_id)
        path = self.content.data_path(item)
        if path is None or not path.is_file():
            raise LookupError(f"Item '{item_id}' has no data.")
        if max_bytes is not None and path.stat().st_size > max_bytes:
            raise ValueError(f"Item '{item_id}' holds {path.stat().st_size} bytes, more than "
                             f"the {max_bytes} this can read.")
        return path.read_bytes()

    def folder(self, owner: str, item_id: str) -> Path:
        return self.content.folder_path(self._item(owner, item_id))

    def replace_data(self, owner: str, item_id: str, data: bytes,
                     if_modified: int | None = None) -> None:
        item = self._item(owner, item_id)
        if if_modified is not None and item.modified != if_modified:
            raise ValueError("the item was changed while the run went on; its data was kept")
        self.content.replace_data(item, data)
