"""Portal content: folders, items and the activity record. Item files are not here: the
content service keeps them in the data directory; the store holds their rows."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

from sqlalchemy import (
    ColumnElement,
    and_,
    bindparam,
    delete,
    false,
    func,
    insert,
    not_,
    or_,
    select,
    true,
    update,
)

from gistasks.store._db import Database
from gistasks.store.records import (
    ActivityRecord,
    AllOf,
    AnyOf,
    FolderRecord,
    ItemRecord,
    NotebookJobRecord,
    Query,
    Term,
)
from gistasks.store.schema import activity, folders, gp_jobs, items, notebook_jobs, runs, tasks

ITEM_SORT_COLUMNS = ("created", "modified", "title", "type", "owner", "size")
_BY_ID = select(items).where(items.c.id == bindparam("id"))
_TEXT_COLUMNS = ("title", "tags", "snippet", "description", "type", "type_keywords", "name")
_FIELDS = {"owner": "owner", "type": "type", "title": "title", "id": "id", "tags": "tags",
           "typekeywords": "type_keywords", "name": "name", "access": "access",
           "folder": "folder_id", "snippet": "snippet", "description": "description",
           "status": "status"}
"""Search fields and their columns."""
_LIST_COLUMNS = ("tags", "type_keywords")


def _like(column: Any, value: str) -> ColumnElement[bool]:
    return func.lower(column).contains(value.lower(), autoescape=True)


def _term(term: Term) -> ColumnElement[bool]:
    if term.field == "":
        return or_(*(_like(items.c[c], term.value) for c in _TEXT_COLUMNS))
    name = _FIELDS.get(term.field)
    if name is None:
        return false()
    column = items.c[name]
    if name in _LIST_COLUMNS:  # a member of the JSON list, whole
        return _like(column, json.dumps(term.value.lower()))
    if term.exact or name in ("owner", "id", "access", "folder_id", "type", "status"):
        return func.lower(column) == term.value.lower()
    return _like(column, term.value)


def condition(query: Query) -> ColumnElement[bool]:
    """The SQL condition of an item search (no recursion limit needed: the service bounds
    the depth of what it parses)."""
    if isinstance(query, Term):
        return _term(query)
    if isinstance(query, AllOf):
        return and_(true(), *(condition(p) for p in query.parts))
    if isinstance(query, AnyOf):
        return or_(false(), *(condition(p) for p in query.parts))
    return not_(condition(query.part))


class ItemStore:
    """Every statement on ``folders``, ``items`` and ``activity``."""

    def __init__(self, db: Database) -> None:
        self.db = db

    # -- folders ----------------------------------------------------------------------------

    def add_folder(self, folder: FolderRecord) -> bool:
        """Add a folder; False if its owner has one of that title (without regard to case)."""
        with self.db.write() as conn:
            if conn.execute(select(folders.c.id).where(
                    folders.c.owner == folder.owner,
                    func.lower(folders.c.title) == folder.title.lower())).first():
                return False
            conn.execute(insert(folders).values(**asdict(folder)))
        return True

    def folders(self, owner: str) -> list[FolderRecord]:
        with self.db.read() as conn:
            rows = conn.execute(select(folders).where(folders.c.owner == owner)
                                .order_by(folders.c.created, folders.c.id)).all()
        return [FolderRecord(*r) for r in rows]

    def folder(self, owner: str, key: str) -> FolderRecord | None:
        """The owner's folder whose id or title is ``key``."""
        with self.db.read() as conn:
            row = conn.execute(select(folders).where(
                folders.c.owner == owner,
                or_(folders.c.id == key, func.lower(folders.c.title) == key.lower()))
                .order_by(folders.c.id != key)).first()
        return None if row is None else FolderRecord(*row)

    def delete_folder(self, folder_id: str) -> list[ItemRecord]:
        """Delete a folder and its items' rows; the items, as they were."""
        with self.db.write() as conn:
            gone = [ItemRecord.from_row(r) for r in conn.execute(select(items).where(
                items.c.folder_id == folder_id))]
            conn.execute(delete(items).where(items.c.folder_id == folder_id))
            conn.execute(delete(folders).where(folders.c.id == folder_id))
        return gone

    def set_status_if(self, item_id: str, expected: str, status: str, modified: int) -> bool:
        """Change an item's status from ``expected`` to ``status``, atomically; False if it
        was not ``expected`` (another request got there first)."""
        with self.db.write() as conn:
            return bool(conn.execute(update(items).where(
                items.c.id == item_id, items.c.status == expected).values(
                status=status, modified=modified)).rowcount)

    # -- items ------------------------------------------------------------------------------

    def insert(self, item: ItemRecord) -> None:
        with self.db.write() as conn:
            conn.execute(insert(items).values(**asdict(item)))

    def get(self, item_id: str) -> ItemRecord | None:
        row = self.db.one(_BY_ID, {"id": item_id})
        return None if row is None else ItemRecord.from_row(row)

    def update(self, item_id: str, **values: Any) -> ItemRecord | None:
        """Change an item's columns; the new record, None if there is no such item."""
        with self.db.write() as conn:
            if not conn.execute(update(items).where(items.c.id == item_id)
                                .values(**values)).rowcount:
                return None
            row = conn.execute(select(items).where(items.c.id == item_id)).one()
        return ItemRecord.from_row(row)

    def delete(self, item_id: str) -> bool:
        with self.db.write() as conn:
            return bool(conn.execute(delete(items).where(items.c.id == item_id)).rowcount)

    def page(self, *, query: Query | None = None, owner: str | None = None,
             folder_id: str | None = None, in_folder: bool = False,
             sort_field: str = "created", descending: bool = False, offset: int = 0,
             limit: int = 10) -> tuple[int, list[ItemRecord]]:
        """(number of matches, the page from ``offset``): the items matching ``query``, of
        ``owner`` when given, in ``folder_id`` when ``in_folder`` (None: the root)."""
        where: list[ColumnElement[bool]] = []
        if query is not None:
            where.append(condition(query))
        if owner is not None:
            where.append(items.c.owner == owner)
        if in_folder:
            where.append(items.c.folder_id.is_(None) if folder_id is None
                         else items.c.folder_id == folder_id)
        column = items.c[sort_field]
        order = [column.desc() if descending else column.asc(),
                 items.c.id.desc() if descending else items.c.id.asc()]
        with self.db.read() as conn:
            total = int(conn.execute(select(func.count()).select_from(items)
                                     .where(*where)).scalar_one())
            rows = conn.execute(select(items).where(*where).order_by(*order)
                                .offset(offset).limit(limit)).all()
        return total, [ItemRecord.from_row(r) for r in rows]

    def stale_partial(self, before: int, limit: int = 10_000) -> list[ItemRecord]:
        """Items being uploaded in parts that did not change since ``before``."""
        with self.db.read() as conn:
            rows = conn.execute(select(items).where(
                items.c.status == "partial", items.c.modified < before).limit(limit)).all()
        return [ItemRecord.from_row(r) for r in rows]

    def all_items(self, limit: int) -> list[ItemRecord]:
        """Every item (at most ``limit``), oldest first (the content report)."""
        with self.db.read() as conn:
            rows = conn.execute(select(items).order_by(items.c.created, items.c.id)
                                .limit(limit)).all()
        return [ItemRecord.from_row(r) for r in rows]

    def bytes_of(self, owner: str) -> int:
        """The bytes of ``owner``'s items' data."""
        with self.db.read() as conn:
            return int(conn.execute(select(func.coalesce(func.sum(items.c.size), 0)).where(
                items.c.owner == owner)).scalar_one())

    def usage(self) -> dict[str, tuple[int, int]]:
        """(items, bytes) of each owner."""
        with self.db.read() as conn:
            rows = conn.execute(select(items.c.owner, func.count(), func.sum(items.c.size))
                                .group_by(items.c.owner)).all()
        return {r[0]: (int(r[1]), int(r[2] or 0)) for r in rows}

    def tasks_on(self, item_id: str) -> list[str]:
        """The ids of the tasks that run on the item."""
        with self.db.read() as conn:
            return [r.id for r in conn.execute(select(tasks.c.id).where(
                tasks.c.item_id == item_id))]

    # -- activity ---------------------------------------------------------------------------

    def record(self, event: ActivityRecord) -> None:
        with self.db.write() as conn:
            conn.execute(insert(activity).values(**asdict(event)))

    def activity(self, start: int, end: int, limit: int) -> list[ActivityRecord]:
        """What happened from ``start`` (inclusive) to ``end`` (exclusive), oldest first."""
        with self.db.read() as conn:
            rows = conn.execute(
                select(activity.c.at, activity.c.username, activity.c.action,
                       activity.c.target)
                .where(activity.c.at >= start, activity.c.at < end)
                .order_by(activity.c.at, activity.c.id).limit(limit)).all()
        return [ActivityRecord(*r) for r in rows]

    def forget_activity(self, before: int) -> int:
        """Drop what happened before ``before``; how many records went."""
        with self.db.write() as conn:
            return int(conn.execute(delete(activity).where(activity.c.at < before)).rowcount)


REPORT_ROWS = 1_000_000
"""The most rows one report lists."""


class ReportStore:
    """The read-only queries of the administrative reports, each bounded and oldest first."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def runs(self, start: int, end: int, limit: int = REPORT_ROWS) -> list[Any]:
        """The runs scheduled from ``start`` to ``end`` with their task's title, type and
        owner: rows of (id, task_id, title, type, owner, scope, scheduled_for, started,
        ended, status, result)."""

        stmt = (select(runs.c.id, runs.c.task_id, tasks.c.title, tasks.c.type, tasks.c.owner,
                       tasks.c.scope, runs.c.scheduled_for, runs.c.started, runs.c.ended,
                       runs.c.status, runs.c.result)
                .join(tasks, tasks.c.id == runs.c.task_id)
                .where(runs.c.scheduled_for >= start, runs.c.scheduled_for < end)
                .order_by(runs.c.scheduled_for, runs.c.id).limit(limit))
        with self.db.read() as conn:
            return list(conn.execute(stmt).all())

    def jobs(self, start: int, end: int, limit: int = REPORT_ROWS) -> list[Any]:
        """The GP jobs submitted from ``start`` to ``end``: rows of (id, service, tool,
        owner, status, submitted, started, ended, machine)."""

        stmt = (select(gp_jobs.c.id, gp_jobs.c.service, gp_jobs.c.tool, gp_jobs.c.owner,
                       gp_jobs.c.status, gp_jobs.c.submitted, gp_jobs.c.started,
                       gp_jobs.c.ended, gp_jobs.c.machine)
                .where(gp_jobs.c.submitted >= start, gp_jobs.c.submitted < end)
                .order_by(gp_jobs.c.submitted, gp_jobs.c.id).limit(limit))
        with self.db.read() as conn:
            return list(conn.execute(stmt).all())

    def last_sign_ins(self) -> dict[str, int]:
        """Each user's latest sign-in."""
        with self.db.read() as conn:
            rows = conn.execute(select(activity.c.username, func.max(activity.c.at))
                                .where(activity.c.action == "signin")
                                .group_by(activity.c.username)).all()
        return {r[0].lower(): int(r[1]) for r in rows}


class NotebookJobStore:
    """Every statement on ``notebook_jobs``."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def insert(self, job: NotebookJobRecord) -> None:
        with self.db.write() as conn:
            conn.execute(insert(notebook_jobs).values(**asdict(job)))

    def get(self, job_id: str) -> NotebookJobRecord | None:
        with self.db.read() as conn:
            row = conn.execute(select(notebook_jobs).where(notebook_jobs.c.id == job_id)).first()
        return None if row is None else NotebookJobRecord(*row)

    def update(self, job_id: str, **values: Any) -> None:
        with self.db.write() as conn:
            conn.execute(update(notebook_jobs).where(notebook_jobs.c.id == job_id)
                         .values(**values))

    def page(self, owner: str | None, offset: int, limit: int
             ) -> tuple[int, list[NotebookJobRecord]]:
        """(how many, the page of them newest first) of ``owner``'s jobs (everyone's: None)."""
        where: list[ColumnElement[bool]] = [] if owner is None else [
            notebook_jobs.c.owner == owner]
        with self.db.read() as conn:
            total = int(conn.execute(select(func.count()).select_from(notebook_jobs)
                                     .where(*where)).scalar_one())
            rows = conn.execute(select(notebook_jobs).where(*where)
                                .order_by(notebook_jobs.c.created.desc(),
                                          notebook_jobs.c.id.desc())
                                .offset(offset).limit(limit)).all()
        return total, [NotebookJobRecord(*r) for r in rows]

    def unfinished(self, owner: str) -> int:
        """How many of ``owner``'s jobs wait or run."""
        with self.db.read() as conn:
            return int(conn.execute(select(func.count()).select_from(notebook_jobs).where(
                notebook_jobs.c.owner == owner,
                notebook_jobs.c.status.in_(("SUBMITTED", "EXECUTING")))).scalar_one())

    def forget(self, ended_before: int) -> list[str]:
        """Delete the jobs that ended before ``ended_before``; their ids."""
        with self.db.write() as conn:
            ids = [r.id for r in conn.execute(select(notebook_jobs.c.id).where(
                notebook_jobs.c.ended < ended_before))]
            conn.execute(delete(notebook_jobs).where(notebook_jobs.c.ended < ended_before))
        return ids

    def end_unfinished(self, node: str | None, now: int, text: str) -> int:
        """Fail the jobs of ``node`` (every node's: None) that had not ended (the server
        stopped under them); how many."""
        where: list[ColumnElement[bool]] = [
            notebook_jobs.c.status.in_(("SUBMITTED", "EXECUTING"))]
        if node is not None:
            where.append(notebook_jobs.c.node == node)
        with self.db.write() as conn:
            return int(conn.execute(update(notebook_jobs).where(*where).values(
                status="FAILED", result=text, ended=now)).rowcount)
