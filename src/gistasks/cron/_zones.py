"""Per-zone tables of UTC offset changes, so that wall time <-> instant is a bisect, not a tz call.

For each zone and year, the offset transitions are found once by scanning the zone (3-hour
steps, then bisection to the second) and kept. A transition at instant ``T`` from offset ``b``
to ``a`` makes the wall times ``[T + min(a, b), T + max(a, b))`` special: a gap when ``a > b``
(spring forward, those wall times do not exist) and an overlap when ``a < b`` (fall back, they
happen twice). Every other wall time maps to exactly one instant.
"""

from __future__ import annotations

import time
from bisect import bisect_right
from datetime import datetime, timedelta, tzinfo
from typing import Final

_SCAN_STEP: Final = 3 * 3600
_MARGIN: Final = 2 * 86400  # each year's table reaches this far into its neighbours
_YEAR_LIMIT: Final = 4096  # cached years per zone before the cache is dropped


def _offset(zone: tzinfo, t: int) -> int:
    off = datetime.fromtimestamp(t, zone).utcoffset()
    if off is None:
        return 0
    return off.days * 86400 + off.seconds


class YearTable:
    """The offset transitions of one zone around one year."""

    __slots__ = ("after", "base", "before", "instants", "wall_hi", "wall_lo")

    def __init__(self, zone: tzinfo, year: int) -> None:
        start = _utc_epoch(year) - _MARGIN
        end = _utc_epoch(year + 1) + _MARGIN
        self.base = _offset(zone, start)
        self.instants: list[int] = []
        self.before: list[int] = []
        self.after: list[int] = []
        self.wall_lo: list[int] = []
        self.wall_hi: list[int] = []
        prev = self.base
        t = start
        while t < end:
            nxt = min(t + _SCAN_STEP, end)
            off = _offset(zone, nxt)
            if off != prev:
                lo, hi = t, nxt  # offset(lo) == prev, offset(hi) != prev
                while hi - lo > 1:
                    mid = (lo + hi) // 2
                    if _offset(zone, mid) == prev:
                        lo = mid
                    else:
                        hi = mid
                new = _offset(zone, hi)
                self.instants.append(hi)
                self.before.append(prev)
                self.after.append(new)
                self.wall_lo.append(hi + min(prev, new))
                self.wall_hi.append(hi + max(prev, new))
                prev = new
                # A second change inside the same step is found from here on.
                t = hi
                continue
            t = nxt

    def offset_at(self, t: int) -> int:
        """The UTC offset in force at instant ``t``."""
        i = bisect_right(self.instants, t) - 1
        return self.after[i] if i >= 0 else self.base

    def wall_offsets(self, local: int) -> tuple[int, int, int]:
        """For wall time ``local``: (first offset, second offset, transition index or -1).

        The two offsets are equal for an ordinary wall time. In an overlap the first is the
        larger (the earlier instant); in a gap the first is the smaller (the offset before).
        """
        i = bisect_right(self.wall_lo, local) - 1
        if i >= 0 and local < self.wall_hi[i]:
            return self.before[i], self.after[i], i
        off = self.after[i] if i >= 0 else self.base
        return off, off, -1


def _utc_epoch(year: int) -> int:
    return (datetime(year, 1, 1) - datetime(1970, 1, 1)) // timedelta(seconds=1)


class ZoneTables:
    """Lazily built :class:`YearTable` objects of one zone."""

    __slots__ = ("_last", "_years", "zone")

    def __init__(self, zone: tzinfo) -> None:
        self.zone = zone
        self._years: dict[int, YearTable] = {}
        # (lo, hi, table): epoch seconds (instants or wall times) that ``table`` safely covers.
        self._last: tuple[int, int, YearTable | None] = (0, 0, None)

    def around(self, t: int) -> YearTable:
        """A table covering ``t``, which may be an instant or a wall time (epoch seconds)."""
        lo, hi, table = self._last
        if lo <= t < hi and table is not None:
            return table
        year = time.gmtime(t).tm_year
        table = self.year(year)
        self._last = (_utc_epoch(year) - 86400, _utc_epoch(year + 1) + 86400, table)
        return table

    def year(self, year: int) -> YearTable:
        table = self._years.get(year)
        if table is None:
            if len(self._years) >= _YEAR_LIMIT:
                self._years.clear()
            table = self._years[year] = YearTable(self.zone, year)
        return table


_TABLES: dict[tzinfo, ZoneTables] = {}


def tables_for(zone: tzinfo) -> ZoneTables:
    """The shared tables of ``zone`` (one per zone object in the process)."""
    tables = _TABLES.get(zone)
    if tables is None:
        tables = _TABLES[zone] = ZoneTables(zone)
    return tables
