"""Scheduler benchmark: gistasks against APScheduler 3.11 on SQLite, measured in one run.

N tasks (default 100,000) with a no-op task type. Task i fires at second ``i % 60`` of 36 of
the 60 minutes of every hour (``(i // 60 + minute) % 5 < 3``), so that about 1,000 tasks fire
in every second. Both schedulers run the same schedules for the same time (default 60 s), each
in its own process, and report:

* fire lateness: start of execution minus scheduled time, p50, p99 and max;
* fires per second sustained; fires missed (expected in the window but never started) and fires
  started twice;
* peak RSS of the process; start-up time with the N tasks stored.

APScheduler uses its SQLAlchemyJobStore on SQLite, with the same SQLite settings as gistasks
(WAL, ``synchronous=NORMAL``), a thread pool of 8, the same cron schedules (``CronTrigger``) and
a no-op job; its misfire grace time is raised to 60 s so that late fires still run (and count
as late rather than missed).

Run: ``.venv/bin/python benchmarks/scheduler_bench.py [--tasks N] [--seconds S]``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from _stats import percentile

WARMUP_S = 5  # the window starts this long after the first scheduled fire


def minutes_for(group: int) -> list[int]:
    return [m for m in range(60) if (group + m) % 5 < 3]


def schedule_of(i: int) -> tuple[int, list[int]]:
    """(second, minutes) of task i."""
    return i % 60, minutes_for((i // 60) % 5)


def expected_fires(n: int, start_ms: int, end_ms: int) -> int:
    """How many fires the N schedules have in [start, end)."""
    total = 0
    for t in range(start_ms // 1000 * 1000, end_ms, 1000):
        if t < start_ms:
            continue
        second = (t // 1000) % 60
        minute = (t // 60000) % 60
        in_slot = len(range(second, n, 60))  # tasks with this second
        # tasks with this second whose group admits this minute
        groups = Counter(((i // 60) % 5) for i in range(second, n, 60))
        total += sum(c for g, c in groups.items() if (g + minute) % 5 < 3)
        del in_slot
    return total


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# -- gistasks ------------------------------------------------------------------------------------


def run_gistasks(n: int, seconds: int, workdir: Path) -> dict[str, Any]:
    from gistasks.engine import Engine, EngineSettings
    from gistasks.engine.planner import first_fire_ms
    from gistasks.engine.planner import schedule_of as cron_of
    from gistasks.security.secretbox import SecretBox
    from gistasks.store import Store, new_id
    from gistasks.store.records import OverlapPolicy, Scope, TaskRecord, TaskState
    from gistasks.tasktypes import Registry

    url = f"sqlite:///{workdir / 'gistasks.db'}"
    store = Store(url)
    store.migrate()
    # The first fires come after loading, so the run starts from a steady state.
    begin_ms = (int(time.time()) + 30 + n // 10_000) * 1000
    records = []
    for i in range(n):
        second, minutes = schedule_of(i)
        expr = f"{second} {','.join(map(str, minutes))} * * * ?"
        cron = cron_of(expr, "UTC", "shift", "earlier")
        nxt = first_fire_ms(cron, begin_ms, None, None)
        records.append(TaskRecord(
            id=new_id(), scope=Scope.USER, owner="bench", type="Ping", title=f"t{i}", item_id=None,
            task_url=None, parameters="{}", cron_expression=expr, time_zone="UTC",
            dst_gap="shift", dst_overlap="earlier", start_date=None, end_date=None,
            max_occurrences=-1, occurrences=0, consecutive_failures=0, active=True,
            task_state=TaskState.ACTIVE, misfire_grace_ms=None,
            overlap_policy=OverlapPolicy.ALLOW,
            next_fire_at=nxt, last_start=None, created=begin_ms, updated=begin_ms, generation=0))
    for k in range(0, n, 20_000):
        store.tasks.insert_many(records[k:k + 20_000])
    del records
    store.close()
    time.sleep(max(0.0, begin_ms / 1000 - 3 - time.time()))

    t0 = time.perf_counter()
    store = Store(url)
    store.migrate()
    engine = Engine(store, types=Registry.default(), secrets=SecretBox(os.urandom(32)),
                    settings=EngineSettings(workers=8, prefetch=200, history_user=1_000_000),
                    record_lateness=True)
    engine.start()
    engine.fire_due()
    startup_s = time.perf_counter() - t0

    window_start = begin_ms + WARMUP_S * 1000
    window_end = window_start + seconds * 1000
    time.sleep(max(0.0, (window_end - time.time() * 1000) / 1000 + 3))
    engine.stop(5)
    rows = store.runs.all()
    in_window = [r for r in rows if window_start <= r.scheduled_for < window_end]
    started = [r for r in in_window if r.started is not None]
    lateness = [float(r.started - r.scheduled_for) for r in started if r.started is not None]
    if os.environ.get("BENCH_DUMP"):
        per_second: dict[int, list[float]] = {}
        for r in started:
            if r.started is not None:
                per_second.setdefault(r.scheduled_for, []).append(r.started - r.scheduled_for)
        for sec in sorted(per_second):
            v = sorted(per_second[sec])
            print(sec % 60000, len(v), v[0], v[len(v) // 2], v[-1], file=sys.stderr)
    keys = Counter((r.task_id, r.scheduled_for) for r in rows)
    expected = expected_fires(n, window_start, window_end)
    store.close()
    return {
        "name": "gistasks", "startup_s": startup_s, "expected": expected,
        "started": len(started), "missed": max(0, expected - len(started)),
        "duplicates": sum(c - 1 for c in keys.values() if c > 1),
        "lateness_ms": lateness, "seconds": seconds, "peak_rss_mb": peak_rss_mb(),
    }


# -- APScheduler ------------------------------------------------------------------------------


_APS_STARTS: list[tuple[str, float]] = []
_APS_LOCK = threading.Lock()


def _aps_noop(job_id: str) -> None:
    stamp = time.time()
    with _APS_LOCK:
        _APS_STARTS.append((job_id, stamp))


def _wal_engine(url: str) -> Any:
    """An SQLAlchemy engine for APScheduler with gistasks' SQLite settings."""
    from sqlalchemy import create_engine, event

    engine = create_engine(url)

    @event.listens_for(engine, "connect")
    def _connect(dbapi_conn: Any, _record: Any) -> None:
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    return engine


def run_apscheduler(n: int, seconds: int, workdir: Path) -> dict[str, Any]:
    from apscheduler.executors.pool import ThreadPoolExecutor
    from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
    from apscheduler.schedulers.background import BackgroundScheduler
    from apscheduler.triggers.cron import CronTrigger

    from gistasks.cron import CronExpression

    logging.getLogger("apscheduler").setLevel(logging.CRITICAL)

    url = f"sqlite:///{workdir / 'aps.db'}"

    def new_scheduler() -> Any:
        return BackgroundScheduler(
            jobstores={"default": SQLAlchemyJobStore(engine=_wal_engine(url))},
            executors={"default": ThreadPoolExecutor(8)},
            job_defaults={"misfire_grace_time": 60, "coalesce": False, "max_instances": 10},
            timezone="UTC",
        )

    scheduler = new_scheduler()
    scheduler.start(paused=True)
    exprs: dict[str, CronExpression] = {}
    load_start = time.perf_counter()
    # Storing a job takes APScheduler about 2 ms here; the first fires come after loading.
    begin = int(time.time()) + 30 + n * 3 // 1000
    start_date = datetime.fromtimestamp(begin, UTC)
    for i in range(n):
        second, minutes = schedule_of(i)
        trigger = CronTrigger(second=second, minute=",".join(map(str, minutes)), timezone="UTC",
                              start_date=start_date)
        scheduler.add_job(_aps_noop, trigger, args=[f"t{i}"], id=f"t{i}")
    scheduler.shutdown(wait=True)
    print(f"APScheduler: {n} jobs stored in {time.perf_counter() - load_start:.0f} s",
          file=sys.stderr)
    time.sleep(max(0.0, begin - 3 - time.time()))

    t0 = time.perf_counter()
    scheduler = new_scheduler()
    scheduler.start()
    startup_s = time.perf_counter() - t0

    window_start = begin * 1000 + WARMUP_S * 1000
    window_end = window_start + seconds * 1000
    time.sleep(max(0.0, (window_end - time.time() * 1000) / 1000 + 3))
    scheduler.shutdown(wait=False)
    with _APS_LOCK:
        starts = list(_APS_STARTS)
    lateness = []
    seen: Counter[tuple[str, int]] = Counter()
    for job_id, stamp in starts:
        i = int(job_id[1:])
        second, minutes = schedule_of(i)
        expr = exprs.setdefault(f"{second} {minutes}", CronExpression(
            f"{second} {','.join(map(str, minutes))} * * * ?"))
        sched = expr.previous_before_epoch(int(stamp) + 1)
        if sched is None:
            continue
        sched_ms = sched * 1000
        seen[(job_id, sched_ms)] += 1
        if window_start <= sched_ms < window_end:
            lateness.append(stamp * 1000 - sched_ms)
    expected = expected_fires(n, window_start, window_end)
    return {
        "name": "APScheduler 3.11", "startup_s": startup_s, "expected": expected,
        "started": len(lateness), "missed": max(0, expected - len(lateness)),
        "duplicates": sum(c - 1 for c in seen.values() if c > 1),
        "lateness_ms": lateness, "seconds": seconds, "peak_rss_mb": peak_rss_mb(),
    }


# -- driver ---------------------------------------------------------------------------------


@dataclass
class Result:
    name: str
    p50: float
    p99: float
    max: float
    fires_per_s: float
    missed: int
    duplicates: int
    rss: float
    startup: float


def summarise(raw: dict[str, Any]) -> Result:
    lat = raw["lateness_ms"]
    return Result(raw["name"], percentile(lat, 0.5), percentile(lat, 0.99),
                  max(lat) if lat else float("nan"), raw["started"] / raw["seconds"],
                  raw["missed"], raw["duplicates"], raw["peak_rss_mb"], raw["startup_s"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tasks", type=int, default=100_000)
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--only", choices=("gistasks", "apscheduler"))
    args = parser.parse_args(argv)
    if args.only:
        with tempfile.TemporaryDirectory() as d:
            fn = run_gistasks if args.only == "gistasks" else run_apscheduler
            raw = fn(args.tasks, args.seconds, Path(d))
        print(json.dumps(raw))
        return 0
    results = []
    for which in ("gistasks", "apscheduler"):
        proc = subprocess.run(
            [sys.executable, __file__, "--only", which, "--tasks", str(args.tasks),
             "--seconds", str(args.seconds)],
            capture_output=True, text=True, env=os.environ.copy(), check=False)
        if proc.returncode != 0:
            print(f"{which} failed:\n{proc.stderr[-3000:]}", file=sys.stderr)
            return 1
        results.append(summarise(json.loads(proc.stdout.strip().splitlines()[-1])))
    print(f"{args.tasks} tasks, ~{args.tasks * 36 // 3600} fires/s scheduled, "
          f"{args.seconds} s window, SQLite")
    header = (f"{'scheduler':<18} {'p50 ms':>8} {'p99 ms':>9} {'max ms':>9} {'fires/s':>8} "
              f"{'missed':>7} {'dupes':>6} {'RSS MB':>7} {'start s':>8}")
    print(header)
    print("-" * len(header))
    for r in results:
        print(f"{r.name:<18} {r.p50:8.1f} {r.p99:9.1f} {r.max:9.1f} {r.fires_per_s:8.1f} "
              f"{r.missed:7d} {r.duplicates:6d} {r.rss:7.0f} {r.startup:8.2f}")
    ours, peer = results
    print()
    print(f"p99 lateness: APScheduler / gistasks = {peer.p99 / ours.p99:.1f}x; "
          f"throughput: gistasks / APScheduler = {ours.fires_per_s / peer.fires_per_s:.2f}x")
    checks = [
        ("p99 lateness <= 100 ms", ours.p99 <= 100),
        ("0 missed", ours.missed == 0),
        ("0 duplicates", ours.duplicates == 0),
        ("peak RSS <= 300 MB", ours.rss <= 300),
        ("start-up <= 5 s", ours.startup <= 5),
    ]
    for label, ok in checks:
        print(f"  {label:<24} {'PASS' if ok else 'MISS'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
