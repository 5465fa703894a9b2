"""English descriptions of parsed Quartz expressions ("At 04:00:00 UTC, only on Saturday")."""

from __future__ import annotations

import itertools
from collections.abc import Callable

from gistasks.cron._parse import DomKind, DowKind, ParsedCron, YearRule

_DAY_NAMES = ("", "Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday")
_MONTH_NAMES = ("", "January", "February", "March", "April", "May", "June", "July", "August",
                "September", "October", "November", "December")
_ORDINALS = ("", "first", "second", "third", "fourth", "fifth")


def _join(items: list[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def _runs(values: list[int]) -> list[tuple[int, int]]:
    """Consecutive runs of sorted values: [1,2,3,7] -> [(1,3),(7,7)]."""
    out: list[tuple[int, int]] = []
    for v in values:
        if out and v == out[-1][1] + 1:
            out[-1] = (out[-1][0], v)
        else:
            out.append((v, v))
    return out


def _step_of(values: list[int], low: int, high: int) -> int | None:
    """The step if ``values`` is ``low, low+s, …`` covering the field, else None."""
    if len(values) < 2 or values[0] != low:
        return None
    step = values[1] - values[0]
    if any(b - a != step for a, b in itertools.pairwise(values)):
        return None
    return step if values[-1] + step > high else None


def _list_phrase(values: list[int], name: Callable[[int], str] = str) -> str:
    parts: list[str] = []
    for a, b in _runs(values):
        if b - a >= 2:
            parts.append(f"{name(a)} through {name(b)}")
        elif b == a + 1:
            parts.extend((name(a), name(b)))
        else:
            parts.append(name(a))
    return _join(parts)


def _unit(values: frozenset[int], unit: str, low: int, high: int) -> str | None:
    """A phrase for a time field, or None when it is every value."""
    ordered = sorted(values)
    if len(ordered) == high - low + 1:
        return None
    step = _step_of(ordered, low, high)
    if step is not None:
        return f"every {step} {unit}s"
    if len(ordered) == 1:
        return f"{unit} {ordered[0]}"
    return f"{unit}s {_list_phrase(ordered)}"


def _time_phrase(p: ParsedCron, zone: str) -> str:
    if len(p.seconds) == len(p.minutes) == len(p.hours) == 1:
        (s,), (m,), (h,) = p.seconds, p.minutes, p.hours
        return f"At {h:02d}:{m:02d}:{s:02d} {zone}"
    sec = _unit(p.seconds, "second", 0, 59)
    minute = _unit(p.minutes, "minute", 0, 59)
    hour = _unit(p.hours, "hour", 0, 23)
    parts: list[str] = []
    if sec is None:
        parts.append("every second")
    elif sec != "second 0":  # second 0 is the usual case and goes without saying
        parts.append(sec if sec.startswith("every") else f"at {sec}")
    if minute is None:
        if not parts:
            parts.append("every minute")
    elif minute.startswith("every"):
        parts.append(minute)
    else:
        parts.append(("of " if parts else "at ") + minute)
    if hour is None:
        if minute is not None and not minute.startswith("every"):
            parts.append("of every hour")
    else:
        parts.append(hour if hour.startswith("every") else f"past {hour}")
    text = parts[0]
    for part in parts[1:]:
        text += (" " if part.startswith("of ") else ", ") + part
    return f"{text[0].upper()}{text[1:]} ({zone})"


def _day_phrase(p: ParsedCron) -> str | None:
    dom, dow = p.dom, p.dow
    if dom.kind is DomKind.SET:
        if len(dom.values) == 31:
            return None
        ordered = sorted(dom.values)
        step = _step_of(ordered, ordered[0], 31) if len(ordered) > 1 else None
        if step is not None:
            return f"every {step} days of the month from day {ordered[0]}"
        label = "day" if len(ordered) == 1 else "days"
        return f"on {label} {_list_phrase(ordered)} of the month"
    if dom.kind is DomKind.LAST:
        if dom.offset == 0:
            return "on the last day of the month"
        plural = "s" if dom.offset > 1 else ""
        return f"{dom.offset} day{plural} before the last day of the month"
    if dom.kind is DomKind.LAST_WEEKDAY:
        if dom.offset == 0:
            return "on the last weekday of the month"
        return f"on the weekday nearest {dom.offset} days before the last day of the month"
    if dom.kind is DomKind.NEAREST_WEEKDAY:
        return f"on the weekday nearest day {dom.day} of the month"
    if dow.kind is DowKind.SET:
        if len(dow.values) == 7:
            return None
        return "only on " + _list_phrase(sorted(dow.values), lambda d: _DAY_NAMES[d])
    if dow.kind is DowKind.LAST_OF:
        return f"on the last {_DAY_NAMES[dow.weekday]} of the month"
    return f"on the {_ORDINALS[dow.nth]} {_DAY_NAMES[dow.weekday]} of the month"


def _year_phrase(rules: tuple[YearRule, ...], has_year: bool) -> str | None:
    if not has_year:
        return None
    parts = []
    for r in rules:
        if r.stop is None:
            if r.step == 1 and r.start == 1970:
                return None
            parts.append(f"every {r.step} years from {r.start}" if r.step > 1
                         else f"from {r.start}")
        elif r.start == r.stop:
            parts.append(str(r.start))
        elif r.step > 1:
            parts.append(f"every {r.step} years from {r.start} through {r.stop}")
        else:
            parts.append(f"{r.start} through {r.stop}")
    return "in " + _join(parts)


def describe(p: ParsedCron, zone: str) -> str:
    """Describe ``p`` in English, naming the time zone the fields are evaluated in."""
    pieces = [_time_phrase(p, zone)]
    day = _day_phrase(p)
    if day:
        pieces.append(day)
    if len(p.months) < 12:
        pieces.append("only in " + _list_phrase(sorted(p.months), lambda m: _MONTH_NAMES[m]))
    year = _year_phrase(p.years, p.has_year_field)
    if year:
        pieces.append(year)
    return ", ".join(pieces)
