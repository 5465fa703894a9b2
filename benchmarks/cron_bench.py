"""Cron engine benchmark: gistasks.cron against cronsim and croniter, measured in one run.

For each expression, in UTC and in Europe/Berlin, from 2024-01-15 10:17:03 local time:

* warm: microseconds per ``next`` on an already parsed expression (100 consecutive fires from a
  fresh start, divided by 100);
* cold: microseconds to build a ``CronExpression`` and compute its first fire. gistasks memoises
  parsing by expression text (a server sees the same few schedules again and again), so this is
  the figure for a schedule text seen before;
* first: the same with every gistasks memo cleared first, the cost of a never-seen expression.

Each figure is the median of 7 repeats. The peers run in their own dialects (Unix fields,
croniter's ``L5`` for the last Friday); a schedule a peer cannot express is shown as ``n/a``.

Run: ``.venv/bin/python benchmarks/cron_bench.py`` (``make bench``). ``--quick`` does fewer
repetitions, for a smoke run.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import timeit
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from zoneinfo import ZoneInfo

from croniter import croniter
from cronsim import CronSim

from gistasks.cron import CronExpression
from gistasks.cron import _expression as engine


@dataclass(frozen=True)
class Schedule:
    quartz: str
    cronsim: str | None
    croniter: str | None


SCHEDULES = (
    Schedule("0 0 4 ? * 7", "0 4 * * 6", "0 4 * * 6"),
    Schedule("0 0 * * * ?", "0 * * * *", "0 * * * *"),
    Schedule("0 */1 * * * ?", "*/1 * * * *", "*/1 * * * *"),
    Schedule("0 0/5 * * * ?", "*/5 * * * *", "*/5 * * * *"),
    Schedule("0/15 * * * * ?", "*/15 * * * * *", "* * * * * */15"),
    Schedule("0 0 0 L * ?", "0 0 L * *", "0 0 L * *"),
    Schedule("0 0 0 ? * 6L", "0 0 * * 5L", "0 0 * * L5"),
    Schedule("0 0 12 15W * ?", None, "0 12 15W * *"),
    Schedule("0 0 0 ? * 2#3", "0 0 * * 1#3", "0 0 * * 1#3"),
)
ZONES = ("UTC", "Europe/Berlin")
WARM_STEPS = 100


def _median_us(fn: Callable[[], object], per_call: int, number: int, repeat: int) -> float:
    times = timeit.repeat(fn, number=number, repeat=repeat)
    return statistics.median(times) / (number * per_call) * 1e6


def _clear_memos() -> None:
    engine.parse_memoised.cache_clear()
    engine._days_cache_for.cache_clear()
    engine._next_table.cache_clear()
    engine._prev_table.cache_clear()


def _ours(expr: str, zone: str, start: datetime, number: int,
          repeat: int) -> tuple[float, float, float]:
    parsed = CronExpression(expr, timezone=zone)

    def warm() -> None:
        t: datetime | None = start
        for _ in range(WARM_STEPS):
            assert t is not None
            t = parsed.next_after(t)

    def cold() -> None:
        CronExpression(expr, timezone=zone).next_after(start)

    def first() -> None:
        _clear_memos()
        CronExpression(expr, timezone=zone).next_after(start)

    return (_median_us(warm, WARM_STEPS, number, repeat),
            _median_us(cold, 1, number * 30, repeat),
            _median_us(first, 1, number * 30, repeat))


def _cronsim(expr: str, start: datetime, number: int, repeat: int) -> tuple[float, float]:
    def warm() -> None:
        it = CronSim(expr, start)
        for _ in range(WARM_STEPS):
            next(it)

    def cold() -> None:
        next(CronSim(expr, start))

    return (_median_us(warm, WARM_STEPS, number, repeat),
            _median_us(cold, 1, number * 30, repeat))


def _croniter(expr: str, start: datetime, number: int, repeat: int) -> tuple[float, float]:
    def warm() -> None:
        it = croniter(expr, start)
        for _ in range(WARM_STEPS):
            it.get_next(datetime)

    def cold() -> None:
        croniter(expr, start).get_next(datetime)

    return (_median_us(warm, WARM_STEPS, number, repeat),
            _median_us(cold, 1, number * 30, repeat))


def _check_agreement(s: Schedule, zone: tzinfo, start: datetime) -> None:
    """The peers must compute the same fire times, or the comparison means nothing."""
    ours = CronExpression(s.quartz, timezone=zone if zone is not UTC else "UTC")
    expected = []
    t: datetime | None = start
    for _ in range(20):
        assert t is not None
        t = ours.next_after(t)
        assert t is not None
        expected.append(t.timestamp())
    if s.cronsim:
        it = CronSim(s.cronsim, start)
        got = [next(it).timestamp() for _ in range(20)]
        assert got == expected, f"cronsim disagrees on {s.cronsim}"
    if s.croniter:
        it2 = croniter(s.croniter, start)
        got = [it2.get_next(datetime).timestamp() for _ in range(20)]
        assert got == expected, f"croniter disagrees on {s.croniter}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    args = parser.parse_args(argv)
    number, repeat = (3, 3) if args.quick else (20, 7)

    print(f"Python {sys.version.split()[0]}; microseconds, median of {repeat} repeats; "
          "ratio = peer / gistasks (higher is better for gistasks)")
    header = (f"{'expression':<16} {'zone':<14} {'ours warm':>9} {'cronsim':>8} {'x':>5} "
              f"{'croniter':>9} {'x':>5} | {'ours cold':>9} {'cronsim':>8} {'x':>5} "
              f"{'croniter':>9} {'x':>5} | {'ours 1st':>8} {'x cronsim':>9}")
    print(header)
    print("-" * len(header))
    warm_vs_cronsim: list[float] = []
    warm_vs_croniter: list[float] = []
    cold_vs_cronsim: list[float] = []
    first_vs_cronsim: list[float] = []
    ours_warm: list[float] = []
    for zone_name in ZONES:
        zone: tzinfo = UTC if zone_name == "UTC" else ZoneInfo(zone_name)
        start = datetime(2024, 1, 15, 10, 17, 3, tzinfo=zone)
        for s in SCHEDULES:
            _check_agreement(s, zone, start)
            ow, oc, of = _ours(s.quartz, zone_name, start, number, repeat)
            ours_warm.append(ow)
            row = f"{s.quartz:<16} {zone_name:<14} {ow:9.2f}"
            cells_cold = f"{oc:9.2f}"
            cells_first = f"{of:8.2f}"
            if s.cronsim:
                cw, cc = _cronsim(s.cronsim, start, number, repeat)
                warm_vs_cronsim.append(cw / ow)
                cold_vs_cronsim.append(cc / oc)
                first_vs_cronsim.append(cc / of)
                row += f" {cw:8.2f} {cw / ow:5.1f}"
                cells_cold += f" {cc:8.2f} {cc / oc:5.1f}"
                cells_first += f" {cc / of:9.1f}"
            else:
                row += f" {'n/a':>8} {'':>5}"
                cells_cold += f" {'n/a':>8} {'':>5}"
                cells_first += f" {'n/a':>9}"
            if s.croniter:
                iw, ic = _croniter(s.croniter, start, number, repeat)
                warm_vs_croniter.append(iw / ow)
                row += f" {iw:9.2f} {iw / ow:5.1f}"
                cells_cold += f" {ic:9.2f} {ic / oc:5.1f}"
            print(f"{row} | {cells_cold} | {cells_first}")
    med_cronsim = statistics.median(warm_vs_cronsim)
    med_croniter = statistics.median(warm_vs_croniter)
    med_cold = statistics.median(cold_vs_cronsim)
    print()
    print(f"median warm next_after, gistasks: {statistics.median(ours_warm):.2f} us")
    print(f"median warm ratio vs cronsim:  {med_cronsim:5.1f}x  (target >= 3x)  "
          f"{'PASS' if med_cronsim >= 3 else 'MISS'}")
    print(f"median warm ratio vs croniter: {med_croniter:5.1f}x  (target >= 10x) "
          f"{'PASS' if med_croniter >= 10 else 'MISS'}")
    print(f"median cold ratio vs cronsim:  {med_cold:5.1f}x  (target >= 2x)  "
          f"{'PASS' if med_cold >= 2 else 'MISS'}")
    med_first = statistics.median(first_vs_cronsim)
    print(f"median first-parse ratio vs cronsim: {med_first:5.1f}x  (never-seen expression, "
          "no memo)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
