"""Geoprocessing jobs benchmark: gistasks against pygeoapi, measured in one run.

A trivial tool (pygeoapi's hello-world process, and the same tool written for gistasks in
``benchmarks/gp_tools.py``) is run as asynchronous jobs by C clients at once (C = 1 and 8),
each in a loop: submit a job, poll its status until it has succeeded (1 ms after the submit,
then backing off to 16 ms), submit the next. Both servers get the same client (a minimal
keep-alive HTTP/1.1 client on one asyncio loop, cheap enough not to be the bottleneck) and run
on this machine in the same run:

* **gistasks**: ``gistasks serve`` on SQLite with its self-signed HTTPS, its job host beside it,
  every job in a worker process (``submitJob``, ``jobs/<id>``); the token in
  ``X-Esri-Authorization``.
* **pygeoapi 0.21** (the newest for Python 3.11) with its PostgreSQL job manager (its faster
  one) on a throwaway cluster, served by gunicorn as its docs do (2 gevent workers: its
  Docker image's worker class, and the fastest of the classes measured here; plain HTTP).
  ``POST /processes/hello-world/execution`` with ``Prefer: respond-async``, ``GET /jobs/<id>``.
  Its environment is built once under ``~/.cache/gistasks-bench/``.

Reported per server and concurrency: jobs per second from submit to success, submit latency
p50 and p99, completion latency p50 and p99; the ratios gistasks / pygeoapi. Targets (2
cores, every gistasks job in a child process): >= 150 jobs/s at concurrency 8, submit p99 <=
15 ms, ahead of pygeoapi on both.

Run: ``make bench-gp`` or ``.venv/bin/python benchmarks/gp_bench.py [--jobs N] [--only
gistasks|pygeoapi]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import ssl
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from _stats import percentile

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.pg import Cluster  # noqa: E402
from tests.support.server import free_port  # noqa: E402

PYGEOAPI = "pygeoapi==0.21.0"
PYGEOAPI_PACKAGES = (PYGEOAPI, "gunicorn==23.0.0", "gevent", "psycopg2-binary", "geoalchemy2")
CACHE = Path(os.environ.get("GISTASKS_BENCH_CACHE", "~/.cache/gistasks-bench")).expanduser()
SERVICES = """[services."Bench/Trivial"]
tools = ["gp_tools:Hello"]
max_concurrent_jobs = 8
"""
JOBS_TABLE = """CREATE TABLE public.jobs (
    type character varying DEFAULT 'process'::character varying NOT NULL,
    identifier character varying NOT NULL PRIMARY KEY,
    process_id character varying NOT NULL,
    created timestamp without time zone, started timestamp without time zone,
    finished timestamp without time zone, updated timestamp without time zone,
    status character varying NOT NULL, location character varying,
    mimetype character varying, message character varying, progress integer NOT NULL)"""


# -- a minimal keep-alive HTTP/1.1 client ----------------------------------------------------


class Connection:
    """One keep-alive connection; requests one at a time."""

    def __init__(self, host: str, port: int, tls: bool) -> None:
        self.host, self.port, self.tls = host, port, tls
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def open(self) -> None:
        context = None
        if self.tls:
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port,
                                                                 ssl=context)

    async def request(self, method: str, path: str, headers: dict[str, str],
                      body: bytes = b"") -> tuple[int, dict[str, str], bytes]:
        assert self.reader is not None and self.writer is not None
        lines = [f"{method} {path} HTTP/1.1", f"Host: {self.host}:{self.port}",
                 f"Content-Length: {len(body)}"] + [f"{k}: {v}" for k, v in headers.items()]
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        status_line = await self.reader.readline()
        status = int(status_line.split()[1])
        found: dict[str, str] = {}
        while True:
            line = await self.reader.readline()
            if line in (b"\r\n", b""):
                break
            name, _, value = line.decode("latin-1").partition(":")
            found[name.strip().lower()] = value.strip()
        if found.get("transfer-encoding", "").lower() == "chunked":
            data = bytearray()
            while True:
                size = int((await self.reader.readline()).strip(), 16)
                if size == 0:
                    await self.reader.readline()
                    break
                data += await self.reader.readexactly(size)
                await self.reader.readline()
            return status, found, bytes(data)
        length = int(found.get("content-length", "0"))
        return status, found, await self.reader.readexactly(length)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


@dataclass
class Api:
    """How one server is asked to run a job and said to have finished it."""

    name: str
    host: str
    port: int
    tls: bool
    submit_path: str
    submit_headers: dict[str, str]
    submit_body: bytes
    headers: dict[str, str] = field(default_factory=dict)

    def job_path(self, status: int, headers: dict[str, str], body: bytes) -> str:
        raise NotImplementedError

    def finished(self, body: bytes) -> bool | None:
        """True once succeeded, False when failed, None while it runs."""
        raise NotImplementedError


class GistasksApi(Api):
    def job_path(self, status: int, headers: dict[str, str], body: bytes) -> str:
        job = json.loads(body)
        assert status == 200 and "jobId" in job, body[:300]
        return f"{self.submit_path.rsplit('/', 1)[0]}/jobs/{job['jobId']}?f=json"

    def finished(self, body: bytes) -> bool | None:
        state = json.loads(body)["jobStatus"]
        if state == "esriJobSucceeded":
            return True
        if state in ("esriJobFailed", "esriJobTimedOut", "esriJobCancelled"):
            return False
        return None


class PygeoapiApi(Api):
    def job_path(self, status: int, headers: dict[str, str], body: bytes) -> str:
        assert status == 201, (status, body[:300])
        return "/jobs/" + headers["location"].rsplit("/", 1)[1] + "?f=json"

    def finished(self, body: bytes) -> bool | None:
        state = json.loads(body)["status"]
        if state == "successful":
            return True
        if state in ("failed", "dismissed"):
            return False
        return None


@dataclass
class Phase:
    jobs: int = 0
    failed: int = 0
    seconds: float = 0.0
    submit_ms: list[float] = field(default_factory=list)
    done_ms: list[float] = field(default_factory=list)
    polls: int = 0
    cpu: dict[str, float] = field(default_factory=dict)
    """CPU used during the phase, in cores: the server's main process, its children (for
    gistasks the job host and its worker processes, for pygeoapi gunicorn's workers), and the
    client."""

    @property
    def rate(self) -> float:
        return self.jobs / self.seconds if self.seconds else 0.0


async def _client(api: Api, count: list[int], phase: Phase) -> None:
    conn = Connection(api.host, api.port, api.tls)
    await conn.open()
    try:
        while count[0] > 0:
            count[0] -= 1
            started = time.perf_counter()
            status, headers, body = await conn.request(
                "POST", api.submit_path, {**api.headers, **api.submit_headers},
                api.submit_body)
            phase.submit_ms.append((time.perf_counter() - started) * 1000)
            path = api.job_path(status, headers, body)
            wait = 0.001
            while True:
                await asyncio.sleep(wait)
                wait = min(wait * 2, 0.016)
                phase.polls += 1
                _, _, body = await conn.request("GET", path, api.headers)
                outcome = api.finished(body)
                if outcome is not None:
                    break
            phase.done_ms.append((time.perf_counter() - started) * 1000)
            phase.jobs += 1
            phase.failed += 0 if outcome else 1
    finally:
        conn.close()


async def _run(api: Api, concurrency: int, jobs: int) -> Phase:
    phase = Phase()
    count = [jobs]
    started = time.perf_counter()
    await asyncio.gather(*(_client(api, count, phase) for _ in range(concurrency)))
    phase.seconds = time.perf_counter() - started
    return phase


def _cpu(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _children(pid: int) -> list[int]:
    """Every descendant of ``pid`` (gistasks' workers are children of its job host)."""
    found: list[int] = []
    todo = [pid]
    while todo:
        out = subprocess.run(["pgrep", "-P", str(todo.pop())], capture_output=True, text=True)
        kids = [int(p) for p in out.stdout.split()]
        found += kids
        todo += kids
    return found


def measure(api: Api, concurrency: int, jobs: int, pid: int | None = None) -> Phase:
    import resource

    before = {p: _cpu(p) for p in ([pid, *_children(pid)] if pid else [])}
    mine = resource.getrusage(resource.RUSAGE_SELF)
    phase = asyncio.run(_run(api, concurrency, jobs))
    now = resource.getrusage(resource.RUSAGE_SELF)
    if pid:
        after = {p: _cpu(p) for p in [pid, *_children(pid)]}
        phase.cpu["server"] = (after.get(pid, 0) - before.get(pid, 0)) / phase.seconds
        phase.cpu["children"] = sum(after[p] - before.get(p, 0) for p in after
                                   if p != pid) / phase.seconds
    phase.cpu["client"] = (now.ru_utime + now.ru_stime - mine.ru_utime
                           - mine.ru_stime) / phase.seconds
    return phase


# -- the servers ----------------------------------------------------------------------------


def _wait_until_up(probe: Any, what: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"{what} exited with {process.returncode}")
        try:
            if probe():
                return
        except Exception:  # not listening yet
            pass
        time.sleep(0.2)
    raise SystemExit(f"{what} did not start")


def _stop(process: subprocess.Popen[bytes], sig: signal.Signals = signal.SIGTERM) -> None:
    if process.poll() is None:
        process.send_signal(sig)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _rss_mb(pid: int) -> float:
    """Resident memory of a process and its descendants (job host, worker processes), MB."""
    total = 0
    for p in [pid, *_children(pid)]:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total / 1024


def start_gistasks(work: Path, profile: Path | None = None
                   ) -> tuple[subprocess.Popen[bytes], GistasksApi]:
    import httpx

    data = work / "gistasks"
    data.mkdir()
    (data / "gp-services.toml").write_text(SERVICES)
    port = free_port()
    env = {**os.environ, "GISTASKS_ADMIN_PASSWORD": "bench pass 1",
           "PYTHONPATH": f"{ROOT / 'benchmarks'}:{os.environ.get('PYTHONPATH', '')}"}
    prefix = ["-m", "cProfile", "-o", str(profile)] if profile is not None else []
    process = subprocess.Popen(
        [sys.executable, *prefix, "-m", "gistasks", "serve", "--data-dir", str(data),
         "--port", str(port)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"https://127.0.0.1:{port}/arcgis"
    _wait_until_up(lambda: httpx.get(f"{base}/sharing/rest?f=json", verify=False,
                                     timeout=2).status_code == 200, "gistasks", process)
    token = httpx.post(f"{base}/sharing/rest/generateToken", verify=False, data={
        "username": "admin", "password": "bench pass 1", "f": "json",
        "expiration": "600"}).json()["token"]
    api = GistasksApi(
        "gistasks", "127.0.0.1", port, True,
        "/arcgis/rest/services/Bench/Trivial/GPServer/Hello/submitJob",
        {"Content-Type": "application/x-www-form-urlencoded"},
        urlencode({"f": "json", "name": "x"}).encode(),
        {"X-Esri-Authorization": f"Bearer {token}"})
    return process, api


def pygeoapi_venv() -> Path:
    venv = CACHE / "pygeoapi-0.21.0"
    marker = venv / ".complete"
    if not marker.exists():
        print(f"building the pygeoapi environment in {venv} (once)", flush=True)
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
        subprocess.run([str(venv / "bin" / "pip"), "install", "--quiet", *PYGEOAPI_PACKAGES],
                       check=True)
        marker.write_text("ok\n")
    return venv


def start_pygeoapi(work: Path, cluster: Cluster, workers: int, worker_class: str
                   ) -> tuple[subprocess.Popen[bytes], PygeoapiApi]:
    import psycopg

    venv = pygeoapi_venv()
    url = cluster.new_database()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(JOBS_TABLE)
    port = free_port()
    outputs = work / "pygeoapi-outputs"
    outputs.mkdir()
    config = work / "pygeoapi-config.yml"
    config.write_text(f"""server:
  bind: {{host: 127.0.0.1, port: {port}}}
  url: http://127.0.0.1:{port}
  mimetype: application/json; charset=UTF-8
  encoding: utf-8
  languages: [en-US]
  limits: {{default_items: 10, max_items: 100}}
  map: {{url: 'https://tile.openstreetmap.org/{{z}}/{{x}}/{{y}}.png', attribution: OSM}}
  manager:
    name: PostgreSQL
    connection: {url.replace('postgresql://gistasks@', 'postgresql://gistasks:x@')}
    output_dir: {outputs}
logging: {{level: ERROR}}
metadata:
  identification:
    title: {{en: bench}}
    description: {{en: bench}}
    keywords: {{en: [bench]}}
    keywords_type: theme
    terms_of_service: https://creativecommons.org/licenses/by/4.0/
    url: http://example.org
  license: {{name: CC-BY 4.0, url: 'https://creativecommons.org/licenses/by/4.0/'}}
  provider: {{name: bench, url: 'https://pygeoapi.io'}}
  contact: {{name: bench, email: bench@example.org, role: pointOfContact}}
resources:
  hello-world:
    type: process
    processor: {{name: HelloWorld}}
""")
    openapi = work / "pygeoapi-openapi.yml"
    env = {**os.environ, "PYGEOAPI_CONFIG": str(config), "PYGEOAPI_OPENAPI": str(openapi)}
    subprocess.run([str(venv / "bin" / "pygeoapi"), "openapi", "generate", str(config),
                    "--output-file", str(openapi)], env=env, check=True,
                   capture_output=True)
    process = subprocess.Popen(
        [str(venv / "bin" / "gunicorn"), "--workers", str(workers), "--worker-class",
         worker_class, "--timeout", "600", "--bind", f"127.0.0.1:{port}",
         "pygeoapi.flask_app:APP"], env=env, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL)

    def up() -> bool:
        import httpx

        return httpx.get(f"http://127.0.0.1:{port}/processes/hello-world",
                         timeout=2).status_code == 200

    _wait_until_up(up, "pygeoapi", process)
    api = PygeoapiApi("pygeoapi", "127.0.0.1", port, False,
                      "/processes/hello-world/execution",
                      {"Content-Type": "application/json", "Prefer": "respond-async"},
                      json.dumps({"inputs": {"name": "x"}}).encode())
    return process, api


# -- the run --------------------------------------------------------------------------------


def run_server(api: Api, pid: int, jobs: int) -> dict[int, Phase]:
    measure(api, 8, max(100, jobs // 5))  # warm-up: workers started, caches filled
    phases = {1: measure(api, 1, max(50, jobs // 3), pid), 8: measure(api, 8, jobs, pid)}
    for c, p in phases.items():
        cpu = ", ".join(f"{k} {v * 100:.0f}%" for k, v in p.cpu.items())
        print(f"  {api.name:9s} c={c}: {p.rate:7.1f} jobs/s over {p.jobs} jobs "
              f"({p.failed} failed, {p.polls / max(1, p.jobs):.1f} polls a job); submit p50 "
              f"{percentile(p.submit_ms, 0.5):5.1f} ms p99 {percentile(p.submit_ms, 0.99):5.1f}"
              f" ms; done p50 {percentile(p.done_ms, 0.5):5.1f} ms p99 "
              f"{percentile(p.done_ms, 0.99):5.1f} ms; CPU {cpu}", flush=True)
    print(f"  {api.name:9s} RSS with its workers: {_rss_mb(pid):.0f} MB", flush=True)
    return phases


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=1500, help="jobs at concurrency 8")
    parser.add_argument("--only", choices=("gistasks", "pygeoapi"))
    parser.add_argument("--pygeoapi-workers", type=int, default=2)
    parser.add_argument("--pygeoapi-worker-class", default="gevent")
    parser.add_argument("--profile", type=Path, default=None,
                        help="run gistasks under cProfile, its stats to this file")
    args = parser.parse_args()
    results: dict[str, dict[int, Phase]] = {}
    with tempfile.TemporaryDirectory(prefix="gistasks-gp-bench-") as tmp:
        work = Path(tmp)
        if args.only in (None, "gistasks"):
            process, api = start_gistasks(work, args.profile)
            try:
                results["gistasks"] = run_server(api, process.pid, args.jobs)
            finally:
                _stop(process, signal.SIGINT if args.profile else signal.SIGTERM)
        if args.only in (None, "pygeoapi"):
            cluster = Cluster()
            cluster.start()
            try:
                gprocess, gapi = start_pygeoapi(work, cluster, args.pygeoapi_workers,
                                                args.pygeoapi_worker_class)
                try:
                    results["pygeoapi"] = run_server(gapi, gprocess.pid, args.jobs)
                finally:
                    _stop(gprocess)
            finally:
                cluster.stop()
    if len(results) == 2:
        ours, theirs = results["gistasks"], results["pygeoapi"]
        for c in (1, 8):
            p99s = (percentile(theirs[c].submit_ms, 0.99), percentile(ours[c].submit_ms, 0.99))
            print(f"ratio c={c}: jobs/s {ours[c].rate / theirs[c].rate:.2f}x; submit p99 "
                  f"{p99s[0] / p99s[1]:.2f}x faster")
    if "gistasks" in results:
        c8 = results["gistasks"][8]
        p99 = percentile(c8.submit_ms, 0.99)
        print(f"targets: >= 150 jobs/s at c=8: {c8.rate:.0f} "
              f"({'met' if c8.rate >= 150 else 'NOT met'}); submit p99 <= 15 ms: {p99:.1f} "
              f"({'met' if p99 <= 15 else 'NOT met'})")


if __name__ == "__main__":
    main()
