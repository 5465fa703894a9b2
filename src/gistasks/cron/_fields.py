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


_DAY_VALUE = re.compile(r"(?<![/#0-9])[0-9]+")
"""A day number standing as a value: not a step (``/n``) nor an ordinal (``#n``)."""


def _unix_days(day_of_week: str) -> str:
    """A day-of-week field in Quartz numbering.

    A field that uses the Unix Sunday ``0`` is Unix numbering throughout (0-6 Sunday to
    Saturday, 7 Sunday again): every day number in it is translated, so ``0-6`` is every day
    and ``0,6`` Sunday and Saturday. Any other field is Quartz's (1-7 Sunday to Saturday), as
    ArcGIS reads it. Steps and ordinals are counts, not days, and are left alone (a step or an
    ordinal of 0 is then refused by the parser)."""
    days = [int(m.group()) for m in _DAY_VALUE.finditer(day_of_week)]
    if 0 not in days:
        return day_of_week
    return _DAY_VALUE.sub(lambda m: str(int(m.group()) % 7 + 1) if int(m.group()) <= 7
                          else m.group(), day_of_week)


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
    dow = _unix_days(_text("dayOfWeek", day_of_week))
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
