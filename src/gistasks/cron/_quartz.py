"""A faithful port of Quartz 2.3.2's ``CronExpression.getTimeAfter``, for the Quartz DST policy.

With ``dst_gap="skip", dst_overlap="later"`` a user asks for Quartz's fire times, artefacts
included: Quartz walks a lenient ``GregorianCalendar``, which moves a wall time inside a DST gap
forward by the gap's length and resolves a repeated wall time to its later (standard-time)
instant, and its search resumes from wherever the calendar landed. This module replays that walk
step by step over :class:`LenientCalendar`, so that the results are Quartz's even where they
are surprising (the 30-minute Lord Howe gap, ``31W`` in a 30-day month). The table-driven search
in ``_expression`` is used for every other policy.
"""

from __future__ import annotations

import time
from bisect import bisect_left
from datetime import date
from typing import TYPE_CHECKING

from gistasks.cron._parse import FIRST_YEAR, DomKind, DowKind

if TYPE_CHECKING:
    from gistasks.cron._expression import CronExpression

_DAY = 86400
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
_MONTH_DAYS = (0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def _last_day(month: int, year: int) -> int:
    if month == 2 and year % 4 == 0 and (year % 100 != 0 or year % 400 == 0):
        return 29
    return _MONTH_DAYS[month]


class LenientCalendar:
    """``java.util.GregorianCalendar`` in a zone, as far as ``getTimeAfter`` uses it.

    Fields may be set out of range; reading one normalises them all (overflow carries, a wall
    time in a gap moves forward by the gap, a repeated wall time takes its later instant).
    """

    __slots__ = ("_dirty", "_instant", "_tables", "d", "h", "mi", "mo", "s", "y")

    def __init__(self, tables: object, instant: int) -> None:
        self._tables = tables
        self._dirty = False
        self._set_instant(instant)

    def _set_instant(self, instant: int) -> None:
        self._instant = instant
        local = instant + self._tables.around(instant).offset_at(instant)  # type: ignore[attr-defined]
        tm = time.gmtime(local)
        self.y, self.mo, self.d = tm.tm_year, tm.tm_mon, tm.tm_mday
        self.h, self.mi, self.s = tm.tm_hour, tm.tm_min, tm.tm_sec
        self._dirty = False

    def _compute(self) -> None:
        if not self._dirty:
            return
        y = self.y + (self.mo - 1) // 12
        mo = (self.mo - 1) % 12 + 1
        local = ((date(y, mo, 1).toordinal() - _EPOCH_ORDINAL + self.d - 1) * _DAY
                 + self.h * 3600 + self.mi * 60 + self.s)
        first, second, _ = self._tables.around(local).wall_offsets(local)  # type: ignore[attr-defined]
        # A repeated wall time takes standard time, the later instant; an ordinary one, or one
        # in a gap, is read with the offset before the change.
        self._set_instant(local - second if first > second else local - first)

    def set(self, **fields: int) -> None:
        """Set fields without normalising (Java's ``set``); the next read normalises."""
        for name, value in fields.items():
            setattr(self, name, value)
        self._dirty = True

    def get(self) -> LenientCalendar:
        self._compute()
        return self

    def add_year(self) -> None:
        self._compute()
        self.y += 1
        self.d = min(self.d, _last_day(self.mo, self.y))
        self._dirty = True

    def set_hour(self, hour: int) -> None:
        """Quartz's ``setCalendarHour``: if the lenient calendar moved the hour, bump it."""
        self.set(h=hour)
        if self.get().h != hour and hour != 24:
            self.set(h=hour + 1)

    def day_of_week(self) -> int:
        self._compute()
        return date(self.y, self.mo, self.d).toordinal() % 7 + 1

    def instant(self) -> int:
        self._compute()
        return self._instant


def _nearest_weekday_day(tables: object, year: int, mon: int, day: int) -> int:
    """Quartz's W adjustment, with its own lenient calendar (day may fall outside the month)."""
    probe = LenientCalendar(tables, 0)
    probe.set(y=year, mo=mon, d=day, h=0, mi=0, s=0)
    dow = probe.day_of_week()
    ldom = _last_day(mon, year)
    if dow == 7 and day == 1:
        return day + 2
    if dow == 7:
        return day - 1
    if dow == 1 and day == ldom:
        return day - 2
    if dow == 1:
        return day + 1
    return day


def _instant_of(tables: object, year: int, mon: int, day: int, h: int, mi: int, s: int) -> int:
    probe = LenientCalendar(tables, 0)
    probe.set(y=year, mo=mon, d=day, h=h, mi=mi, s=s)
    return probe.instant()


def quartz_next(expr: CronExpression, t: int) -> int | None:
    """The first fire after epoch second ``t`` exactly as Quartz 2.3.2 computes it."""
    tables = expr._tables
    p = expr._parsed
    sec_next, min_next, hour_next = expr._sec_next, expr._min_next, expr._hour_next
    sec_first, min_first = expr._sec_first, expr._min_first
    hour_first = hour_next[0]
    months = sorted(p.months)
    dom, dow = p.dom, p.dow
    dom_values = sorted(dom.values) if dom.kind is DomKind.SET else [dom.day]
    dow_values = (sorted(dow.values) if dow.kind is DowKind.SET else [dow.weekday])
    after_ms = (t + 1) * 1000
    cl = LenientCalendar(tables, t + 1)
    cl.set()  # Quartz clears the milliseconds: the fields are read back as a wall time
    max_year = expr._max_year
    for _ in range(100_000):  # bounded, as every gistasks search
        c = cl.get()
        if c.y > 2999:
            return None
        sec, mnt = c.s, c.mi
        nxt = sec_next[sec]
        if nxt >= 0:
            sec = nxt
        else:
            sec = sec_first
            mnt += 1
            cl.set(mi=mnt)
        cl.set(s=sec)
        c = cl.get()
        mnt, hr = c.mi, c.h
        tt = -1
        nxt = min_next[mnt]
        if nxt >= 0:
            tt, mnt = mnt, nxt
        else:
            mnt = min_first
            hr += 1
        if mnt != tt:
            cl.set(s=0, mi=mnt)
            cl.set_hour(hr)
            continue
        cl.set(mi=mnt)
        c = cl.get()
        hr, day = c.h, c.d
        tt = -1
        nxt = hour_next[hr]
        if nxt >= 0:
            tt, hr = hr, nxt
        else:
            hr = hour_first
            day += 1
        if hr != tt:
            cl.set(s=0, mi=0, d=day)
            cl.set_hour(hr)
            continue
        cl.set(h=hr)
        c = cl.get()
        day, mon, year = c.d, c.mo, c.y
        tt = -1
        tmon = mon
        if dom.kind is not DomKind.NONE:
            if dom.kind in (DomKind.LAST, DomKind.LAST_WEEKDAY):
                tt = day
                day = _last_day(mon, year) - dom.offset
                if dom.kind is DomKind.LAST:
                    if tt > day:
                        mon += 1
                        if mon > 12:
                            mon = 1
                            tmon = 3333
                            cl.add_year()
                        day = 1
                else:
                    day = _nearest_weekday_day(tables, year, mon, day)
                    if _instant_of(tables, year, mon, day, hr, mnt, sec) * 1000 < after_ms:
                        day = 1
                        mon += 1
            elif dom.kind is DomKind.NEAREST_WEEKDAY:
                tt = day
                day = _nearest_weekday_day(tables, year, mon, dom_values[0])
                if _instant_of(tables, year, mon, day, hr, mnt, sec) * 1000 < after_ms:
                    day = dom_values[0]
                    mon += 1
            else:
                i = bisect_left(dom_values, day)
                if i < len(dom_values):
                    tt = day
                    day = dom_values[i]
                    if day > _last_day(mon, cl.get().y):
                        day = dom_values[0]
                        mon += 1
                else:
                    day = dom_values[0]
                    mon += 1
            if day != tt or mon != tmon:
                cl.set(s=0, mi=0, h=0, d=day, mo=mon)
                continue
        else:
            c_dow = cl.day_of_week()
            if dow.kind is DowKind.LAST_OF:
                want = dow_values[0]
                add = want - c_dow if c_dow < want else want + (7 - c_dow) if c_dow > want else 0
                ldom = _last_day(mon, cl.get().y)
                if day + add > ldom:
                    cl.set(s=0, mi=0, h=0, d=1, mo=mon + 1)
                    continue
                while day + add + 7 <= ldom:
                    add += 7
                day += add
                if add > 0:
                    cl.set(s=0, mi=0, h=0, d=day, mo=mon)
                    continue
            elif dow.kind is DowKind.NTH:
                want = dow_values[0]
                add = want - c_dow if c_dow < want else want + (7 - c_dow) if c_dow > want else 0
                shifted = add > 0
                day += add
                week = day // 7 + (1 if day % 7 > 0 else 0)
                add = (dow.nth - week) * 7
                day += add
                if add < 0 or day > _last_day(mon, cl.get().y):
                    cl.set(s=0, mi=0, h=0, d=1, mo=mon + 1)
                    continue
                if add > 0 or shifted:
                    cl.set(s=0, mi=0, h=0, d=day, mo=mon)
                    continue
            else:
                want = dow_values[0]
                i = bisect_left(dow_values, c_dow)
                if i < len(dow_values):
                    want = dow_values[i]
                add = want - c_dow if c_dow < want else want + (7 - c_dow) if c_dow > want else 0
                ldom = _last_day(mon, cl.get().y)
                if day + add > ldom:
                    cl.set(s=0, mi=0, h=0, d=1, mo=mon + 1)
                    continue
                if add > 0:
                    cl.set(s=0, mi=0, h=0, d=day + add, mo=mon)
                    continue
        cl.set(d=day)
        c = cl.get()
        mon, year = c.mo, c.y
        if year > max_year:
            return None
        tt = -1
        i = bisect_left(months, mon)
        if i < len(months):
            tt, mon = mon, months[i]
        else:
            mon = months[0]
            year += 1
        if mon != tt:
            cl.set(s=0, mi=0, h=0, d=1, mo=mon, y=year)
            continue
        cl.set(mo=mon)
        year = cl.get().y
        # Quartz's years start in 1970: a local time still in 1969 (west of Greenwich, just
        # after the epoch) moves on to 1970-01-01T00:00 local, as Quartz does.
        nxt_year = expr._year_next(max(year, FIRST_YEAR))
        if nxt_year > max_year:
            return None
        if nxt_year != year:
            cl.set(s=0, mi=0, h=0, d=1, mo=1, y=nxt_year)
            continue
        cl.set(y=year)
        return cl.instant()
    return None
