"""Normalisation of the ArcGIS ``createTask`` cron fields to a Quartz expression.

ArcGIS documents Quartz fields (day-of-week 1-7 = Sunday-Saturday, one day field ``?``), but the
official Python client splits Unix 5-field strings straight into the five fields, so a server
receives ``dayOfWeek=0`` and ``*`` in both day fields. Those are accepted and rewritten here; the
stored expression is always the Quartz form.
"""

from __future__ import annotations

import re

from gistasks.cron._parse import CronSyntaxError

_EVERY = {"*", "?"}


def _text(name: str, value: object) -> str:
    if value is None:
        raise CronSyntaxError("is required", field=name)
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise CronSyntaxError(f"expected a string or a number, got {value!r}", field=name)
    text = str(value).strip().upper()
    if not text:
        raise CronSyntaxError("is empty; use '*' for every value", field=name)
    if re.search(r"\s", text):
        raise CronSyntaxError(f"{text!r} contains spaces; a field is one word", field=name)
    return text


def _sunday_zero(day_of_week: str) -> str:
    """Rewrite the Unix Sunday ``0`` as Quartz ``1`` wherever it stands as a value."""
    return re.sub(r"(?<![0-9])0(?![0-9])", "1", day_of_week)


def normalise_fields(
    *,
    second: object,
    minute: object,
    hour: object,
    day_of_month: object,
    month: object,
    day_of_week: object,
    year: object | None,
) -> str:
    """The Quartz expression text for the given fields (not yet validated by the parser)."""
    sec = _text("second", second)
    mnt = _text("minute", minute)
    hr = _text("hour", hour)
    dom = _text("dayOfMonth", day_of_month)
    mon = _text("month", month)
    dow = _sunday_zero(_text("dayOfWeek", day_of_week))
    if dom in _EVERY and dow in _EVERY:
        # Unix "* *", and "? ?" or "* ?" mixes: every day.
        dom, dow = "*", "?"
    elif dow == "*":
        dow = "?"
    elif dom == "*":
        dom = "?"
    fields = [sec, mnt, hr, dom, mon, dow]
    if year is not None and str(year).strip() not in ("", "*"):
        fields.append(_text("year", year))
    return " ".join(fields)
