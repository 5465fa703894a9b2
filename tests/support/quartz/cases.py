"""Deterministic generators of differential cases: expressions, zones and start times."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

ZONES = ("UTC", "America/New_York", "Europe/Berlin", "Australia/Lord_Howe")

# Every feature of the grammar at least once, with the benchmark expressions first.
SEED_EXPRESSIONS = (
    "0 0 4 ? * 7",
    "0 0 * * * ?",
    "0 */1 * * * ?",
    "0 0/5 * * * ?",
    "0/15 * * * * ?",
    "0 0 0 L * ?",
    "0 0 0 ? * 6L",
    "0 0 12 15W * ?",
    "0 0 0 ? * 2#3",
    "0 0 0 31 * ?",
    "0 0 0 30 * ?",
    "0 0 0 29 2 ?",
    "0 0 0 ? * 2#5",
    "0 0 0 ? * 1#5",
    "0 0 0 L-3 * ?",
    "0 0 0 L-30 * ?",
    "0 0 0 L-28 * ?",
    "0 0 0 LW * ?",
    "0 0 0 L-2W * ?",
    "0 0 0 1W * ?",
    "0 0 0 2W * ?",
    "0 0 0 30W * ?",
    "0 0 0 ? * L",
    "0 0 0 ? * 7L",
    "0 0 0 ? * 1L",
    "0 0 22-2 * * ?",
    "0 50-10 * * * ?",
    "50-10 * * * * ?",
    "0 0 0 ? NOV-FEB FRI-MON",
    "0 0 0 28-3 * ?",
    "0 0 0 28-3/2 * ?",
    "0 0 12 1/5 * ?",
    "0 11 11 11 11 ?",
    "0 0/30 1-3 * * ?",
    "*/20 * 2 * * ?",
    "0 30 2 * * ?",
    "0 0 2 * * ?",
    "0 0 3 * * ?",
    "0 0,30 1,2,3 * * ?",
    "0 15 2 * * ?",
    "0 45 1 * * ?",
    "0 */15 * * * ?",
    "0 0 1 * * ?",
    "0 30 1 * * ?",
    "0 0 0 * * ? 2030",
    "0 0 0 1 1 ? 2000/7",
    "0 0 0 1 1 ? 1990-2010,2050",
    "0 0 0 ? * SUN#2",
    "0 0 0 ? * MON#1",
    "0 0 9-17/3 ? * MON-FRI",
    "0 5/20 * 1-6 * ?",
    "0 0 0 ? JAN,MAR,DEC 2-6",
    "59 59 23 31 12 ?",
    "0 0 0 29 2 ? 2100-2104",
    "* * * * * ?",
    "0 0 0 ? * 7#5",
    "0 0 12 ? 2 5#5",
    "1-5,10-15/2,30 */7 */5 * * ?",
    "0 0 0 */3 * ?",
    "0 0 0 ? * */2",
    "0 0 0 ? * 2/3",
    "0 0 0 1 */4 ?",
    "0 0 0 15 3/4 ?",
)

# Expressions Quartz 2.3.2 rejects; gistasks must reject them too.
INVALID_EXPRESSIONS = (
    "0 0 0 * * *",
    "0 0 0 ? * ?",
    "0 0 0 1,L * ?",
    "0 0 0 ? * SAT,L",
    "0 0 0 ? * 6L,2",
    "0 0 0 ? * 1#6",
    "0 0 0 ? * 1#0",
    "0 0 0 ? * 2#1,3#2",
    "0 0 0 32 * ?",
    "0 0 0 0 * ?",
    "0 0 24 * * ?",
    "0 60 0 * * ?",
    "60 0 0 * * ?",
    "0 0 0 1 13 ?",
    "0 0 0 1 0 ?",
    "0 0 0 ? * 8",
    "0 0 0 L-31 * ?",
    "0 0 0 32W * ?",
    "0 0 0 ? FOO *",
    "0 0 0 ? * FOO",
    "0 0 0 * *",
    "0 0 0 * * ? 2030-2020",
    "0/60 * * * * ?",
    "0 0/60 * * * ?",
    "0 0 0/24 * * ?",
    "0 0 0 1/32 * ?",
    "0 0 0 1 1/13 ?",
    "0 0 0 ? * 1/8",
    "0 0 0 L W ?",
    "0 0 0 ? 1W *",
    "0 0 0 C * ?",
    "0 0 0 1 * 1#",
    "0 0 L * * ?",
)


def _term(rng: random.Random, low: int, high: int, names: tuple[str, ...] = ()) -> str:
    """One list item of a plain field."""
    kind = rng.random()
    size = high - low + 1

    def val() -> str:
        v = rng.randint(low, high)
        if names and rng.random() < 0.3:
            return names[v - low]
        return str(v)

    if kind < 0.35:
        return str(rng.randint(low, high))
    if kind < 0.55:
        a, b = rng.randint(low, high), rng.randint(low, high)
        if names and rng.random() < 0.3:
            return f"{names[a - low]}-{names[b - low]}"
        return f"{a}-{b}"
    if kind < 0.7:
        return f"{rng.randint(low, high)}/{rng.randint(1, max(1, size - 1 if size > 12 else size))}"
    if kind < 0.8:
        return f"*/{rng.randint(1, size - 1 if size > 12 else size)}"
    if kind < 0.9:
        a, b = rng.randint(low, high), rng.randint(low, high)
        return f"{a}-{b}/{rng.randint(1, 6)}"
    return val()


def _field(rng: random.Random, low: int, high: int, star: float,
           names: tuple[str, ...] = ()) -> str:
    if rng.random() < star:
        return "*"
    return ",".join(_term(rng, low, high, names) for _ in range(rng.choice((1, 1, 1, 2, 3))))


MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
DAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")


def random_expression(rng: random.Random) -> str:
    sec = _field(rng, 0, 59, 0.15) if rng.random() < 0.4 else str(rng.randint(0, 59))
    mnt = _field(rng, 0, 59, 0.2)
    hr = _field(rng, 0, 23, 0.3)
    mon = _field(rng, 1, 12, 0.6, MONTHS)
    if rng.random() < 0.5:
        r = rng.random()
        if r < 0.5:
            dom = _field(rng, 1, 31, 0.3)
        elif r < 0.6:
            dom = "L"
        elif r < 0.7:
            dom = f"L-{rng.randint(0, 30)}"
        elif r < 0.8:
            dom = "LW"
        elif r < 0.85:
            dom = f"L-{rng.randint(1, 27)}W"
        else:
            dom = f"{rng.randint(1, 31)}W"
        dow = "?"
    else:
        r = rng.random()
        if r < 0.6:
            dow = _field(rng, 1, 7, 0.2, DAYS)
        elif r < 0.75:
            dow = f"{rng.randint(1, 7)}L"
        elif r < 0.95:
            dow = f"{rng.randint(1, 7)}#{rng.randint(1, 5)}"
        else:
            dow = "L"
        dom = "?"
    parts = [sec, mnt, hr, dom, mon, dow]
    if rng.random() < 0.15:
        y = rng.randint(1975, 2090)
        parts.append(rng.choice((str(y), f"{y}-{y + rng.randint(0, 20)}",
                                 f"{y}/{rng.randint(1, 9)}", f"{y},{y + 3}")))
    return " ".join(parts)


def transitions(zone: str, year: int) -> list[datetime]:
    """The UTC instants in ``year`` at which ``zone`` changes its offset (to the minute)."""
    if zone == "UTC":
        return []
    tz = ZoneInfo(zone)
    out = []
    t = datetime(year, 1, 1, tzinfo=UTC)
    end = datetime(year + 1, 1, 1, tzinfo=UTC)
    step = timedelta(hours=6)
    prev = t.astimezone(tz).utcoffset()
    while t < end:
        nxt = t + step
        off = nxt.astimezone(tz).utcoffset()
        if off != prev:
            lo, hi = t, nxt
            while hi - lo > timedelta(seconds=1):
                mid = lo + (hi - lo) / 2
                if mid.astimezone(tz).utcoffset() == prev:
                    lo = mid
                else:
                    hi = mid
            out.append(hi.replace(microsecond=0))
            prev = off
        t = nxt
    return out


def special_starts(rng: random.Random, zone: str) -> list[int]:
    """Start times (epoch ms) at leap days, month ends, year ends and DST transitions."""
    tz = UTC if zone == "UTC" else ZoneInfo(zone)
    out: list[int] = []
    for year in (1972, 1999, 2000, 2024, 2031, 2096, 2099):
        for month, day in ((2, 28), (2, 29), (1, 31), (4, 30), (12, 31), (6, 30)):
            try:
                local = datetime(year, month, day, 23, 59, 59, tzinfo=tz)
            except ValueError:
                continue
            out.append(int(local.timestamp() * 1000))
    for year in (1975, 1996, 2007, 2024, 2025, 2038, 2070, 2099):
        for tr in transitions(zone, year):
            base = int(tr.timestamp())
            for delta in (-7201, -3601, -3600, -1800, -901, -61, -1, 0, 1, 59, 900, 1800, 3599,
                          3600):
                out.append((base + delta) * 1000)
    # The first hours after the epoch: west of Greenwich the local time is still in 1969,
    # a year Quartz does not know (its first fire is at 1970-01-01T00:00 local, or later).
    for seconds in (0, 1, 59, 60, 3599, 3600, 17_999, 18_000, 18_059, 25_200, 43_199):
        out.append(seconds * 1000)
    rng.shuffle(out)
    return out


def random_start(rng: random.Random) -> int:
    """A whole second: from a start with milliseconds Quartz 2.3.2 is not deterministic. Its
    nW comparison builds a Calendar whose milliseconds are never set (they are the wall
    clock's), so the same case answers differently from run to run; gistasks counts in whole
    seconds, as the scheduler asks."""
    lo = 0
    hi = int(datetime(2099, 12, 31, tzinfo=UTC).timestamp())
    return rng.randint(lo, hi) * 1000
