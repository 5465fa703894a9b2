"""The rules of a task's fields: what a client may set on a task, each field checked.

:class:`TaskFields` is what a caller (the API, or Python) hands the task service;
:func:`schedule` and :func:`columns` turn it into a cron expression and checked columns, and
every bad value is an error naming the ArcGIS parameter.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any, TypedDict

from gistasks import jsonsafe
from gistasks.cron import CronExpression, CronSyntaxError
from gistasks.engine.planner import task_schedule
from gistasks.security.secretbox import SecretBox, SecretError, mask
from gistasks.services.errors import InvalidParameterError, MissingParameterError, RefusedError
from gistasks.store.records import OverlapPolicy, Scope, TaskRecord
from gistasks.tasktypes import TaskType

CRON_FIELDS = ("minute", "hour", "dayOfMonth", "month", "dayOfWeek")
"""The cron fields of createTask, in order (ArcGIS names)."""
MIN_INTERVAL_S = 60
"""A user task fires at most once a minute (ArcGIS's limit); a system task may fire more."""
MAX_TITLE = 256
MAX_INT32 = 2**31 - 1
MAX_EPOCH_MS = 253_402_300_799_999
"""9999-12-31T23:59:59.999Z: the last moment a date may name."""
MAX_GRACE_S = 2_000_000
"""About 23 days: the column holds the grace in milliseconds in 32 bits."""
MAX_PARAMETERS_BYTES = 1024 * 1024
"""The JSON of a task's parameters (secrets sealed) may take 1 MiB."""
MAX_TEXT = 4096
"""An item id, a service URL, a time zone: far less than this."""


class TaskFields(TypedDict, total=False):
    """What a client sets on a task. On create, absent means the default; on update, keep.

    The schedule is either ``cron`` (the ArcGIS fields ``minute`` … ``dayOfWeek``, optionally
    ``second`` and ``year``; on update any subset, the rest kept) or ``cron_expression`` (a
    whole Quartz expression)."""

    type: str
    title: str
    item_id: str
    task_url: str
    parameters: str | Mapping[str, Any]
    cron: Mapping[str, str]
    cron_expression: str
    time_zone: str
    dst_gap: str
    dst_overlap: str
    start_date: int
    end_date: int
    max_occurrences: int
    overlap_policy: str
    misfire_grace_s: float
    active: bool


def schedule(fields: TaskFields, current: TaskRecord | None, scope: Scope) -> CronExpression:
    """The task's cron expression from ``cron_expression`` or the cron fields (the current
    task filling gaps on update), in its time zone; a user task may fire at most once a
    minute."""
    zone = fields.get("time_zone") or (current.time_zone if current else "UTC")
    gap = fields.get("dst_gap") or (current.dst_gap if current else "shift")
    overlap = fields.get("dst_overlap") or (current.dst_overlap if current else "earlier")
    try:
        if "cron_expression" in fields:
            expr = CronExpression(fields["cron_expression"], timezone=zone, dst_gap=gap,
                                  dst_overlap=overlap)
        else:
            expr = _from_fields(fields.get("cron", {}), current, zone, gap, overlap)
    except CronSyntaxError as exc:
        raise InvalidParameterError(exc.field or "cronExpression", str(exc)) from None
    interval = expr.interval_seconds()
    if scope == Scope.USER and 0 < interval < MIN_INTERVAL_S:
        raise InvalidParameterError(
            "schedule", f"A task may fire at most once a minute; this one fires every "
            f"{interval} s.", message="Invalid schedule")
    return expr


def _from_fields(given: Mapping[str, str], current: TaskRecord | None, zone: str, gap: str,
                 overlap: str) -> CronExpression:
    fields: dict[str, str] = dict(task_schedule(current).fields) if current else {}
    for name in (*CRON_FIELDS, "second", "year"):
        if given.get(name, "") != "":
            fields[name] = given[name]
        elif current is None and name in CRON_FIELDS:
            raise MissingParameterError(name, f"The cron field '{name}' is required.")
    return CronExpression.from_fields(
        second=fields.get("second", "0"), minute=fields["minute"], hour=fields["hour"],
        dayOfMonth=fields["dayOfMonth"], month=fields["month"], dayOfWeek=fields["dayOfWeek"],
        year=fields.get("year"), timezone=zone, dst_gap=gap, dst_overlap=overlap)


def columns(fields: TaskFields, task_type: TaskType, current: TaskRecord | None, now: int,
            task_id: str, secrets: SecretBox) -> dict[str, Any]:
    """The columns ``fields`` set, each checked (the schedule aside)."""
    out: dict[str, Any] = {}
    if "title" in fields:
        if len(fields["title"]) > MAX_TITLE:
            raise InvalidParameterError("title", f"'title' must have at most {MAX_TITLE} "
                                        f"characters, not {len(fields['title'])}")
        out["title"] = fields["title"]
    for key, name, value in (("item_id", "itemId", fields.get("item_id")),
                             ("task_url", "taskURL", fields.get("task_url"))):
        if value:
            if len(value) > MAX_TEXT:
                raise InvalidParameterError(name, f"'{name}' must have at most {MAX_TEXT} "
                                            f"characters")
            out[key] = value
    if task_type.needs_item and not (out.get("item_id") or (current and current.item_id)):
        raise MissingParameterError(
            "itemId", f"A {task_type.name} task runs on an item: give its itemId.")
    if task_type.needs_task_url and not (out.get("task_url") or (current and current.task_url)):
        raise MissingParameterError(
            "taskURL", f"A {task_type.name} task calls a service: give its taskURL.")
    given = fields.get("parameters")
    if isinstance(given, str) and not given.strip():
        given = None  # a blank form field: none given
    if given is not None or current is None:
        out["parameters"] = parameters({} if given is None else given, task_type, current,
                                       task_id, secrets)
    if "max_occurrences" in fields:
        count = fields["max_occurrences"]
        if count == 0 or not -1 <= count <= MAX_INT32:
            raise InvalidParameterError(
                "maxOccurrences", f"'maxOccurrences' must be -1 (unlimited) or from 1 to "
                f"{MAX_INT32}; to keep a task from firing, disable it")
        out["max_occurrences"] = count
    out.update(_dates(fields, current, now))
    if "overlap_policy" in fields:
        try:
            out["overlap_policy"] = OverlapPolicy(fields["overlap_policy"])
        except ValueError:
            raise InvalidParameterError("overlapPolicy",
                                        "'overlapPolicy' is skip or allow") from None
    if "misfire_grace_s" in fields:
        seconds = fields["misfire_grace_s"]
        if not (math.isfinite(seconds) and 0 <= seconds <= MAX_GRACE_S):
            raise InvalidParameterError(
                "misfireGraceSeconds", f"'misfireGraceSeconds' must be a number of seconds "
                f"from 0 to {MAX_GRACE_S}")
        out["misfire_grace_ms"] = int(seconds * 1000)
    return out


def _dates(fields: TaskFields, current: TaskRecord | None, now: int) -> dict[str, int]:
    out: dict[str, int] = {}
    for key, name in (("start_date", "startDate"), ("end_date", "endDate")):
        if key in fields:
            value = fields[key]  # type: ignore[literal-required]
            if not 0 <= value <= MAX_EPOCH_MS:
                raise InvalidParameterError(name, f"'{name}' must be a time in epoch "
                                            f"milliseconds")
            out[key] = value
    if "end_date" in out:
        end = out["end_date"]
        if end <= now:
            raise InvalidParameterError("endDate", "'endDate' is in the past")
        start = out.get("start_date", current.start_date if current else None)
        if start is not None and end <= start:
            raise InvalidParameterError("endDate", "'endDate' is before 'startDate'")
    return out


def parameters(given: str | Mapping[str, Any], task_type: TaskType,
               current: TaskRecord | None, task_id: str, secrets: SecretBox) -> str:
    """The stored JSON of a task's parameters: a JSON object (strict, at most
    ``MAX_PARAMETERS_BYTES``, nested at most ``jsonsafe.MAX_DEPTH`` levels), checked by its
    type, with every secret sealed and bound to the task (a mask keeps the secret stored at
    the same place)."""
    try:
        value = (jsonsafe.loads(given, MAX_PARAMETERS_BYTES) if isinstance(given, str)
                 else given)
        if not isinstance(value, Mapping):
            raise jsonsafe.JsonError("it is not an object")
    except ValueError as exc:
        raise InvalidParameterError("parameters", f"'parameters' must be a JSON object: "
                                    f"{exc}.") from None
    try:
        checked = task_type.validate(dict(value))
        jsonsafe.check(checked)
    except ValueError as exc:
        raise InvalidParameterError("parameters", f"The parameters of a {task_type.name} "
                                    f"task: {exc}") from None
    previous = stored_value(current.parameters) if current is not None else None
    try:
        text = jsonsafe.dumps(secrets.seal(checked, previous, task_id))
    except SecretError as exc:
        raise RefusedError("create the task" if current is None else "update the task",
                           str(exc)) from None
    if len(text) > MAX_PARAMETERS_BYTES:
        raise InvalidParameterError("parameters", f"'parameters' must take at most "
                                    f"{MAX_PARAMETERS_BYTES} bytes, secrets sealed")
    return text


UNREADABLE = {"_unreadable": f"The stored parameters cannot be shown (they are not a JSON "
                             f"object nested at most {jsonsafe.MAX_DEPTH} levels); update the "
                             f"task to replace them."}


def stored_value(text: str) -> Any:
    """The parameters stored for a task, or None if they cannot be read (written before the
    bounds existed: too deep, not JSON)."""
    try:
        value = json.loads(text or "{}")
        jsonsafe.check(value)
    except (ValueError, RecursionError):
        return None
    return value


def shown(text: str) -> Any:
    """A task's parameters as every answer shows them: secrets masked; a placeholder for
    parameters that cannot be read, so that the task (and every list holding it) still
    answers."""
    value = stored_value(text)
    return UNREADABLE if value is None else mask(value)
