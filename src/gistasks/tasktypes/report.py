"""``ExecuteReport``: a scheduled administrative report (ArcGIS Enterprise 11.0+).

Each fire makes a CSV report from gistasks' own records and keeps it as an
``Administrative Report`` item owned by the task's owner (an org admin); the run links it.
Parameters (ArcGIS's): ``reportType`` (``org``), ``reportSubType`` (``content``, ``users``,
``activity``, and gistasks' own ``tasks`` and ``jobs``), ``timeDuration`` (``daily``,
``weekly``, ``monthly``, ``quarterly``; required for the subtypes that cover a period),
``startTime`` (epoch ms; without it, the period that ends at the fire), ``title``. The
report itself is made by the deployment (``services/reports.py`` says what each holds).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from gistasks.store.records import RunStatus, Scope
from gistasks.tasktypes.base import Outcome, RunContext, TaskType


class ReportParameterError(ValueError):
    """A report parameter that cannot be used; ``param`` names it."""

    def __init__(self, param: str, message: str) -> None:
        super().__init__(message)
        self.param = param


SUBTYPES = ("content", "users", "activity", "tasks", "jobs")
DURATIONS = ("daily", "weekly", "monthly", "quarterly")
PERIODIC = ("activity", "tasks", "jobs")
REPORT_TYPE = "Administrative Report"


@dataclass(frozen=True, slots=True)
class ReportRequest:
    """A checked report request."""

    subtype: str
    duration: str | None
    start: int
    end: int
    title: str

    def as_json(self) -> dict[str, Any]:
        return {"reportType": "org", "reportSubType": self.subtype,
                "timeDuration": self.duration, "startTime": self.start, "title": self.title}


def _add_months(moment: datetime, months: int) -> datetime:
    month = moment.month - 1 + months
    year, month = moment.year + month // 12, month % 12 + 1
    days = [31, 29 if year % 4 == 0 and (year % 100 or year % 400 == 0) else 28, 31, 30, 31,
            30, 31, 31, 30, 31, 30, 31][month - 1]
    return moment.replace(year=year, month=month, day=min(moment.day, days))


def period(duration: str, start_ms: int | None, now_ms: int) -> tuple[int, int]:
    """(start, end) in epoch ms of the period ``duration`` long from ``start_ms``, or the
    one that ends at ``now_ms``."""
    def shifted(moment: datetime, sign: int) -> datetime:
        if duration == "daily":
            return moment + sign * timedelta(days=1)
        if duration == "weekly":
            return moment + sign * timedelta(days=7)
        return _add_months(moment, sign * (1 if duration == "monthly" else 3))

    if start_ms is None:
        end = datetime.fromtimestamp(now_ms / 1000, UTC)
        return int(shifted(end, -1).timestamp() * 1000), now_ms
    begin = datetime.fromtimestamp(start_ms / 1000, UTC)
    return start_ms, int(shifted(begin, 1).timestamp() * 1000)


def parse_request(values: Mapping[str, Any], now_ms: int) -> ReportRequest:
    """Check a report's parameters (a form or a task's parameters; a period without a
    ``startTime`` ends at ``now_ms``); ReportParameterError naming the one that is wrong."""
    kind = str(values.get("reportType") or "org").strip().lower()
    if kind != "org":
        raise ReportParameterError("reportType", "'reportType' must be org")
    subtype = str(values.get("reportSubType") or "").strip()
    if subtype not in SUBTYPES:
        raise ReportParameterError("reportSubType", f"'reportSubType' must be one of "
                                   f"{', '.join(SUBTYPES)}")
    raw_duration = values.get("timeDuration")
    duration = str(raw_duration).strip().lower() if raw_duration not in (None, "") else None
    if duration is not None and duration not in DURATIONS:
        raise ReportParameterError("timeDuration", f"'timeDuration' must be one of "
                                   f"{', '.join(DURATIONS)}")
    if subtype in PERIODIC and duration is None:
        raise ReportParameterError("timeDuration", f"A {subtype} report covers a period: "
                                   f"'timeDuration' must be one of {', '.join(DURATIONS)}")
    raw_start = values.get("startTime")
    start: int | None = None
    if raw_start not in (None, ""):
        try:
            start = int(float(str(raw_start)))
        except ValueError:
            start = -1
        if not 0 <= start <= 253_402_300_799_999:
            raise ReportParameterError("startTime", "'startTime' must be a time in epoch "
                                       "milliseconds")
    begin, end = period(duration, start, now_ms) if duration else (0, now_ms)
    title = str(values.get("title") or "").strip()[:256] or \
        f"{subtype.capitalize()} report {datetime.fromtimestamp(now_ms / 1000, UTC):%Y-%m-%d}"
    return ReportRequest(subtype, duration, begin, end, title)


class ExecuteReport(TaskType):
    name = "ExecuteReport"
    scopes = frozenset({Scope.USER})
    privilege = "portal:admin:viewUsers"
    idempotent = True
    time_limit_s = 3600.0

    def validate(self, parameters: dict[str, Any]) -> dict[str, Any]:
        request = parse_request(parameters, 0)
        out = {k: v for k, v in parameters.items() if v not in (None, "")}
        out["reportType"] = "org"
        out["reportSubType"] = request.subtype
        if request.duration:
            out["timeDuration"] = request.duration
        return out

    def execute(self, ctx: RunContext) -> Outcome:
        make = self.deployment.make_report
        if make is None:
            return Outcome(RunStatus.FAILED, "this server cannot make reports")
        item_id, rows = make(ctx.owner, ctx.parameters, ctx.scheduled_for)
        base = self.deployment.public_url
        return Outcome(RunStatus.SUCCEEDED, f"Report item {item_id}: {rows} rows",
                       f"{base}/sharing/rest/content/items/{item_id}/data" if base else item_id)
