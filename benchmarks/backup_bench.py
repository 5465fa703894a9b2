"""Backup and restore benchmark: gistasks' backups against restic, on the same data, in one run.

The data: a data directory made by gistasks (``gistasks db upgrade``) whose SQLite database is
filled directly (``executemany``, values shaped like ``gistasks.store.schema``'s) with 100,000
tasks, 1,000,000 runs (ten fires a task, unique ``(task_id, scheduled_for)``), 200 users and
one item a file; and 1 GB (10**9 bytes) of item files ``content/<item id>/<name>``: 200
files of 2.5 to 7.5 MB, one in five GeoJSON-like text (which zstd's level 3 shrinks about 5x),
the others random bytes (incompressible); plus ``token-key`` and ``secret-key``. Its size
(every regular file in it: the database and the files) is the figure all throughputs divide:
MB/s = that size in MB / the step's seconds (MB = 10**6 bytes).

The steps, each a command run as a user runs it, in a child process of its own, the server not
running; its wall time is from the spawn to its exit (Python's start, the passcode's scrypt and
all), its CPU time and peak RSS the child's own (``os.wait4`` in a small wrapper process, so
that the benchmark's own memory does not leak into ``ru_maxrss``):

* **gistasks backup**: ``gistasks backup create bench<N> --data-dir D`` (the default store,
  ``D/backups``; the file is then moved out of ``D``, so that restic sees the same directory);
* **gistasks verify**: ``gistasks backup verify FILE`` (every chunk decrypted, every member's
  SHA-256 checked);
* **gistasks restore**: ``gistasks restore FILE --data-dir D2``, ``D2`` not existing before;
  then ``D2``'s database must hold the tasks and runs, and every item file (and key) must be
  byte-identical (SHA-256 of each against the one taken when it was written);
* **restic** (Debian's package, its defaults: repository format 2 where 0.14+ makes it, the
  ``auto`` compression, its cache in the work directory): ``restic init``, ``restic backup D``,
  ``restic check --read-data`` (the counterpart of verify), ``restic restore latest --target
  D3`` (checked the same way). The repository's size is the sum of its files' sizes.

Before each step the page cache's dirty pages are written out (``sync``, not timed); with
``--drop-caches`` (root only) the page cache is also dropped, so that each step reads from
the disk; both tools are treated alike. The ``sync`` after each step is timed too and shown
apart (``+sync``): gistasks syncs what it writes before it exits, restic's restore does not.
The machine may be shared: ``others`` is how many cores the rest of it kept busy during the
step (``/proc/stat`` less the step's own CPU time), and ``--repeat N`` measures every step N
times, the tools taking turns to go first, and reports each step's fastest repetition (all
of them are listed too). The commit and a digest of gistasks' sources are printed, and a
warning if they changed during the run (the steps that ran each version are listed).

Reported: a table (seconds, CPU seconds, MB/s, output size, peak RSS per step), the ratios
gistasks / restic of the backup and restore throughputs, and PASS/MISS for the targets (>= 150
MB/s each way, faster than restic each way, peak RSS under 300 MB). Each command's output,
time-stamped, and its standard error are in ``logs/`` of the work directory (``--keep``).

Run: ``make bench-backup`` or ``.venv/bin/python benchmarks/backup_bench.py [--scale 0.1]
[--repeat N] [--workdir DIR] [--keep] [--drop-caches] [--no-restic]``. ``--scale`` multiplies
the tasks, the runs and the files (the targets are meant for the full size). The work
directory (by default a new one under /tmp) is removed at the end unless ``--keep``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

ROOT = Path(__file__).resolve().parents[1]
GISTASKS = ROOT / ".venv" / "bin" / "gistasks"
PASSCODE = "benchmark passcode 2024"
BACKUP_NAME = "bench1"
MB = 1_000_000
TASKS = 100_000
RUNS = 1_000_000
FILES_BYTES = 1_000_000_000
FILES = 200
USERS = 200
TEXT_EVERY = 5
"""One item file in this many is compressible text, the others random bytes."""
DAY_MS = 86_400_000
BASE_MS = 1_700_000_000_000
TARGET_MBPS = 150.0
TARGET_RSS_MB = 300.0
TASK_TYPES = ("ExecuteNotebook", "GPService", "ExecuteReport", "CreateBackup", "Ping",
              "CleanGPJobs", "UpdateInsightsWorkbook")
ZONES = ("UTC", "Europe/Paris", "America/New_York", "Asia/Tokyo", "Australia/Sydney")
ITEM_TYPES = (("GeoJson", ".geojson"), ("File Geodatabase", ".zip"), ("Image", ".tif"),
              ("Shapefile", ".zip"), ("Vector Tile Package", ".vtpk"))


# -- the data ---------------------------------------------------------------------------------


@dataclass
class Data:
    """The data directory made, and what its copies are checked against."""

    root: Path
    tasks: int
    runs: int
    hashes: dict[str, str]
    """SHA-256 of every item file and key, by path relative to the data directory."""
    random_bytes: int = 0
    text_bytes: int = 0

    def size(self) -> int:
        """Bytes of every regular file in the data directory but its backup stores."""
        total = 0
        for path in self.root.rglob("*"):
            rel = path.relative_to(self.root).parts
            if rel[0] in ("backups", "backupstores") or path.is_symlink():
                continue
            if path.is_file():
                total += path.stat().st_size
        return total


def _hex_ids(count: int, rnd: random.Random) -> list[str]:
    raw = rnd.randbytes(16 * count).hex()
    return [raw[i:i + 32] for i in range(0, len(raw), 32)]


def _task_rows(ids: list[str], item_ids: list[str], rnd: random.Random
               ) -> Iterator[tuple[Any, ...]]:
    for n, task_id in enumerate(ids):
        kind = TASK_TYPES[n % len(TASK_TYPES)]
        owner = f"user{n % USERS:03d}"
        item_id = item_ids[n % len(item_ids)] if kind in ("ExecuteNotebook",
                                                          "UpdateInsightsWorkbook") else None
        url = (f"https://gis.example.com/server/rest/services/Tools/Tool{n % 50}/GPServer/"
               f"Run{n % 7}" if kind == "GPService" else None)
        minute, hour = rnd.randrange(60), rnd.randrange(24)
        parameters = json.dumps({"title": f"nightly {kind} {n}", "timeoutInMinutes": 30,
                                 "updatePortalItem": n % 2 == 0,
                                 "parameters": {"region": f"r{n % 40}", "year": 2020 + n % 5},
                                 "notifyOnFailure": [f"{owner}@example.com"]})
        created = BASE_MS - rnd.randrange(365) * DAY_MS
        yield (task_id, "user" if n % 10 else "system", owner, kind, f"{kind} task {n}",
               item_id, url, parameters, f"0 {minute} {hour} * * ?", ZONES[n % len(ZONES)],
               "shift", "earlier", created, None, -1, 10, 0, 1, "active", None, "skip",
               BASE_MS + DAY_MS + (hour * 60 + minute) * 60_000, BASE_MS, created, BASE_MS, 10,
               "")


def _run_rows(task_ids: list[str], per_task: int, count: int, rnd: random.Random
              ) -> Iterator[tuple[Any, ...]]:
    run_ids = _hex_ids(count, rnd)
    for n, run_id in enumerate(run_ids):
        task_id = task_ids[n // per_task]
        fire = BASE_MS - (n % per_task + 1) * DAY_MS + (n // per_task) % 1440 * 60_000
        took = 200 + rnd.randrange(120_000)
        if n % 23 == 0:
            status, result = "failed", f"the tool failed: error 999999 after {took} ms"
        else:
            status, result = "succeeded", f"completed in {took / 1000:.1f} s"
        url = (f"https://gis.example.com/server/rest/services/Tools/GPServer/jobs/j{run_id}"
               if n % 3 == 0 else "")
        yield (run_id, task_id, fire, status, result, url, "node-1", None, 1, fire, fire + 40,
               fire + 40 + took, fire + 40 + took)


def _columns(conn: sqlite3.Connection, table: str) -> list[str]:
    return [r[1] for r in conn.execute(f'PRAGMA table_info("{table}")')]


def _insert(conn: sqlite3.Connection, table: str, names: Sequence[str],
            rows: Iterator[tuple[Any, ...]]) -> None:
    missing = set(_columns(conn, table)) - set(names)
    if missing:
        raise SystemExit(f"the benchmark does not fill {table}.{sorted(missing)}: update it")
    cols = ", ".join(f'"{c}"' for c in names)
    marks = ", ".join("?" for _ in names)
    conn.executemany(f'INSERT INTO "{table}" ({cols}) VALUES ({marks})', rows)


TASK_COLUMNS = ("id", "scope", "owner", "type", "title", "item_id", "task_url", "parameters",
                "cron_expression", "time_zone", "dst_gap", "dst_overlap", "start_date",
                "end_date", "max_occurrences", "occurrences", "consecutive_failures", "active",
                "task_state", "misfire_grace_ms", "overlap_policy", "next_fire_at",
                "last_start", "created", "updated", "generation", "state_reason")
RUN_COLUMNS = ("id", "task_id", "scheduled_for", "status", "result", "url", "node",
               "lease_until", "attempt", "created", "started", "ended", "modified")
USER_COLUMNS = ("username", "id", "full_name", "email", "role", "password_hash", "disabled",
                "credentials_version", "created", "modified")
ITEM_COLUMNS = ("id", "owner", "folder_id", "type", "title", "name", "data_kind", "url",
                "tags", "type_keywords", "description", "snippet", "access", "size", "status",
                "status_message", "created", "modified")


def _text_block(rnd: random.Random, start: int, size: int) -> bytes:
    """GeoJSON-like features, about ``size`` bytes, numbered from ``start``."""
    lines = []
    got = 0
    n = start
    while got < size:
        x, y = rnd.uniform(-180, 180), rnd.uniform(-90, 90)
        line = (f'{{"type":"Feature","id":{n},"geometry":{{"type":"Point","coordinates":'
                f'[{x:.6f},{y:.6f}]}},"properties":{{"name":"site {rnd.randrange(10**6)}",'
                f'"kind":"{ITEM_TYPES[n % 5][0]}","value":{rnd.randrange(10**4)},'
                f'"updated":{BASE_MS - rnd.randrange(10**9)}}}}},\n')
        lines.append(line)
        got += len(line)
        n += 1
    return "".join(lines).encode()


def _write_item_file(path: Path, size: int, text: bool, rnd: random.Random) -> str:
    digest = hashlib.sha256()
    block = 1 << 20
    with path.open("wb") as f:
        written = 0
        n = 0
        while written < size:
            want = min(block, size - written)
            data = _text_block(rnd, n, want)[:want] if text else os.urandom(want)
            n += 10_000
            f.write(data)
            digest.update(data)
            written += len(data)
    return digest.hexdigest()


def make_data(root: Path, scale: float, env: dict[str, str]) -> Data:
    """A data directory like a deployment's, of ``scale`` times the full size."""
    rnd = random.Random(20240601)
    tasks = max(10, round(TASKS * scale))
    per_task = RUNS // TASKS
    runs = tasks * per_task
    files = max(5, round(FILES * scale))
    files_bytes = round(FILES_BYTES * scale)
    subprocess.run([str(GISTASKS), "db", "upgrade", "--data-dir", str(root)], check=True,
                   env=env, stdout=subprocess.DEVNULL)
    hashes: dict[str, str] = {}
    for name in ("token-key", "secret-key"):
        key = os.urandom(32)
        fd = os.open(root / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(key)
        hashes[name] = hashlib.sha256(key).hexdigest()

    weights = [rnd.uniform(0.5, 1.5) for _ in range(files)]
    sizes = [int(files_bytes * w / sum(weights)) for w in weights]
    sizes[-1] += files_bytes - sum(sizes)
    item_ids = _hex_ids(files, rnd)
    data = Data(root, tasks, runs, hashes)
    items: list[tuple[Any, ...]] = []
    content = root / "content"
    for n, (item_id, size) in enumerate(zip(item_ids, sizes, strict=True)):
        text = n % TEXT_EVERY == 0
        kind, ext = ITEM_TYPES[0] if text else ITEM_TYPES[1 + n % 4]
        name = f"dataset_{n:04d}{ext}"
        folder = content / item_id
        folder.mkdir(parents=True, mode=0o700)
        hashes[f"content/{item_id}/{name}"] = _write_item_file(folder / name, size, text, rnd)
        if text:
            data.text_bytes += size
        else:
            data.random_bytes += size
        created = BASE_MS - n * DAY_MS
        items.append((item_id, f"user{n % USERS:03d}", None, kind, f"Dataset {n}", name,
                      "file", "", json.dumps(["bench", kind.lower()]), "[]",
                      f"Dataset {n} for the backup benchmark", f"dataset {n}", "private",
                      size, "", "", created, created))

    conn = sqlite3.connect(root / "gistasks.db")
    try:
        conn.execute("PRAGMA synchronous=OFF")
        conn.execute("PRAGMA cache_size=-262144")  # 256 MiB: the indexes stay in memory
        with conn:
            _insert(conn, "users", USER_COLUMNS, (
                (f"user{n:03d}", _hex_ids(1, rnd)[0], f"User {n}", f"user{n:03d}@example.com",
                 "org_admin" if n == 0 else "org_user",
                 "scrypt$16384$8$1$" + rnd.randbytes(48).hex(), 0, 0, BASE_MS, BASE_MS)
                for n in range(USERS)))
            _insert(conn, "items", ITEM_COLUMNS, iter(items))
            task_ids = _hex_ids(tasks, rnd)
            _insert(conn, "tasks", TASK_COLUMNS, _task_rows(task_ids, item_ids, rnd))
            _insert(conn, "runs", RUN_COLUMNS, _run_rows(task_ids, per_task, runs, rnd))
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()
    return data


def check_copy(data: Data, copy: Path) -> list[str]:
    """What differs between the data directory and its restored ``copy`` (empty if none)."""
    problems = []
    conn = sqlite3.connect(f"file:{copy / 'gistasks.db'}?mode=ro", uri=True)
    try:
        tasks = conn.execute("SELECT count(*) FROM tasks").fetchone()[0]
        runs = conn.execute("SELECT count(*) FROM runs").fetchone()[0]
    finally:
        conn.close()
    if (tasks, runs) != (data.tasks, data.runs):
        problems.append(f"{tasks} tasks and {runs} runs, not {data.tasks} and {data.runs}")
    for rel, digest in data.hashes.items():
        path = copy / rel
        if not path.is_file():
            problems.append(f"{rel} is missing")
            continue
        h = hashlib.sha256()
        with path.open("rb") as f:
            while block := f.read(1 << 20):
                h.update(block)
        if h.hexdigest() != digest:
            problems.append(f"{rel} differs")
    return problems


# -- measuring ------------------------------------------------------------------------------


@dataclass
class Step:
    tool: str
    step: str
    seconds: float
    rss_mb: float
    sync_s: float
    cpu_s: float
    others: float
    """Cores the rest of the machine kept busy meanwhile, on average (other processes, steal)."""
    source: str = ""
    """The digest of gistasks' sources when the step started (they may change meanwhile)."""
    output_mb: float | None = None
    lines: list[tuple[float, str]] = field(default_factory=list)
    """The child's output lines, with the seconds since its spawn they came at."""


WRAPPER = """
import json, os, sys, time
start = time.perf_counter()
pid = os.posix_spawnp(sys.argv[2], sys.argv[2:], os.environ)
_, status, usage = os.wait4(pid, 0)
seconds = time.perf_counter() - start
with open(sys.argv[1], "w") as f:
    json.dump({"seconds": seconds, "code": os.waitstatus_to_exitcode(status),
               "maxrss_kib": usage.ru_maxrss, "user": usage.ru_utime,
               "system": usage.ru_stime}, f)
"""
"""Runs a command and writes its wall time and rusage (``os.wait4``) to a file. A child's
``ru_maxrss`` starts from the RSS of the process it was forked from (Linux carries the old
memory's high-water mark across ``exec``): this small wrapper, not the benchmark (which holds
hundreds of MB after making the data), is what the measured command is forked from."""


def source_digest() -> str:
    """A digest of every source file of gistasks, as the child about to run will import it."""
    digest = hashlib.sha256()
    for path in sorted((ROOT / "src" / "gistasks").rglob("*.py")):
        digest.update(path.relative_to(ROOT).as_posix().encode() + b"\0")
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def source_state() -> str:
    """The commit, the sources' digest and the files changed since the commit."""
    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True,
                              text=True, check=False).stdout

    changed = [line[3:] for line in git("status", "--porcelain", "--", "src").splitlines()]
    head = git("rev-parse", "--short", "HEAD").strip() or "?"
    return (f"git {head}, sources {source_digest()}"
            + (f", uncommitted: {', '.join(changed)}" if changed else ""))


def _busy_cpu_s() -> float:
    """CPU seconds the whole machine has been busy since boot (``/proc/stat``)."""
    with open("/proc/stat") as f:
        values = [int(v) for v in f.readline().split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = values[:8]
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


class Runner:
    """Runs each measured command in a child of its own (through ``WRAPPER``)."""

    def __init__(self, logs: Path, drop_caches: bool) -> None:
        self.logs = logs
        self.drop_caches = drop_caches

    def _settle(self) -> None:
        os.sync()
        if self.drop_caches:
            Path("/proc/sys/vm/drop_caches").write_text("3\n")

    def run(self, tool: str, step: str, cmd: list[str], env: dict[str, str],
            rep: int = 0) -> Step:
        self._settle()
        source = source_digest()
        lines: list[tuple[float, str]] = []
        stem = self.logs / f"{rep}-{tool}-{step}"
        err_path, usage_path = stem.with_suffix(".stderr"), stem.with_suffix(".usage")
        with err_path.open("wb") as err:
            busy = _busy_cpu_s()
            start = time.perf_counter()
            proc = subprocess.Popen([sys.executable, "-I", "-S", "-c", WRAPPER,
                                     str(usage_path), *cmd], stdout=subprocess.PIPE,
                                    stderr=err, env=env, stdin=subprocess.DEVNULL)
            assert proc.stdout is not None
            reader = threading.Thread(target=_collect, args=(proc.stdout, start, lines),
                                      daemon=True)
            reader.start()
            proc.wait()
            busy = _busy_cpu_s() - busy
            reader.join()
            proc.stdout.close()
        synced = time.perf_counter()
        os.sync()
        sync_s = time.perf_counter() - synced
        stem.with_suffix(".stdout").write_text(
            "".join(f"{t:8.3f} {line}\n" for t, line in lines))
        usage = json.loads(usage_path.read_text()) if usage_path.exists() else {}
        if proc.returncode != 0 or usage.get("code") != 0:
            raise SystemExit(f"{tool} {step} failed ({usage.get('code', proc.returncode)}): "
                             f"{' '.join(cmd)}\n{err_path.read_text()[-3000:]}")
        seconds = float(usage["seconds"])
        cpu_s = float(usage["user"]) + float(usage["system"])
        return Step(tool, step, seconds, int(usage["maxrss_kib"]) * 1024 / MB, sync_s, cpu_s,
                    max(0.0, busy - cpu_s) / seconds, source, lines=lines)


def _collect(stream: IO[bytes], start: float, lines: list[tuple[float, str]]) -> None:
    for raw in stream:
        lines.append((time.perf_counter() - start, raw.decode(errors="replace").rstrip()))


def _tree_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def _restic_version() -> str:
    return subprocess.run(["restic", "version"], capture_output=True, text=True,
                          check=True).stdout.strip()


def _restic_repo_version(env: dict[str, str]) -> str:
    out = subprocess.run(["restic", "cat", "config"], capture_output=True, text=True, env=env,
                         check=False).stdout
    try:
        return str(json.loads(out).get("version", "?"))
    except json.JSONDecodeError:
        return "?"


def measure_gistasks(runner: Runner, data: Data, work: Path, env: dict[str, str], rep: int
                     ) -> tuple[list[Step], list[str], list[Path]]:
    """Backup, verify and restore; the steps, what differs in the copy, what was made."""
    cli, name = str(GISTASKS), f"bench{rep + 1}"
    backup = runner.run("gistasks", "backup", [cli, "backup", "create", name, "--data-dir",
                                               str(data.root)], env, rep)
    made = data.root / "backups" / f"{name}.gtbackup"
    archive = work / made.name
    os.replace(made, archive)  # out of the data directory: restic backs up the same files
    backup.output_mb = archive.stat().st_size / MB
    verify = runner.run("gistasks", "verify", [cli, "backup", "verify", str(archive)], env, rep)
    target = work / f"restored-gistasks-{rep + 1}"
    restore = runner.run("gistasks", "restore", [cli, "restore", str(archive), "--data-dir",
                                                 str(target)], env, rep)
    restore.output_mb = _tree_bytes(target) / MB
    problems = [f"gistasks restore: {p}" for p in check_copy(data, target)]
    return [backup, verify, restore], problems, [archive, target]


def measure_restic(runner: Runner, data: Data, work: Path, env: dict[str, str], rep: int
                   ) -> tuple[list[Step], list[str], list[Path]]:
    """Init, backup, check and restore, in a new repository."""
    repo = work / f"restic-repo-{rep + 1}"
    renv = dict(env, RESTIC_REPOSITORY=str(repo), RESTIC_PASSWORD=PASSCODE,
                RESTIC_CACHE_DIR=str(work / "restic-cache"))
    init = runner.run("restic", "init", ["restic", "init"], renv, rep)
    backup = runner.run("restic", "backup", ["restic", "backup", str(data.root)], renv, rep)
    backup.output_mb = _tree_bytes(repo) / MB
    check = runner.run("restic", "check", ["restic", "check", "--read-data"], renv, rep)
    target = work / f"restored-restic-{rep + 1}"
    restore = runner.run("restic", "restore", ["restic", "restore", "latest", "--target",
                                               str(target)], renv, rep)
    copy = target / data.root.relative_to("/")
    restore.output_mb = _tree_bytes(copy) / MB
    problems = [f"restic restore: {p}" for p in check_copy(data, copy)]
    return [init, backup, check, restore], problems, [repo, target]


# -- the report -----------------------------------------------------------------------------


def _mbps(size_mb: float, seconds: float) -> float:
    return size_mb / seconds if seconds > 0 else float("nan")


def best_steps(rounds: list[list[Step]]) -> list[Step]:
    """Each step's fastest repetition, in the order of the first round."""
    best: dict[tuple[str, str], Step] = {}
    for steps in rounds:
        for s in steps:
            key = (s.tool, s.step)
            if key not in best or s.seconds < best[key].seconds:
                best[key] = s
    order = sorted(best, key=lambda k: (k[0] != "gistasks", [x.step for x in rounds[0]
                                                              if x.tool == k[0]].index(k[1])))
    return [best[k] for k in order]


def report(rounds: list[list[Step]], size_mb: float) -> bool:
    steps = best_steps(rounds)
    print()
    if len(rounds) > 1:
        print(f"the fastest of {len(rounds)} repetitions of each step (all of them below)")
    print(f"{'tool':<9} {'step':<8} {'seconds':>8} {'+sync':>6} {'CPU s':>6} {'others':>6} "
          f"{'MB/s':>7} {'output MB':>10} {'peak RSS MB':>12}")
    for s in steps:
        rate = "" if s.step == "init" else f"{_mbps(size_mb, s.seconds):7.0f}"
        out = "" if s.output_mb is None else f"{s.output_mb:10.0f}"
        print(f"{s.tool:<9} {s.step:<8} {s.seconds:8.2f} {s.sync_s:6.2f} {s.cpu_s:6.1f} "
              f"{s.others:6.2f} {rate:>7} {out:>10} {s.rss_mb:12.0f}")
    if len(rounds) > 1:
        print()
        for s in steps:
            every = [x for r in rounds for x in r if (x.tool, x.step) == (s.tool, s.step)]
            shown = ", ".join(f"{x.seconds:.2f} s (others {x.others:.1f})" for x in every)
            print(f"{s.tool} {s.step}: {shown}")
    by = {(s.tool, s.step): s for s in steps}
    worst_rss = {k: max(x.rss_mb for r in rounds for x in r if (x.tool, x.step) == k)
                 for k in by}
    checks: list[tuple[str, str, bool]] = []
    if ("restic", "backup") in by:
        print()
    for step in ("backup", "restore"):
        mine = by[("gistasks", step)]
        mbps = _mbps(size_mb, mine.seconds)
        checks.append((f"gistasks {step} >= {TARGET_MBPS:.0f} MB/s", f"{mbps:.0f} MB/s",
                       mbps >= TARGET_MBPS))
        theirs = by.get(("restic", step))
        if theirs is not None:
            ratio = theirs.seconds / mine.seconds
            print(f"{step} throughput gistasks / restic: {ratio:.2f}x")
            checks.append((f"gistasks {step} faster than restic", f"{ratio:.2f}x",
                           ratio > 1.0))
    for step in ("backup", "verify", "restore"):
        rss = worst_rss[("gistasks", step)]
        checks.append((f"gistasks {step} peak RSS < {TARGET_RSS_MB:.0f} MB", f"{rss:.0f} MB",
                       rss < TARGET_RSS_MB))
    print()
    print(f"{'target':<42} {'measured':>10}")
    for label, shown, ok in checks:
        print(f"{label:<42} {shown:>10}  {'PASS' if ok else 'MISS'}")
    return all(ok for _, _, ok in checks)


def _environment() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("GISTASKS_", "RESTIC_"))}
    env["GISTASKS_BACKUP_PASSCODE"] = PASSCODE
    return env


def _remove(paths: list[Path]) -> None:
    for path in paths:
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--scale", type=float, default=1.0,
                        help="times the full size (100,000 tasks, 1,000,000 runs, 1 GB)")
    parser.add_argument("--repeat", type=int, default=1,
                        help="measure every step this many times, the tools taking turns to "
                        "go first, and report the fastest (default 1)")
    parser.add_argument("--workdir", type=Path, help="where the temporary data goes (default: "
                        "a new directory under /tmp)")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    parser.add_argument("--drop-caches", action="store_true",
                        help="drop the page cache before each step (root only)")
    parser.add_argument("--no-restic", action="store_true", help="measure gistasks only")
    args = parser.parse_args(argv)
    if not args.scale > 0:
        parser.error("--scale must be positive")
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    if not args.no_restic and shutil.which("restic") is None:
        parser.error("restic is not installed (make bench-backup installs Debian's)")
    if args.drop_caches and os.geteuid() != 0:
        parser.error("--drop-caches needs root")
    if args.workdir:
        args.workdir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="backup-bench-", dir=args.workdir or "/tmp"))
    env = _environment()
    try:
        logs = work / "logs"
        logs.mkdir()
        print(f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load average "
              f"{os.getloadavg()[0]:.2f}; work directory {work}")
        started = time.perf_counter()
        data = make_data(work / "data", args.scale, env)
        size_mb = data.size() / MB
        db_mb = (data.root / "gistasks.db").stat().st_size / MB
        print(f"gistasks: {source_state()}")
        print(f"data directory made in {time.perf_counter() - started:.1f} s: {data.tasks} "
              f"tasks, {data.runs} runs, {len(data.hashes) - 2} item files "
              f"({data.random_bytes / MB:.0f} MB random, {data.text_bytes / MB:.0f} MB text); "
              f"{size_mb:.0f} MB in all (database {db_mb:.0f} MB)")
        print("page cache: " + ("dropped before each step" if args.drop_caches else
                                "warm (sync before each step, not dropped)"))
        if not args.no_restic:
            print(_restic_version())
        runner = Runner(logs, args.drop_caches)
        rounds: list[list[Step]] = []
        problems: list[str] = []
        repo_version = "?"
        for rep in range(args.repeat):
            steps: list[Step] = []
            tools = ["gistasks"] if args.no_restic else ["gistasks", "restic"]
            made: list[Path] = []
            for tool in tools if rep % 2 == 0 else tools[::-1]:
                if tool == "gistasks":
                    got, wrong, paths = measure_gistasks(runner, data, work, env, rep)
                else:
                    got, wrong, paths = measure_restic(runner, data, work, env, rep)
                    repo_version = _restic_repo_version(dict(
                        env, RESTIC_REPOSITORY=str(paths[0]), RESTIC_PASSWORD=PASSCODE))
                steps += got
                problems += wrong
                made += paths
            rounds.append(steps)
            if rep + 1 < args.repeat:
                _remove(made)
        if not args.no_restic:
            print(f"restic: repository format {repo_version}, compression 'auto' (its "
                  "default)")
        for s in best_steps(rounds):
            if s.tool == "gistasks":
                marks = [f"{line.split()[1]} {t:.1f}" for t, line in s.lines
                         if line.startswith(f"{s.step}: ")]
                print(f"gistasks {s.step} progress (share of bytes, seconds since spawn): "
                      f"{', '.join(marks)}; exit {s.seconds:.1f}")
        passed = report(rounds, size_mb)
        versions = {x.source for r in rounds for x in r if x.tool == "gistasks"}
        if len(versions) > 1 or source_digest() not in versions:
            print()
            print(f"WARNING: gistasks' sources changed during the run (now {source_state()}):")
            for r in rounds:
                for x in r:
                    if x.tool == "gistasks":
                        print(f"  {x.step}: {x.seconds:.2f} s with sources {x.source}")
        print()
        if problems:
            print("RESTORED COPIES DIFFER:")
            for problem in problems[:20]:
                print(f"  {problem}")
        else:
            print(f"restored copies checked: {data.tasks} tasks, {data.runs} runs, "
                  f"{len(data.hashes)} files byte-identical (SHA-256), each restore")
        print("others: cores kept busy by the rest of the machine during the step (of "
              f"{os.cpu_count()}); load average now {os.getloadavg()[0]:.2f}")
        return 0 if passed and not problems else 1
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
