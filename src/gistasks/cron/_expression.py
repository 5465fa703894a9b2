"""Evaluation of Quartz cron expressions: next and previous fire times, in any IANA time zone.

The search works on *wall time* (the calendar fields in the expression's zone) with precomputed
tables, so the hot path is a handful of list lookups:

* ``_sec_next[v]`` (``_min_next``, ``_hour_next``) is the smallest allowed value ``>= v``, or -1;
  index 60 (24 for hours) is always -1, which is how a carry into the next minute is expressed.
  ``_*_prev`` are the mirror tables, shifted by one so that index 0 stands for -1.
* the days of a month that match the day fields are computed once per (year, month) and cached.

A wall time is turned into an instant by the DST policy (:meth:`CronExpression._instants`).
"""

from __future__ import annotations

import time
from bisect import bisect_left, bisect_right
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta, tzinfo
from functools import lru_cache
from typing import Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from gistasks.cron._describe import describe
from gistasks.cron._parse import (
    FIRST_YEAR,
    LAST_YEAR,
    CronSyntaxError,
    DomKind,
    DomSpec,
    DowKind,
    DowSpec,
    YearRule,
    parse,
)
from gistasks.cron._quartz import quartz_next
from gistasks.cron._zones import tables_for

DST_GAP_POLICIES: Final = ("shift", "skip")
DST_OVERLAP_POLICIES: Final = ("earlier", "later", "both")

_DAY: Final = 86400
_EPOCH_ORDINAL: Final = date(1970, 1, 1).toordinal()
_MONTH_DAYS: Final = (0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
_DAYS_CACHE_LIMIT: Final = 4096


def _days_in_month(year: int, month: int) -> int:
    if month == 2 and year % 4 == 0 and (year % 100 != 0 or year % 400 == 0):
        return 29
    return _MONTH_DAYS[month]


@lru_cache(maxsize=1024)
def _next_table(allowed: frozenset[int], size: int) -> tuple[int, ...]:
    """``t[v]`` = smallest allowed value >= v for v in 0..size, -1 if none (``t[size]`` = -1).

    Memoised: the same field sets ({0}, every value, …) recur across most expressions.
    """
    table = [-1] * (size + 1)
    prev = 0
    for v in sorted(allowed):
        table[prev:v + 1] = [v] * (v + 1 - prev)
        prev = v + 1
    return tuple(table)


@lru_cache(maxsize=1024)
def _prev_table(allowed: frozenset[int], size: int) -> tuple[int, ...]:
    """``t[v + 1]`` = largest allowed value <= v for v in -1..size-1, -1 if none."""
    table = [-1] * (size + 1)
    values = sorted(allowed)
    for i, v in enumerate(values):
        end = values[i + 1] if i + 1 < len(values) else size
        table[v + 1:end + 1] = [v] * (end - v)
    return tuple(table)


def _nearest_weekday(day: int, weekday_of_day: int, last: int) -> int:
    """Quartz's ``W`` rule: the weekday nearest ``day`` without leaving the month.

    ``weekday_of_day`` uses Quartz numbering (1 = Sunday … 7 = Saturday).
    """
    if weekday_of_day == 7:  # Saturday: Friday before, or Monday after when the 1st
        return day + 2 if day == 1 else day - 1
    if weekday_of_day == 1:  # Sunday: Monday after, or Friday before when the last day
        return day - 2 if day == last else day + 1
    return day


def _resolve_zone(name: str | tzinfo) -> tzinfo:
    if isinstance(name, tzinfo):
        return name
    if not isinstance(name, str) or not name:
        raise CronSyntaxError("expected an IANA time zone name such as 'UTC' or 'Europe/Berlin'",
                              field="timeZone")
    if name.upper() in ("UTC", "Z", "ETC/UTC", "GMT", "ETC/GMT", "UCT", "ZULU"):
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise CronSyntaxError(
            f"unknown time zone {name!r}; use an IANA name such as 'UTC' or 'America/New_York'",
            field="timeZone",
        ) from None


class CronExpression:
    """A Quartz 2.3.2 cron expression bound to a time zone and a DST policy.

    Fire times are whole seconds. ``next_after(dt)`` is the first fire strictly after ``dt``;
    with ``dst_gap="skip", dst_overlap="later"`` the results equal Quartz 2.3.2's
    ``getNextValidTimeAfter`` for the same zone and ``max_year``. The defaults differ from
    Quartz on purpose: a wall time inside a spring-forward gap fires at the end of the gap
    (``shift``) and a repeated wall time fires once, at its first occurrence (``earlier``);
    ``dst_overlap="both"`` fires at both occurrences.

    ``max_year`` is the search horizon (Quartz uses the current year + 100); ``None`` means
    2999. Every method does bounded work and returns ``None`` past the horizon.

    Returned datetimes are aware, in the expression's zone, with ``fold`` set. Note that Python
    compares two datetimes of the *same* tzinfo by wall time, ignoring ``fold``: compare
    ``timestamp()`` values across a DST overlap, or use the ``*_epoch`` methods.
    """

    __slots__ = (
        "_days_cache",
        "_dom",
        "_dow",
        "_gap",
        "_hour_next",
        "_hour_prev",
        "_max_year",
        "_min_first",
        "_min_last",
        "_min_next",
        "_min_prev",
        "_month_next",
        "_month_prev",
        "_overlap",
        "_parsed",
        "_quartz_walk",
        "_sec_first",
        "_sec_last",
        "_sec_next",
        "_sec_prev",
        "_tables",
        "_utc",
        "_year_all",
        "_years",
        "_zone",
        "_zone_name",
    )

    def __init__(
        self,
        expression: str,
        timezone: str | tzinfo = "UTC",
        max_year: int | None = None,
        dst_gap: str = "shift",
        dst_overlap: str = "earlier",
    ) -> None:
        parsed = parse_memoised(expression)
        if dst_gap not in DST_GAP_POLICIES:
            raise CronSyntaxError(
                f"dst_gap must be one of {', '.join(DST_GAP_POLICIES)}, not {dst_gap!r}",
                field="dstGap",
            )
        if dst_overlap not in DST_OVERLAP_POLICIES:
            raise CronSyntaxError(
                f"dst_overlap must be one of {', '.join(DST_OVERLAP_POLICIES)}, not "
                f"{dst_overlap!r}",
                field="dstOverlap",
            )
        if max_year is not None and not FIRST_YEAR <= max_year <= LAST_YEAR:
            raise CronSyntaxError(
                f"max_year must be within {FIRST_YEAR}-{LAST_YEAR}", field="maxYear"
            )
        zone = _resolve_zone(timezone)
        self._parsed = parsed
        self._zone = zone
        self._zone_name = timezone if isinstance(timezone, str) else str(timezone)
        if zone is UTC:
            self._zone_name = "UTC"
        self._utc = zone is UTC
        self._gap = dst_gap
        self._overlap = dst_overlap
        self._quartz_walk = dst_gap == "skip" and dst_overlap == "later"
        self._max_year = LAST_YEAR if max_year is None else max_year
        self._sec_next = _next_table(parsed.seconds, 60)
        self._min_next = _next_table(parsed.minutes, 60)
        self._hour_next = _next_table(parsed.hours, 24)
        self._month_next = _next_table(parsed.months, 13)
        self._sec_prev: tuple[int, ...] = ()  # built on the first backward search
        self._min_prev: tuple[int, ...] = ()
        self._hour_prev: tuple[int, ...] = ()
        self._month_prev: tuple[int, ...] = ()
        self._sec_first, self._sec_last = min(parsed.seconds), max(parsed.seconds)
        self._min_first, self._min_last = min(parsed.minutes), max(parsed.minutes)
        self._dom = parsed.dom
        self._dow = parsed.dow
        self._years: tuple[YearRule, ...] = parsed.years
        self._year_all = any(r.start == FIRST_YEAR and r.stop is None and r.step == 1
                             for r in parsed.years)
        self._days_cache = _days_cache_for(parsed.dom, parsed.dow)
        self._tables = tables_for(zone)

    # -- construction from the ArcGIS createTask fields ------------------------------------

    @classmethod
    def from_fields(
        cls,
        *,
        minute: str | int,
        hour: str | int,
        dayOfMonth: str | int,  # noqa: N803 - the ArcGIS parameter names
        month: str | int,
        dayOfWeek: str | int,  # noqa: N803
        second: str | int = "0",
        year: str | int | None = None,
        timezone: str | tzinfo = "UTC",
        max_year: int | None = None,
        dst_gap: str = "shift",
        dst_overlap: str = "earlier",
    ) -> CronExpression:
        """Build an expression from the ArcGIS ``createTask`` cron fields.

        Accepts what ArcGIS clients send and normalises it to Quartz: ``dayOfWeek=0`` is
        Sunday, ``*`` in both day fields is every day (day-of-week becomes ``?``), a specific
        day in one field with ``*`` in the other turns the ``*`` into ``?`` (the Unix 5-field
        forms the official Python client produces, e.g. ``weekly`` = ``0 0 * * 0``).
        """
        from gistasks.cron._fields import normalise_fields

        text = normalise_fields(
            second=second, minute=minute, hour=hour, day_of_month=dayOfMonth, month=month,
            day_of_week=dayOfWeek, year=year,
        )
        return cls(text, timezone=timezone, max_year=max_year, dst_gap=dst_gap,
                   dst_overlap=dst_overlap)

    # -- public properties ------------------------------------------------------------------

    @property
    def expression(self) -> str:
        """The canonical Quartz text: upper case, fields separated by single spaces."""
        return self._parsed.text

    @property
    def timezone(self) -> str:
        return self._zone_name

    @property
    def tzinfo(self) -> tzinfo:
        return self._zone

    @property
    def max_year(self) -> int:
        return self._max_year

    @property
    def dst_gap(self) -> str:
        return self._gap

    @property
    def dst_overlap(self) -> str:
        return self._overlap

    @property
    def fields(self) -> dict[str, str]:
        """The expression's fields under their ArcGIS names (``year`` only when given)."""
        from gistasks.cron._parse import FIELD_NAMES

        parts = self._parsed.text.split(" ")
        return dict(zip(FIELD_NAMES, parts, strict=False))

    def __repr__(self) -> str:
        return (f"CronExpression({self.expression!r}, timezone={self._zone_name!r}, "
                f"dst_gap={self._gap!r}, dst_overlap={self._overlap!r})")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, CronExpression):
            return NotImplemented
        return (self.expression, self._zone_name, self._max_year, self._gap, self._overlap) == (
            other.expression, other._zone_name, other._max_year, other._gap, other._overlap)

    def __hash__(self) -> int:
        return hash((self.expression, self._zone_name, self._max_year, self._gap,
                     self._overlap))

    # -- public evaluation --------------------------------------------------------------------

    def next_after(self, dt: datetime) -> datetime | None:
        """The first fire strictly after the aware datetime ``dt``, or ``None``."""
        zone = self._zone
        if self._utc and not self._quartz_walk:
            if dt.tzinfo is not zone:
                dt = _aware(dt).astimezone(zone)
            found = self._next_wall(dt.year, dt.month, dt.day, dt.hour, dt.minute,
                                    dt.second + 1)
            return None if found is None else datetime.fromtimestamp(found, zone)
        if dt.tzinfo is zone and not self._quartz_walk:
            local = ((self._month_days(dt.year, dt.month)[1] + dt.day - 1) * _DAY
                     + dt.hour * 3600 + dt.minute * 60 + dt.second)
            first, second, _ = self._tables.around(local).wall_offsets(local)
            if first == second:
                # An ordinary wall time: the search starts one second later on the wall.
                hit = self._next_zoned_from(local - first, dt.year, dt.month, dt.day, dt.hour,
                                            dt.minute, dt.second + 1)
                return None if hit is None else self._to_datetime(hit)
            t = local - (second if dt.fold else first)
        else:
            t = _floor_epoch(dt)
        hit = self._next_zoned(t)
        return None if hit is None else self._to_datetime(hit)

    def previous_before(self, dt: datetime) -> datetime | None:
        """The last fire strictly before the aware datetime ``dt``, or ``None``."""
        t = _floor_epoch(dt)
        if dt.microsecond:
            t += 1  # a fire at floor(dt) is strictly before dt
        if self._utc:
            found = self.previous_before_epoch(t)
            return None if found is None else datetime.fromtimestamp(found, self._zone)
        hit = self._prev_zoned(t)
        return None if hit is None else self._to_datetime(hit)

    def iter_after(self, dt: datetime) -> Iterator[datetime]:
        """The fires after ``dt``, in order; ends at the horizon."""
        nxt = self.next_after(dt)
        while nxt is not None:
            yield nxt
            nxt = self.next_after(nxt)

    def matches(self, dt: datetime) -> bool:
        """Whether ``dt`` (truncated to the second, as Quartz does) is a fire time."""
        t = _floor_epoch(dt)
        return self.next_after_epoch(t - 1) == t

    def next_after_epoch(self, t: int) -> int | None:
        """The first fire strictly after epoch second ``t``, as an epoch second, or ``None``."""
        if self._utc and not self._quartz_walk:
            tm = time.gmtime(t + 1)
            return self._next_wall(tm.tm_year, tm.tm_mon, tm.tm_mday, tm.tm_hour, tm.tm_min,
                                   tm.tm_sec)
        hit = self._next_zoned(t)
        return None if hit is None else hit[0]

    def previous_before_epoch(self, t: int) -> int | None:
        """The last fire strictly before epoch second ``t``, as an epoch second, or ``None``."""
        if self._utc:
            tm = time.gmtime(t - 1)
            return self._prev_wall(tm.tm_year, tm.tm_mon, tm.tm_mday, tm.tm_hour, tm.tm_min,
                                   tm.tm_sec)
        hit = self._prev_zoned(t)
        return None if hit is None else hit[0]

    def describe(self) -> str:
        """An English description, e.g. ``At 04:00:00 UTC, only on Saturday``."""
        return describe(self._parsed, self._zone_name)

    def interval_seconds(self) -> int:
        """The shortest gap between consecutive fires, in seconds (ArcGIS ``runIntervalSeconds``).

        Measured in UTC over the first 2,000 fires after 2001-01-01 (a year after a leap year,
        so short and long months both occur); 0 for a schedule that fires at most once there.
        Memoised by expression text: every task JSON carries it.
        """
        return _interval_seconds(self.expression, self._max_year)

    # -- the wall-time search ---------------------------------------------------------------------

    def _month_days(self, year: int, month: int) -> tuple[tuple[int, ...], int]:
        """The matching days of a month (ascending) and the epoch day of its 1st."""
        key = year * 16 + month
        hit = self._days_cache.get(key)
        if hit is not None:
            return hit
        if len(self._days_cache) >= _DAYS_CACHE_LIMIT:
            self._days_cache.clear()
        first_ordinal = date(year, month, 1).toordinal()
        first_weekday = (first_ordinal % 7) + 1  # Quartz numbering: ordinal 7 is a Sunday
        last = _days_in_month(year, month)
        days = self._match_days(year, month, first_weekday, last)
        hit = (days, first_ordinal - _EPOCH_ORDINAL)
        self._days_cache[key] = hit
        return hit

    def _match_days(self, year: int, month: int, first_weekday: int,
                    last: int) -> tuple[int, ...]:
        def weekday(day: int) -> int:
            return (first_weekday - 1 + day - 1) % 7 + 1

        dom, dow = self._dom, self._dow
        if dom.kind is DomKind.SET:
            return tuple(d for d in sorted(dom.values) if d <= last)
        if dom.kind is DomKind.LAST:
            day = last - dom.offset
            return (day,) if day >= 1 else ()
        if dom.kind is DomKind.LAST_WEEKDAY:
            day = last - dom.offset
            return (_nearest_weekday(day, weekday(day), last),) if day >= 1 else ()
        if dom.kind is DomKind.NEAREST_WEEKDAY:
            day = dom.day
            return (_nearest_weekday(day, weekday(day), last),) if day <= last else ()
        if dow.kind is DowKind.SET:
            if len(dow.values) == 7:
                return tuple(range(1, last + 1))
            days: list[int] = []
            for w in dow.values:
                days.extend(range(1 + (w - first_weekday) % 7, last + 1, 7))
            days.sort()
            return tuple(days)
        if dow.kind is DowKind.LAST_OF:
            day = last - (weekday(last) - dow.weekday) % 7
            return (day,)
        first = 1 + (dow.weekday - first_weekday) % 7
        day = first + 7 * (dow.nth - 1)
        return (day,) if day <= last else ()

    def _year_next(self, year: int) -> int:
        """The smallest allowed year >= ``year``, or a year past the horizon."""
        if self._year_all:
            return year
        best = LAST_YEAR + 1
        for r in self._years:
            ahead = -(-(year - r.start) // r.step) * r.step
            cand = r.start if year <= r.start else r.start + ahead
            stop = self._max_year if r.stop is None else r.stop
            if cand <= stop and cand < best:
                best = cand
        return best

    def _year_prev(self, year: int) -> int:
        """The largest allowed year <= ``year``, or a year before 1970."""
        if self._year_all:
            return year
        best = FIRST_YEAR - 1
        for r in self._years:
            stop = self._max_year if r.stop is None else r.stop
            top = min(year, stop)
            if top < r.start:
                continue
            cand = r.start + (top - r.start) // r.step * r.step
            if cand > best:
                best = cand
        return best

    def _next_wall(self, y: int, mo: int, d: int, h: int, mi: int, s: int) -> int | None:
        """The smallest matching wall time >= the given fields, as local epoch seconds.

        ``s`` may be 60 (a carry into the next minute). Returns ``None`` past the horizon.
        The loop ends: each pass returns or moves to a later day, month or year.
        """
        sec_next, min_next, hour_next = self._sec_next, self._min_next, self._hour_next
        month_next = self._month_next
        max_year = self._max_year
        if y < FIRST_YEAR:
            y, mo, d, h, mi, s = FIRST_YEAR, 1, 1, 0, 0, 0
        while True:
            if y > max_year:
                return None
            if not self._year_all:
                ny = self._year_next(y)
                if ny != y:
                    if ny > max_year:
                        return None
                    y, mo, d, h, mi, s = ny, 1, 1, 0, 0, 0
            nm = month_next[mo]
            if nm < 0:
                y, mo, d, h, mi, s = y + 1, 1, 1, 0, 0, 0
                continue
            if nm != mo:
                mo, d, h, mi, s = nm, 1, 0, 0, 0
            days, first_epoch_day = self._month_days(y, mo)
            i = bisect_left(days, d)
            if i == len(days):
                mo, d, h, mi, s = mo + 1, 1, 0, 0, 0
                continue
            day = days[i]
            if day != d:
                d, h, mi, s = day, 0, 0, 0
            # The earliest allowed time of day >= h:mi:s, or -1.
            hh = hour_next[h]
            if hh == h:
                mm = min_next[mi]
                if mm == mi:
                    ss = sec_next[s]
                    if ss >= 0:
                        return (first_epoch_day + d - 1) * _DAY + h * 3600 + mi * 60 + ss
                    mm = min_next[mi + 1]
                if mm >= 0:
                    return (first_epoch_day + d - 1) * _DAY + h * 3600 + mm * 60 + self._sec_first
                hh = hour_next[h + 1]
            if hh >= 0:
                return ((first_epoch_day + d - 1) * _DAY + hh * 3600 + self._min_first * 60
                        + self._sec_first)
            d, h, mi, s = d + 1, 0, 0, 0

    def _prev_wall(self, y: int, mo: int, d: int, h: int, mi: int, s: int) -> int | None:
        """The largest matching wall time <= the given fields, as local epoch seconds.

        ``s`` may be -1 (a borrow from the previous minute). Returns ``None`` before 1970.
        """
        if not self._sec_prev:
            parsed = self._parsed
            self._sec_prev = _prev_table(parsed.seconds, 60)
            self._min_prev = _prev_table(parsed.minutes, 60)
            self._hour_prev = _prev_table(parsed.hours, 24)
            self._month_prev = _prev_table(parsed.months, 13)
        sec_prev, min_prev, hour_prev = self._sec_prev, self._min_prev, self._hour_prev
        month_prev = self._month_prev
        while True:
            if y < FIRST_YEAR:
                return None
            if y > self._max_year:
                y, mo, d, h, mi, s = self._max_year, 12, 31, 23, 59, 59
            if not self._year_all:
                py = self._year_prev(y)
                if py != y:
                    if py < FIRST_YEAR:
                        return None
                    y, mo, d, h, mi, s = py, 12, 31, 23, 59, 59
            pm = month_prev[mo + 1]
            if pm < 1:
                y, mo, d, h, mi, s = y - 1, 12, 31, 23, 59, 59
                continue
            if pm != mo:
                mo, d, h, mi, s = pm, 31, 23, 59, 59
            days, first_epoch_day = self._month_days(y, mo)
            i = bisect_right(days, d) - 1
            if i < 0:
                mo, d, h, mi, s = mo - 1, 31, 23, 59, 59
                continue
            day = days[i]
            if day != d:
                d, h, mi, s = day, 23, 59, 59
            hh = hour_prev[h + 1]
            if hh == h:
                mm = min_prev[mi + 1]
                if mm == mi:
                    ss = sec_prev[s + 1]
                    if ss >= 0:
                        return (first_epoch_day + d - 1) * _DAY + h * 3600 + mi * 60 + ss
                    mm = min_prev[mi]
                if mm >= 0:
                    return (first_epoch_day + d - 1) * _DAY + h * 3600 + mm * 60 + self._sec_last
                hh = hour_prev[h]
            if hh >= 0:
                return ((first_epoch_day + d - 1) * _DAY + hh * 3600 + self._min_last * 60
                        + self._sec_last)
            d, h, mi, s = d - 1, 23, 59, 59
            if d < 1:
                mo, d = mo - 1, 31

    # -- time zones -------------------------------------------------------------------------------
    #
    # A hit is (instant, wall time as local epoch seconds, fold). The wall time of a fire is
    # resolved with the zone tables: ordinary -> one instant; overlap -> per ``dst_overlap``;
    # gap -> nothing (``skip``) or the transition instant, the end of the gap (``shift``).

    def _to_datetime(self, hit: tuple[int, int, int]) -> datetime:
        return datetime.fromtimestamp(hit[0], self._zone)

    def _resolve(self, local: int) -> tuple[tuple[int, int, int], ...]:
        """The hits of wall time ``local``, in time order."""
        table = self._tables.around(local)
        first, second, i = table.wall_offsets(local)
        if first == second:
            return ((local - first, local, 0),)
        if first > second:  # overlap: the first pass is at the larger offset
            if self._overlap == "earlier":
                return ((local - first, local, 0),)
            if self._overlap == "later":
                return ((local - second, local, 1),)
            return ((local - first, local, 0), (local - second, local, 1))
        if self._gap == "skip":
            return ()
        instant = table.instants[i]
        return ((instant, instant + second, 0),)

    def _next_zoned(self, t: int) -> tuple[int, int, int] | None:
        if self._quartz_walk:
            # The Quartz policy replays Quartz's own walk, artefacts included.
            found = quartz_next(self, t)
            return None if found is None else (found, 0, 0)
        # Start at the first wall time that can resolve to an instant after t.
        table = self._tables.around(t)
        first, second, _ = table.wall_offsets(t + table.offset_at(t))
        offset = max(first, second) if self._overlap == "earlier" else min(first, second)
        local = t + 1 + offset
        tm = time.gmtime(local)
        return self._next_zoned_from(t, tm.tm_year, tm.tm_mon, tm.tm_mday, tm.tm_hour,
                                     tm.tm_min, tm.tm_sec)

    def _next_zoned_from(self, t: int, y: int, mo: int, d: int, h: int, mi: int,
                         s: int) -> tuple[int, int, int] | None:
        """The first hit after instant ``t``, searching wall time from the given fields.

        Hits come in wall-time order, which is time order for every policy but ``both``: there
        the first pass of a later wall time precedes the second pass of an earlier one, so the
        search goes on while a later wall time could still map to an earlier instant.
        """
        best: tuple[int, int, int] | None = None
        while True:
            found = self._next_wall(y, mo, d, h, mi, s)
            if found is None:
                return best
            if best is not None:
                first = self._tables.around(found).wall_offsets(found)[0]
                if found - first >= best[0]:
                    return best
            for hit in self._resolve(found):
                if hit[0] > t and (best is None or hit[0] < best[0]):
                    best = hit
            if best is not None and (self._overlap != "both" or best[2] == 0):
                return best
            tm = time.gmtime(found + 1)
            y, mo, d, h, mi, s = (tm.tm_year, tm.tm_mon, tm.tm_mday, tm.tm_hour, tm.tm_min,
                                  tm.tm_sec)

    def _prev_zoned(self, t: int) -> tuple[int, int, int] | None:
        """The last hit before instant ``t`` (the mirror of :meth:`_next_zoned_from`)."""
        table = self._tables.around(t - 1)
        first, second, _ = table.wall_offsets(t - 1 + table.offset_at(t - 1))
        local = t - 1 + max(first, second)
        best: tuple[int, int, int] | None = None
        while True:
            tm = time.gmtime(local)
            found = self._prev_wall(tm.tm_year, tm.tm_mon, tm.tm_mday, tm.tm_hour, tm.tm_min,
                                    tm.tm_sec)
            if found is None:
                return best
            if best is not None:
                second = self._tables.around(found).wall_offsets(found)[1]
                if found - second <= best[0]:
                    return best
            for hit in self._resolve(found):
                if hit[0] < t and (best is None or hit[0] > best[0]):
                    best = hit
            if best is not None and (self._overlap != "both" or best[2] == 1
                                     or not self._in_overlap(best[1])):
                return best
            local = found - 1

    def _in_overlap(self, local: int) -> bool:
        first, second, _ = self._tables.around(local).wall_offsets(local)
        return first > second


parse_memoised = lru_cache(maxsize=4096)(parse)


@lru_cache(maxsize=4096)
def _interval_seconds(expression: str, max_year: int) -> int:
    probe = CronExpression(expression, max_year=max_year)
    t = probe.next_after_epoch(978307199)  # 2000-12-31T23:59:59Z
    best = 0
    for _ in range(2000):
        if t is None:
            break
        nxt = probe.next_after_epoch(t)
        if nxt is None:
            break
        gap = nxt - t
        if best == 0 or gap < best:
            best = gap
            if best == 1:
                break
        t = nxt
    return best


@lru_cache(maxsize=1024)
def _days_cache_for(dom: DomSpec, dow: DowSpec) -> dict[int, tuple[tuple[int, ...], int]]:
    """The (year, month) -> matching days cache, shared by expressions with the same day rules."""
    return {}
"""``parse`` with a memo: a server sees the same few schedule texts again and again."""


def _seconds(offset: timedelta | None) -> int:
    assert offset is not None
    return offset.days * _DAY + offset.seconds


def _aware(dt: datetime) -> datetime:
    if not isinstance(dt, datetime):
        raise TypeError(f"expected an aware datetime, got {type(dt).__name__}")
    if dt.tzinfo is None or dt.utcoffset() is None:
        raise ValueError("expected an aware datetime (with tzinfo), got a naive one")
    return dt


def _floor_epoch(dt: datetime) -> int:
    ts = _aware(dt).timestamp()
    t = int(ts)
    return t - 1 if ts < t else t
