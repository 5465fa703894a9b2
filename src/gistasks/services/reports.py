"""Administrative reports (``community/users/<u>/report`` and the ExecuteReport task type):
CSV files made from gistasks' own records, kept as ``Administrative Report`` items.

A report is an org admin's. It is added at once as an item whose ``items/<id>/status`` is
``processing``; its CSV is written, then the status becomes ``completed`` (or ``failed`` with
the reason). The subtypes and their columns are gistasks' own (ArcGIS documents only part of
its item report's), times in ISO 8601 UTC:

* ``content``: every item now. Item ID, Title, Type, Owner, Folder ID, Size (bytes), Created,
  Modified, Access, Tags.
* ``users``: every user now. Username, Full Name, Email, Role, Disabled, Created, Modified,
  Items, Storage (bytes), Last Sign-in.
* ``activity``: what users did in the period. Time, Username, Action (``signin``,
  ``item-add``, ``item-update``, ``item-delete``), Target (the address signed in from, or the
  item id).
* ``tasks``: the task runs scheduled in the period. Run ID, Task ID, Task Title, Task Type,
  Owner, Scope, Scheduled For, Started, Ended, Status, Result.
* ``jobs``: the GP jobs submitted in the period. Job ID, Service, Tool, Owner, Status,
  Submitted, Started, Ended, Machine.

The period (for activity, tasks and jobs) is ``timeDuration`` long (``daily`` 1 day,
``weekly`` 7, ``monthly`` 1 calendar month, ``quarterly`` 3) from ``startTime``; without a
``startTime`` it is the one that ends now.
"""

from __future__ import annotations

import csv
import json
import threading
import uuid
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from gistasks.services.auth import ORG_ADMIN
from gistasks.services.content import ContentService, Upload
from gistasks.services.errors import ForbiddenError, InvalidParameterError, RefusedError
from gistasks.store import Store
from gistasks.store.records import ItemStatus
from gistasks.tasktypes.report import REPORT_TYPE, ReportRequest, parse_request

COLUMNS = {
    "content": ("Item ID", "Title", "Type", "Owner", "Folder ID", "Size (bytes)", "Created",
                "Modified", "Access", "Tags"),
    "users": ("Username", "Full Name", "Email", "Role", "Disabled", "Created", "Modified",
              "Items", "Storage (bytes)", "Last Sign-in"),
    "activity": ("Time", "Username", "Action", "Target"),
    "tasks": ("Run ID", "Task ID", "Task Title", "Task Type", "Owner", "Scope",
              "Scheduled For", "Started", "Ended", "Status", "Result"),
    "jobs": ("Job ID", "Service", "Tool", "Owner", "Status", "Submitted", "Started", "Ended",
             "Machine"),
}
"""The columns of each subtype, in order (the README lists them)."""
MAX_RESULT_TEXT = 2000
"""A run's result is cut to this many characters in the tasks report."""


def _cell(value: Any) -> Any:
    """A text that a spreadsheet would read as a formula (``=``, ``+``, ``-``, ``@``) is
    quoted so that it stays text."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def _time(ms: int | None) -> str:
    if ms is None or ms < 0:
        return ""
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


class ReportService:
    """Makes reports, as items of their owner."""

    def __init__(self, store: Store, content: ContentService,
                 now_ms: Callable[[], int]) -> None:
        self.store = store
        self.content = content
        self.now_ms = now_ms

    def make(self, username: str, values: Mapping[str, Any], at: int) -> tuple[str, int]:
        """Make a report now, its period ending at ``at`` without a ``startTime`` (a
        scheduled run's fire): (its item id, its rows)."""
        item_id, request = self.start(username, values, background=False, now=at)
        return item_id, self.finish(item_id, request)

    def start(self, username: str, values: Mapping[str, Any], background: bool = True,
              now: int | None = None) -> tuple[str, ReportRequest]:
        """Check the request, add its item (``processing``) and make the CSV, in a thread of
        its own with ``background`` (the API: the client follows the item's status);
        ``(item id, request)``. Only org admins may make reports."""
        user = self.store.users.get(username)
        if user is None or user.role != ORG_ADMIN:
            raise ForbiddenError("Only org admins can make administrative reports.")
        try:
            request = parse_request(values, self.now_ms() if now is None else now)
        except ValueError as exc:
            raise InvalidParameterError(getattr(exc, "param", "parameters"), str(exc)) from None
        staged = self.content.staging / f"report-{uuid.uuid4().hex}"
        staged.write_bytes(b"")
        item = self.content.add(
            user.username, None, Upload(staged, f"{request.subtype}-report.csv", 0),
            type=REPORT_TYPE, title=request.title, snippet=json.dumps(request.as_json()),
            type_keywords="CSV,Report")
        self.content.set_status(item.id, ItemStatus.PROCESSING, "processing")
        if background:
            threading.Thread(target=self.finish, args=(item.id, request), daemon=True,
                             name=f"report-{item.id}").start()
        return item.id, request

    def finish(self, item_id: str, request: ReportRequest) -> int:
        """Write the report's CSV into its item and mark it ``completed``; the number of
        rows. The CSV is written row by row to a staged file, at most the upload bound
        (``GISTASKS_MAX_UPLOAD_MB``); on an error the item is ``failed`` with the reason, and
        the error raised."""
        staged = self.content.staging / f"report-{uuid.uuid4().hex}"
        limit = self.content.policy.max_upload_bytes
        count = 0
        try:
            with open(staged, "w", encoding="utf-8", newline="") as out:
                writer = csv.writer(out, lineterminator="\r\n")
                writer.writerow(COLUMNS[request.subtype])
                for row in self.rows(request):
                    writer.writerow([_cell(v) for v in row])
                    count += 1
                    if count % 1000 == 0 and out.tell() > limit:
                        raise RefusedError("make the report", f"it is larger than {limit} "
                                           "bytes (GISTASKS_MAX_UPLOAD_MB)")
            item = self.store.items.get(item_id)
            if item is None:
                raise RefusedError("make the report", "its item was deleted")
            self.content.replace_file(item, staged)
            self.content.set_status(item_id, ItemStatus.COMPLETED, f"{count} rows")
            return count
        except Exception as exc:
            self.content.set_status(item_id, ItemStatus.FAILED, str(exc)[:1000])
            raise
        finally:
            staged.unlink(missing_ok=True)

    def rows(self, request: ReportRequest) -> Iterable[tuple[Any, ...]]:
        """The rows of a report, in the order of ``COLUMNS[request.subtype]``."""
        from gistasks.store.items import REPORT_ROWS

        if request.subtype == "content":
            for i in self.store.items.all_items(REPORT_ROWS):
                yield (i.id, i.title, i.type, i.owner, i.folder_id or "", i.size,
                       _time(i.created), _time(i.modified), i.access,
                       ";".join(json.loads(i.tags or "[]")))
        elif request.subtype == "users":
            usage = self.store.items.usage()
            signed = self.store.reports.last_sign_ins()
            for u in self.store.users.all():
                count, size = usage.get(u.username, (0, 0))
                yield (u.username, u.full_name, u.email, u.role, u.disabled, _time(u.created),
                       _time(u.modified), count, size,
                       _time(signed.get(u.username.lower())))
        elif request.subtype == "activity":
            for a in self.store.items.activity(request.start, request.end, REPORT_ROWS):
                yield (_time(a.at), a.username, a.action, a.target)
        elif request.subtype == "tasks":
            for r in self.store.reports.runs(request.start, request.end):
                yield (r.id, r.task_id, r.title, r.type, r.owner, r.scope,
                       _time(r.scheduled_for), _time(r.started), _time(r.ended), r.status,
                       (r.result or "")[:MAX_RESULT_TEXT])
        else:
            for j in self.store.reports.jobs(request.start, request.end):
                yield (j.id, j.service, j.tool, j.owner or "", j.status, _time(j.submitted),
                       _time(j.started), _time(j.ended), j.machine or "")
