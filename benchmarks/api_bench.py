"""HTTPS API benchmark: the Sharing API user-task routes of a real ``gistasks serve``.

N user tasks (default 100,000) are stored for one user before the server starts, straight
through the store (a daily schedule at 03:00 UTC, so that none fires during the run). The
server runs as a subprocess on SQLite with its self-signed certificate; the client keeps its
HTTPS connections alive (HTTP/1.1, httpx) and sends the token as ``X-Esri-Authorization``.
Measured, in this order:

* task GET at concurrency 1: ``community/users/<u>/tasks/<id>`` over random stored ids, after
  a warm-up: p50, p99 and max latency;
* a list page of 100 at concurrency 1: ``.../tasks?start=<s>&num=100`` over random pages
  (1-based ``start``): p50, p99 (skipped, and said so, while the server does not page);
* task GETs per second at concurrency 16 (16 keep-alive connections, an ``httpx.AsyncClient``
  each, on one asyncio loop) for a fixed time: requests per second and p99 under that load;
* ``createTask`` per second (a daily schedule) at concurrency 1 and 4, every answer checked
  for ``success: true``;
* the server's peak RSS (``VmHWM``) at the end.

Targets: task GET p99 <= 20 ms at concurrency 1; >= 800 task GETs/s at concurrency 16;
>= 200 createTask/s. Client and server share the machine, so the CPU each used during each
measurement is printed (100 % = one core; the server's event loop is one thread, so about
100 % is its ceiling): a client near 100 %, or a server well under 100 % at concurrency 16,
means the figure is limited by something other than the server.

Run: ``.venv/bin/python benchmarks/api_bench.py [--tasks N] [--requests R] [--duration S]``,
``--quick`` for a smoke run with small numbers, ``--profile FILE`` to run the server under
cProfile (read the stats with ``pstats``; the figures are then slower).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import random
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from _stats import percentile

USER = "bench"
PASSWORD = "bench pass 1"
ADMIN_PASSWORD = "bench admin pass 1"
DAILY_EXPRESSION = "0 0 3 * * ?"  # Quartz: 03:00:00 every day
DAILY_FORM = {"minute": "0", "hour": "3", "dayOfMonth": "*", "month": "*", "dayOfWeek": "?"}
SEED_CHUNK = 20_000
PAGE = 100
WARMUP = 200


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- setup -----------------------------------------------------------------------------------


def seed(data: Path, n: int) -> list[str]:
    """Create the database, the user and N daily user tasks; returns the task ids."""
    from gistasks.engine.planner import first_fire_ms, schedule_of
    from gistasks.services.users import UserService
    from gistasks.store import Store, new_id
    from gistasks.store.records import OverlapPolicy, Scope, TaskRecord, TaskState

    store = Store(f"sqlite:///{data / 'gistasks.db'}")
    store.migrate()
    UserService(store).add(USER, PASSWORD, role="org_publisher")
    # The bench user owns 100,000 tasks: far past the per-user quota, which is lifted here.
    store.limits.set({"ScheduledTasksUserLimit": -1})
    now = time.time_ns() // 1_000_000
    nxt = first_fire_ms(schedule_of(DAILY_EXPRESSION, "UTC", "shift", "earlier"), now,
                        None, None)
    ids: list[str] = []
    for k in range(0, n, SEED_CHUNK):
        chunk = []
        for i in range(k, min(n, k + SEED_CHUNK)):
            task_id = new_id()
            ids.append(task_id)
            chunk.append(TaskRecord(
                id=task_id, scope=Scope.USER, owner=USER, type="Ping", title=f"bench {i}",
                item_id=None, task_url=None, parameters="{}", cron_expression=DAILY_EXPRESSION,
                time_zone="UTC", dst_gap="shift", dst_overlap="earlier", start_date=None,
                end_date=None, max_occurrences=-1, occurrences=0, consecutive_failures=0,
                active=True, task_state=TaskState.ACTIVE, misfire_grace_ms=None,
                overlap_policy=OverlapPolicy.SKIP,
                next_fire_at=nxt, last_start=None, created=now + i, updated=now + i,
                generation=0))
        store.tasks.insert_many(chunk)
    store.close()
    return ids


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    base: str  # https://127.0.0.1:<port>/arcgis/sharing/rest
    log: Path
    startup_s: float
    # uvicorn re-raises the signal it stopped on; only SIGINT (KeyboardInterrupt) lets
    # cProfile write its stats on the way out.
    stop_signal: signal.Signals = signal.SIGTERM


def start_server(data: Path, profile: Path | None = None) -> Server:
    """``gistasks serve`` on a free port, under cProfile (stats written at exit) if asked."""
    port = free_port()
    log = data / "server.log"
    prefix = ["-m", "cProfile", "-o", str(profile)] if profile is not None else []
    t0 = time.perf_counter()
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, *prefix, "-m", "gistasks", "serve", "--data-dir", str(data),
             "--port", str(port)],
            stdout=out, stderr=subprocess.STDOUT,
            env={**os.environ, "GISTASKS_ADMIN_PASSWORD": ADMIN_PASSWORD})
    base = f"https://127.0.0.1:{port}/arcgis/sharing/rest"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited:\n{log.read_text()[-3000:]}")
        try:
            httpx.get(f"{base}?f=json", verify=False, timeout=1)
            return Server(proc, base, log, time.perf_counter() - t0,
                          signal.SIGINT if profile is not None else signal.SIGTERM)
        except httpx.TransportError:
            time.sleep(0.1)
    stop_server(proc)
    raise RuntimeError("the server did not answer within 120 s")


def stop_server(proc: subprocess.Popen[bytes], sig: signal.Signals = signal.SIGTERM) -> None:
    """Stop the server this benchmark started (by its pid), then wait; SIGKILL after 20 s."""
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def get_token(base: str, client: httpx.Client | None = None) -> str:
    if client is None:
        with httpx.Client(verify=False) as own:
            return get_token(base, own)
    body = client.post(f"{base}/generateToken", data={
        "username": USER, "password": PASSWORD, "f": "json"}).json()
    if "token" not in body:
        raise RuntimeError(f"generateToken failed: {body}")
    return str(body["token"])


# -- measurements ----------------------------------------------------------------------------


def process_cpu_s(pid: int) -> float:
    """User plus system CPU seconds of process ``pid`` so far (all its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Phase:
    """The timed requests of one measurement, with the CPU both sides used meanwhile."""

    server_pid: int
    latencies_ms: list[float] = field(default_factory=list)
    wall_s: float = 0.0
    client_cpu_s: float = 0.0
    server_cpu_s: float = 0.0
    note: str = ""
    """Printed instead of the figures (a phase that could not be measured)."""
    context: str = ""
    """Printed under the figures (what else happened during the phase)."""
    wrk: tuple[int, float, float, float] | None = None
    """(requests, p50 ms, p99 ms, max ms) when wrk measured the phase."""
    _marks: tuple[float, float, float] = (0.0, 0.0, 0.0)

    def begin(self) -> None:
        self._marks = (time.perf_counter(), time.process_time(),
                       process_cpu_s(self.server_pid))

    def end(self) -> None:
        t0, c0, s0 = self._marks
        self.wall_s = time.perf_counter() - t0
        self.client_cpu_s = time.process_time() - c0
        self.server_cpu_s = process_cpu_s(self.server_pid) - s0

    @property
    def rate(self) -> float:
        count = self.wrk[0] if self.wrk else len(self.latencies_ms)
        return count / self.wall_s if self.wall_s else float("nan")

    def cpu_pct(self, seconds: float) -> float:
        return 100 * seconds / self.wall_s if self.wall_s else float("nan")


def _headers(token: str) -> dict[str, str]:
    return {"X-Esri-Authorization": f"Bearer {token}"}


def sync_client(token: str) -> httpx.Client:
    """One keep-alive HTTPS connection (HTTP/1.1)."""
    return httpx.Client(verify=False, http1=True, http2=False, timeout=60,
                        headers=_headers(token),
                        limits=httpx.Limits(max_connections=1, max_keepalive_connections=1))


def async_client(token: str) -> httpx.AsyncClient:
    """One keep-alive HTTPS connection (HTTP/1.1). Each concurrent worker gets its own: one
    pool of 16 connections costs httpx about twice the CPU per request and queues requests
    unfairly, which showed as a p99 of 400 ms that was the client's, not the server's."""
    return httpx.AsyncClient(verify=False, http1=True, http2=False, timeout=60,
                             headers=_headers(token),
                             limits=httpx.Limits(max_connections=1,
                                                 max_keepalive_connections=1))


def check_task(r: httpx.Response, task_id: str) -> None:
    body = r.json()
    if r.status_code != 200 or body.get("id") != task_id:
        raise RuntimeError(f"task GET {task_id}: HTTP {r.status_code} {str(body)[:300]}")


def measure_get_c1(server: Server, token: str, ids: list[str], n: int,
                   rng: random.Random) -> Phase:
    url = f"{server.base}/community/users/{USER}/tasks"
    phase = Phase(server.process.pid)
    with sync_client(token) as client:
        for _ in range(WARMUP):
            task_id = rng.choice(ids)
            check_task(client.get(f"{url}/{task_id}", params={"f": "json"}), task_id)
        phase.begin()
        for _ in range(n):
            task_id = rng.choice(ids)
            s = time.perf_counter()
            r = client.get(f"{url}/{task_id}", params={"f": "json"})
            phase.latencies_ms.append((time.perf_counter() - s) * 1000)
            check_task(r, task_id)
        phase.end()
    return phase


def measure_get_during_signins(server: Server, token: str, ids: list[str], n: int,
                               rng: random.Random, signers: int = 2) -> Phase:
    """Task GETs at concurrency 1 while ``signers`` clients call generateToken back to back:
    an argon2id check costs ~0.2 s of CPU, and on the event loop it would stall every other
    request behind it (p50 577 ms with 3 signers, measured before it moved to a thread)."""
    stopping = threading.Event()
    signed = [0] * signers

    def sign_in(k: int) -> None:
        with httpx.Client(verify=False, timeout=60) as client:
            while not stopping.is_set():
                get_token(server.base, client)
                signed[k] += 1

    threads = [threading.Thread(target=sign_in, args=(k,)) for k in range(signers)]
    for t in threads:
        t.start()
    try:
        phase = measure_get_c1(server, token, ids, n, rng)
    finally:
        stopping.set()
        for t in threads:
            t.join()
    phase.context = f"{sum(signed)} sign-ins by {signers} clients meanwhile"
    return phase


def measure_list_c1(server: Server, token: str, n_tasks: int, n: int,
                    rng: random.Random) -> Phase:
    url = f"{server.base}/community/users/{USER}/tasks"
    phase = Phase(server.process.pid)
    pages = max(1, n_tasks // PAGE)
    with sync_client(token) as client:
        # One probe first: while the server answers every task in one page, say so and stop.
        probe = client.get(url, params={"f": "json", "start": "1", "num": str(PAGE)},
                           timeout=300).json()
        got = len(probe.get("tasks", []))
        if got != min(PAGE, n_tasks):
            phase.note = (f"not paged: start=1&num={PAGE} answered {got} tasks "
                          f"(nextStart {probe.get('nextStart')})")
            return phase
        for _ in range(min(20, n)):  # warm-up
            client.get(url, params={"f": "json", "start": "1", "num": str(PAGE)})
        phase.begin()
        for _ in range(n):
            start = 1 + PAGE * rng.randrange(pages)
            s = time.perf_counter()
            r = client.get(url, params={"f": "json", "start": str(start), "num": str(PAGE)})
            phase.latencies_ms.append((time.perf_counter() - s) * 1000)
            body = r.json()
            tasks = body.get("tasks")
            if not isinstance(tasks, list) or len(tasks) != PAGE:
                raise RuntimeError(f"list start={start}: {len(tasks or [])} tasks, "
                                   f"{str(body)[:300]}")
            if body.get("nextStart") != (start + PAGE if start + PAGE <= n_tasks else -1):
                raise RuntimeError(f"list start={start}: nextStart {body.get('nextStart')}")
        phase.end()
    return phase


async def run_workers(phase: Phase, clients: list[httpx.AsyncClient],
                      work: Callable[[httpx.AsyncClient], Awaitable[bool]]) -> Phase:
    """One coroutine per client calls ``work`` until it answers False; each call is timed."""

    async def worker(client: httpx.AsyncClient) -> None:
        while True:
            s = time.perf_counter()
            if not await work(client):
                return
            phase.latencies_ms.append((time.perf_counter() - s) * 1000)

    phase.begin()
    await asyncio.gather(*(worker(c) for c in clients))
    phase.end()
    for c in clients:
        await c.aclose()
    return phase


async def measure_get_concurrent(server: Server, token: str, ids: list[str], concurrency: int,
                                 duration: float, rng: random.Random) -> Phase:
    url = f"{server.base}/community/users/{USER}/tasks"
    errors = 0
    clients = [async_client(token) for _ in range(concurrency)]

    async def warm(client: httpx.AsyncClient) -> None:  # opens every connection
        for _ in range(WARMUP // concurrency + 1):
            await client.get(f"{url}/{rng.choice(ids)}", params={"f": "json"})

    await asyncio.gather(*(warm(c) for c in clients))
    deadline = time.perf_counter() + duration

    async def one(client: httpx.AsyncClient) -> bool:
        nonlocal errors
        if time.perf_counter() >= deadline:
            return False
        r = await client.get(f"{url}/{rng.choice(ids)}", params={"f": "json"})
        if r.status_code != 200 or not r.content.startswith(b'{"id":'):
            errors += 1
        return True

    phase = await run_workers(Phase(server.process.pid), clients, one)
    if errors:
        raise RuntimeError(f"{errors} task GETs at concurrency {concurrency} failed")
    return phase


def measure_get_wrk(server: Server, token: str, ids: list[str], concurrency: int,
                    duration: float, rng: random.Random) -> Phase:
    """Task GETs at ``concurrency`` driven by wrk (Debian's ``wrk``, C): a Python client
    spends about 2 ms of CPU per HTTPS request, so on a 2-core machine it, not the server,
    would be the limit. wrk reports latency percentiles and requests per second itself."""
    sample = [rng.choice(ids) for _ in range(2000)]
    script = ("local ids = {" + ",".join(f'"{i}"' for i in sample) + "}\n"
              "math.randomseed(1)\n"
              "request = function()\n"
              f'  return wrk.format("GET", "{_path(server)}/" .. ids[math.random(#ids)]'
              ' .. "?f=json")\n'
              "end\n")
    return run_wrk(server, token, concurrency, duration, script)


def measure_create_wrk(server: Server, token: str, concurrency: int,
                       duration: float) -> Phase:
    """createTask (a daily schedule) driven by wrk; every request must have created a task,
    which the list's ``total`` before and after proves."""
    before = _total(server, token)
    body = "&".join(f"{k}={v}" for k, v in {"f": "json", "type": "Ping", "title": "wrk",
                                            **DAILY_FORM}.items()).replace("?", "%3F")
    script = ('wrk.method = "POST"\n'
              f'wrk.path = "{_path(server)}/createTask"\n'
              f'wrk.body = "{body}"\n'
              'wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"\n')
    phase = run_wrk(server, token, concurrency, duration, script)
    assert phase.wrk is not None
    created = _total(server, token) - before
    # wrk stops with up to one request per connection in flight, which the server completes.
    if not phase.wrk[0] <= created <= phase.wrk[0] + concurrency:
        raise RuntimeError(f"wrk got {phase.wrk[0]} answers to createTask, {created} tasks "
                           "were created")
    return phase


def _path(server: Server) -> str:
    return f"/{server.base.split('/', 3)[3]}/community/users/{USER}/tasks"


def _total(server: Server, token: str) -> int:
    with sync_client(token) as client:
        body = client.get(f"{server.base}/community/users/{USER}/tasks",
                          params={"f": "json", "num": "1"}).json()
    return int(body["total"])


def run_wrk(server: Server, token: str, concurrency: int, duration: float,
            script_text: str) -> Phase:
    """Run wrk with one thread and ``concurrency`` keep-alive connections for ``duration``."""
    script = Path(tempfile.mkstemp(suffix=".lua")[1])
    script.write_text(script_text)
    phase = Phase(server.process.pid)
    try:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        phase.begin()
        out = subprocess.run(
            ["wrk", "-t1", f"-c{concurrency}", f"-d{duration:g}s", "--latency",
             "-H", f"X-Esri-Authorization: Bearer {token}", "-s", str(script),
             server.base.rsplit("/sharing/rest", 1)[0]],
            capture_output=True, text=True, check=True).stdout
        phase.end()
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    finally:
        script.unlink()
    phase.client_cpu_s = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    if re.search(r"Non-2xx or 3xx responses|Socket errors", out):
        raise RuntimeError(f"wrk saw errors:\n{out}")
    lat = {m.group(1): _wrk_ms(m.group(2), m.group(3))
           for m in re.finditer(r"^\s+(50|99)%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)}
    maximum = re.search(r"Latency\s+\S+\s+\S+\s+([\d.]+)(us|ms|s)", out)
    assert maximum is not None
    phase.wrk = (requests, lat["50"], lat["99"], _wrk_ms(maximum.group(1), maximum.group(2)))
    return phase


def _wrk_ms(value: str, unit: str) -> float:
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


async def measure_create(server: Server, token: str, concurrency: int, n: int) -> Phase:
    url = f"{server.base}/community/users/{USER}/tasks/createTask"
    left = n
    failures: list[str] = []
    clients = [async_client(token) for _ in range(concurrency)]
    for client in clients:  # the connections are open before the clock starts
        await client.get(f"{server.base}?f=json")

    async def one(client: httpx.AsyncClient) -> bool:
        nonlocal left
        if left <= 0:
            return False
        left -= 1
        r = await client.post(url, data={
            "f": "json", "type": "Ping", "title": f"created c{concurrency} #{left}",
            **DAILY_FORM})
        body = r.json()
        if body.get("success") is not True:
            failures.append(str(body)[:300])
        return True

    phase = await run_workers(Phase(server.process.pid), clients, one)
    if failures:
        raise RuntimeError(f"{len(failures)} createTask failed, first: {failures[0]}")
    return phase


# -- driver ----------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tasks", type=int, default=None, help="tasks stored (100000)")
    parser.add_argument("--requests", type=int, default=None,
                        help="task GETs at concurrency 1 (2000)")
    parser.add_argument("--list-requests", type=int, default=None, help="list pages (300)")
    parser.add_argument("--duration", type=float, default=None,
                        help="seconds of task GETs at concurrency 16 (10)")
    parser.add_argument("--creates", type=int, default=None,
                        help="createTask calls at each concurrency (1000)")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--profile", type=Path, default=None,
                        help="run the server under cProfile and write its stats here")
    parser.add_argument("--quick", action="store_true",
                        help="a smoke run: 2000 tasks and small counts")
    args = parser.parse_args(argv)
    small = {"tasks": 2_000, "requests": 300, "list_requests": 30, "duration": 2.0,
             "creates": 100}
    full = {"tasks": 100_000, "requests": 2_000, "list_requests": 300, "duration": 10.0,
            "creates": 1_000}
    for key, value in (small if args.quick else full).items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    rng = random.Random(args.seed)

    data = Path(tempfile.mkdtemp(prefix="gistasks-api-bench-"))
    server: Server | None = None
    try:
        t0 = time.perf_counter()
        ids = seed(data, args.tasks)
        seed_s = time.perf_counter() - t0
        server = start_server(data, args.profile)
        startup_s = server.startup_s
        token = get_token(server.base)
        load_before = os.getloadavg()[0]
        get1 = measure_get_c1(server, token, ids, args.requests, rng)
        page = measure_list_c1(server, token, args.tasks, args.list_requests, rng)
        signing = measure_get_during_signins(server, token, ids, args.requests // 4, rng)
        if shutil.which("wrk"):
            getn = measure_get_wrk(server, token, ids, args.concurrency, args.duration, rng)
        else:
            print("wrk not found (apt-get install wrk; `make bench-api` does): measuring "
                  "concurrency with the Python client, which is the limit here",
                  file=sys.stderr)
            getn = asyncio.run(measure_get_concurrent(server, token, ids, args.concurrency,
                                                      args.duration, rng))
        if shutil.which("wrk"):
            create1 = measure_create_wrk(server, token, 1, args.duration)
            create4 = measure_create_wrk(server, token, 4, args.duration)
        else:
            create1 = asyncio.run(measure_create(server, token, 1, args.creates))
            create4 = asyncio.run(measure_create(server, token, 4, args.creates))
        load_after = os.getloadavg()[0]
        rss = peak_rss_mb(server.process.pid)
    except Exception:
        if server is not None:
            stop_server(server.process, server.stop_signal)
            print(f"server log (tail):\n{server.log.read_text()[-2000:]}", file=sys.stderr)
            server = None
        raise
    finally:
        if server is not None:
            stop_server(server.process, server.stop_signal)
        shutil.rmtree(data, ignore_errors=True)

    print(f"machine: {os.cpu_count()} CPUs, {platform.machine()}, Python "
          f"{platform.python_version()} ({platform.python_implementation()}), "
          f"{platform.system()} {platform.release()}")
    print(f"{args.tasks} user tasks stored for '{USER}' (seeded in {seed_s:.1f} s), SQLite; "
          f"server answering {startup_s:.1f} s after launch; HTTPS keep-alive, HTTP/1.1")
    print(f"load average {load_before:.2f} before the measurements, {load_after:.2f} after "
          f"(other work on the machine competes with client and server)")
    header = (f"{'measurement':<26} {'n':>6} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} "
              f"{'req/s':>7} {'server CPU':>10} {'client CPU':>10}")
    print(header)
    print("-" * len(header))
    rows = [("task GET, c=1", get1), (f"list page of {PAGE}, c=1", page),
            ("task GET, c=1, sign-ins", signing),
            (f"task GET, c={args.concurrency}", getn), ("createTask, c=1", create1),
            ("createTask, c=4", create4)]
    for label, p in rows:
        if p.note:
            print(f"{label:<26} {p.note}")
            continue
        if p.wrk:
            n, p50, p99, top = p.wrk
            label += " (wrk)"
        else:
            lat = p.latencies_ms
            n, p50, p99, top = (len(lat), percentile(lat, 0.5), percentile(lat, 0.99),
                                max(lat))
        print(f"{label:<26} {n:6d} {p50:8.1f} {p99:8.1f} {top:8.1f} {p.rate:7.0f} "
              f"{p.cpu_pct(p.server_cpu_s):9.0f}% {p.cpu_pct(p.client_cpu_s):9.0f}%")
        if p.context:
            print(f"{'':<26} ({p.context})")
    print(f"server peak RSS (VmHWM): {rss:.0f} MB")
    print()
    checks = [
        ("task GET p99 <= 20 ms at c=1", f"{percentile(get1.latencies_ms, 0.99):.1f} ms",
         percentile(get1.latencies_ms, 0.99) <= 20),
        (f">= 800 task GETs/s at c={args.concurrency}", f"{getn.rate:.0f}/s", getn.rate >= 800),
        (">= 200 createTask/s (c=1)", f"{create1.rate:.0f}/s", create1.rate >= 200),
        (">= 200 createTask/s (c=4)", f"{create4.rate:.0f}/s", create4.rate >= 200),
    ]
    for label, figure, ok in checks:
        print(f"  {label:<32} {figure:>10}  {'met' if ok else 'MISSED'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
