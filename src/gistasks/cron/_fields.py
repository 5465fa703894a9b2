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
_RANGE = re.compile(r"([0-7])-([0-7])(?:/([0-9]+))?")
_FROM = re.compile(r"([0-7])/([0-9]+)")
_DAY = re.compile(r"([0-7])(L|#[0-9]+)?")


def _unix_days(day_of_week: str) -> str:
    """A day-of-week field in Quartz numbering.

    A field that uses the Unix Sunday ``0`` is Unix numbering throughout (0-6 Sunday to
    Saturday, 7 Sunday again): every day in it is translated, so ``0-6`` and ``0-7`` are every
    day and ``0,6`` Sunday and Saturday. Any other field is Quartz's (1-7 Sunday to Saturday),
    as ArcGIS reads it. Steps and ordinals are counts, not days, and stay (a step or an ordinal
    of 0 is then refused by the parser); what is not a day number (names, ``*``) stays too."""
    if 0 not in (int(m.group()) for m in _DAY_VALUE.finditer(day_of_week)):
        return day_of_week
    parts = ",".join(_unix_item(item) for item in day_of_week.split(",")).split(",")
    return ",".join(dict.fromkeys(parts))


def _unix_item(item: str) -> str:
    if m := _RANGE.fullmatch(item):
        first, last, step = int(m.group(1)), int(m.group(2)), m.group(3)
        if step is not None and int(step) == 0:
            return item  # the parser refuses the step
        stop = last if last >= first else last + 7  # a range that wraps past Saturday
        days = {d % 7 + 1 for d in range(first, stop + 1, int(step or 1))}
        return _compact(sorted(days))
    if m := _FROM.fullmatch(item):
        first, step = int(m.group(1)), int(m.group(2))
        if step == 0:
            return item
        return _compact(sorted({d % 7 + 1 for d in range(first, 7, step)} or {first % 7 + 1}))
    if m := _DAY.fullmatch(item):
        return f"{int(m.group(1)) % 7 + 1}{m.group(2) or ''}"
    return item


def _compact(days: list[int]) -> str:
    """Quartz days as a range when they follow each other, else as a list."""
    if len(days) > 1 and days == list(range(days[0], days[-1] + 1)):
        return f"{days[0]}-{days[-1]}"
    return ",".join(map(str, days))


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
