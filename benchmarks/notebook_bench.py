"""Notebook execution benchmark: gistasks' engine against bare nbclient and bare papermill.

One notebook (three code cells, the first tagged ``parameters``; one parameter injected, so
four cells execute) is run, in the same run of this script, by:

* **gistasks, pre-started kernel**: ``NotebookEngine.run`` with a pool of two kernels, each
  used for one run and then killed; every repetition starts when the pool's kernels have
  finished booting (as for scheduled runs, which come minutes apart);
* **gistasks, cold kernel**: ``NotebookEngine.run`` with no pool (``pool_size=0``): the run
  starts its own kernel;
* **bare nbclient**: ``NotebookClient(nb, kernel_name="python3").execute()`` on the
  notebook with the same parameter cell already in it;
* **bare papermill**: ``papermill.execute_notebook(..., parameters={"x": 3})``.

Each repetition measures one whole run, from the call to its return (the kernel started,
every cell run, the kernel shut down or killed). Before each measurement the script waits
until no kernel is booting in the background, so that no case pays for another's start.
Reported: p50 and p90 per case, the ratios against the targets (a pre-started run <= 0.5 s;
a cold run <= 1.2x bare nbclient), and notebook runs per minute with 4 kernels at once
(4 threads, each running the notebook back to back, through one engine with a pool of 4).

* **through gistasks**: a real ``gistasks serve`` (two pre-started kernels) with the notebook
  as a Notebook item and an ExecuteNotebook task on it; each repetition fires the task
  (``runNow``) and measures, on the server's own clock, from the fire (the run's
  ``scheduledTime``) to the run's end (``ended``): the engine picking the run up, the item read,
  the kernel run, the executed notebook kept as ``.ipynb`` and as a page, and written back to
  the item.

A case is a function measuring one run (``CASES``). Run: ``.venv/bin/python
benchmarks/notebook_bench.py [--reps N] [--warm-reps N] [--throughput-s S] [--only KEY]``.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nbclient import NotebookClient

from _stats import percentile
from gistasks.notebooks import (
    EngineConfig,
    NotebookEngine,
    _nbf,
    inject_parameters,
    read_notebook,
    write_notebook,
)

PARAMETERS = {"x": 3}
CELLS: tuple[tuple[str, list[str]], ...] = (("x = 1", ["parameters"]),
         ("import math\ny = math.sqrt(x) * 2", []),
         ("print(x, y)", []))
SETTLE_S = 1.5
"""How old the pool's youngest kernel must be before a measurement: a kernel boots in
about half a second on an idle machine."""
TARGET_WARM_S = 0.5
TARGET_COLD_RATIO = 1.2


def notebook_bytes() -> bytes:
    nb = _nbf.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    for source, tags in CELLS:
        nb.cells.append(_nbf.new_code_cell(source, metadata={"tags": tags} if tags else {}))
    return write_notebook(nb)


@dataclass
class Bench:
    """What the cases share: the notebook, its files, and the engines (made when needed)."""

    data: bytes
    workdir: Path
    engines: dict[str, NotebookEngine] = field(default_factory=dict)
    server: Server | None = None

    @property
    def path(self) -> Path:
        path = self.workdir / "bench.ipynb"
        if not path.exists():
            path.write_bytes(self.data)
        return path

    def engine(self, key: str, pool_size: int, max_concurrent: int = 4) -> NotebookEngine:
        if key not in self.engines:
            engine = NotebookEngine(EngineConfig(pool_size=pool_size,
                                                 max_concurrent=max_concurrent))
            engine.start()
            self.engines[key] = engine
        return self.engines[key]

    def settle(self) -> None:
        """Wait until every pool is full and none of its kernels is still booting."""
        for engine in self.engines.values():
            pool = engine.pool
            while True:
                ages = pool.idle_ages()
                if len(ages) >= pool.size and (not ages or min(ages) >= SETTLE_S):
                    break
                time.sleep(0.05)

    def close(self) -> None:
        for engine in self.engines.values():
            engine.shutdown()
        if self.server is not None:
            self.server.close()


def _timed(run: Callable[[], Any]) -> float:
    started = time.perf_counter()
    run()
    return time.perf_counter() - started


def gistasks_warm(bench: Bench) -> float:
    engine = bench.engine("warm", pool_size=2)
    bench.settle()

    def run() -> None:
        result = engine.run(bench.data, time_limit_s=60, parameters=PARAMETERS)
        assert result.succeeded and result.warm, result.message

    return _timed(run)


def gistasks_cold(bench: Bench) -> float:
    engine = bench.engine("cold", pool_size=0)
    bench.settle()

    def run() -> None:
        result = engine.run(bench.data, time_limit_s=60, parameters=PARAMETERS)
        assert result.succeeded and not result.warm, result.message

    return _timed(run)


class Server:
    """A ``gistasks serve`` of its own, with the notebook as an item and a task on it."""

    def __init__(self, workdir: Path, data: bytes) -> None:
        import socket
        import subprocess

        import httpx

        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        env = {**os.environ, "GISTASKS_ADMIN_PASSWORD": "bench pass 1",
               "GISTASKS_NOTEBOOK_WARM_KERNELS": "2", "GISTASKS_NOTEBOOK_KERNELS": "4"}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gistasks", "serve", "--data-dir", str(workdir / "server"),
             "--port", str(port)], env=env, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL)
        self.base = f"https://127.0.0.1:{port}/arcgis/sharing/rest"
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(f"{self.base}?f=json", verify=False, timeout=2)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    raise SystemExit("gistasks did not start") from None
                time.sleep(0.2)
        token = httpx.post(f"{self.base}/generateToken", verify=False, data={
            "username": "admin", "password": "bench pass 1", "f": "json"}).json()["token"]
        self.http = httpx.Client(verify=False, timeout=60,
                                 headers={"X-Esri-Authorization": f"Bearer {token}"})
        item = self.http.post(f"{self.base}/content/users/admin/addItem", data={
            "f": "json", "title": "bench"}, files={"file": ("bench.ipynb", data)}).json()
        tomorrow = int(time.time() * 1000) + 86_400_000
        task = self.http.post(f"{self.base}/community/users/admin/tasks/createTask", data={
            "f": "json", "type": "ExecuteNotebook", "itemId": item["id"], "title": "bench",
            "minute": "0", "hour": "3", "dayOfMonth": "*", "month": "*", "dayOfWeek": "?",
            "startDate": str(tomorrow),
            "parameters": json.dumps({"notebookParameters": PARAMETERS})}).json()
        self.tasks = f"{self.base}/community/users/admin/tasks/{task['taskId']}"

    def fire_to_end(self) -> float:
        """Fire the task now; seconds from the fire to the run's end, by the server."""
        run_id = self.http.post(f"{self.tasks}/runNow", data={"f": "json"}).json()["runId"]
        while True:
            run = self.http.get(f"{self.tasks}/runs/{run_id}", params={"f": "json"}).json()
            if run["status"] not in ("scheduled", "executing"):
                break
            time.sleep(0.01)
        assert run["status"] == "succeeded", run
        return (int(run["ended"]) - int(run["scheduledTime"])) / 1000

    def close(self) -> None:
        self.http.close()
        self.process.terminate()
        self.process.wait(30)


def through_gistasks(bench: Bench) -> float:
    server = bench.server
    if server is None:
        server = bench.server = Server(bench.workdir, bench.data)
    time.sleep(SETTLE_S)  # the pool's next kernel boots after the last run took one
    bench.settle()
    return server.fire_to_end()


def bare_nbclient(bench: Bench) -> float:
    nb = read_notebook(bench.data)
    inject_parameters(nb, PARAMETERS)
    bench.settle()
    return _timed(lambda: NotebookClient(nb, kernel_name="python3").execute())


def bare_papermill(bench: Bench) -> float:
    papermill: Any = importlib.import_module("papermill")  # untyped
    out = bench.workdir / "out.ipynb"
    path = bench.path
    bench.settle()
    return _timed(lambda: papermill.execute_notebook(
        str(path), str(out), parameters=PARAMETERS, kernel_name="python3",
        progress_bar=False, log_output=False))


@dataclass(frozen=True)
class Case:
    key: str
    label: str
    measure: Callable[[Bench], float]
    warm: bool = False
    """Repeated ``--warm-reps`` times (cheap runs) instead of ``--reps``."""


CASES: list[Case] = [
    Case("server", "through gistasks: fire to end", through_gistasks, warm=True),
    Case("warm", "gistasks, pre-started kernel", gistasks_warm, warm=True),
    Case("cold", "gistasks, cold kernel", gistasks_cold),
    Case("nbclient", "bare nbclient", bare_nbclient),
    Case("papermill", "bare papermill", bare_papermill),
]


@dataclass(frozen=True)
class Ratio:
    label: str
    numerator: str
    denominator: str | None
    target: float | None
    """The upper bound (seconds for an absolute figure, x for a ratio), None: reported."""


RATIOS = [
    Ratio("through gistasks: fire to end (s)", "server", None, TARGET_WARM_S),
    Ratio("gistasks pre-started: run (s)", "warm", None, TARGET_WARM_S),
    Ratio("gistasks cold / bare nbclient", "cold", "nbclient", TARGET_COLD_RATIO),
    Ratio("gistasks cold / bare papermill", "cold", "papermill", None),
    Ratio("gistasks pre-started / bare nbclient", "warm", "nbclient", None),
    Ratio("gistasks pre-started / bare papermill", "warm", "papermill", None),
]


def throughput(bench: Bench, threads: int, seconds: float) -> tuple[int, float, list[float]]:
    """Runs completed by ``threads`` threads running the notebook back to back for
    ``seconds`` through one engine with a pool of ``threads`` kernels: (runs, elapsed,
    each run's seconds)."""
    engine = bench.engine("throughput", pool_size=threads, max_concurrent=threads)
    bench.settle()
    end = time.monotonic() + seconds
    durations: list[float] = []
    failures: list[str] = []
    lock = threading.Lock()

    def work() -> None:
        while time.monotonic() < end:
            started = time.perf_counter()
            result = engine.run(bench.data, time_limit_s=120, parameters=PARAMETERS, wait_s=60)
            took = time.perf_counter() - started
            with lock:
                durations.append(took)
                if not result.succeeded:
                    failures.append(result.message)

    started = time.monotonic()
    workers = [threading.Thread(target=work) for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    elapsed = time.monotonic() - started
    if failures:
        raise RuntimeError(f"{len(failures)} runs failed, e.g. {failures[0]}")
    return len(durations), elapsed, durations


@contextmanager
def python3_kernelspec() -> Iterator[str]:
    """Make sure a ``python3`` kernelspec exists (nbclient and papermill look it up): the
    environment's own, else one written to a temporary JUPYTER_PATH."""
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        spec = KernelSpecManager().get_kernel_spec("python3")
        yield f"{spec.resource_dir} ({spec.argv[0]})"
        return
    except NoSuchKernel:
        pass
    with tempfile.TemporaryDirectory(prefix="gistasks-kernelspec-") as tmp:
        kernel_dir = Path(tmp) / "kernels" / "python3"
        kernel_dir.mkdir(parents=True)
        (kernel_dir / "kernel.json").write_text(json.dumps({
            "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            "display_name": "Python 3", "language": "python"}))
        old = os.environ.get("JUPYTER_PATH")
        os.environ["JUPYTER_PATH"] = tmp + (os.pathsep + old if old else "")
        try:
            yield f"{kernel_dir} (written for this run)"
        finally:
            if old is None:
                del os.environ["JUPYTER_PATH"]
            else:
                os.environ["JUPYTER_PATH"] = old


def _verdict(value: float, target: float | None) -> str:
    if target is None:
        return ""
    return "OK" if value <= target else "MISSED"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reps", type=int, default=7, help="repetitions of the slow cases")
    parser.add_argument("--warm-reps", type=int, default=15,
                        help="repetitions of the pre-started case")
    parser.add_argument("--throughput-s", type=float, default=30.0,
                        help="seconds of the 4-kernel throughput run (0: skip it)")
    parser.add_argument("--only", action="append", choices=[c.key for c in CASES],
                        help="measure only this case (repeatable)")
    args = parser.parse_args(argv)
    cases = [c for c in CASES if not args.only or c.key in args.only]

    with python3_kernelspec() as spec, tempfile.TemporaryDirectory() as tmp:
        bench = Bench(notebook_bytes(), Path(tmp))
        try:
            print(f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs; kernelspec "
                  f"python3: {spec}")
            print(f"notebook: {len(CELLS)} code cells + 1 injected parameter; seconds per "
                  "whole run (kernel start to kernel gone)")
            for case in cases:  # one unmeasured run each: imports, templates, first kernel
                case.measure(bench)
            times: dict[str, list[float]] = {c.key: [] for c in cases}
            rounds = max(args.reps, args.warm_reps)
            for i in range(rounds):  # interleaved, so that drift hits every case alike
                for case in cases:
                    if i < (args.warm_reps if case.warm else args.reps):
                        times[case.key].append(case.measure(bench))
            print()
            print(f"{'case':<32} {'n':>3} {'p50':>7} {'p90':>7} {'min':>7}")
            for case in cases:
                t = times[case.key]
                print(f"{case.label:<32} {len(t):>3} {percentile(t, 0.5):7.3f} "
                      f"{percentile(t, 0.9):7.3f} {min(t):7.3f}")
            print()
            print(f"{'figure (p50)':<40} {'measured':>9} {'target':>8}")
            for ratio in RATIOS:
                if ratio.numerator not in times or (ratio.denominator is not None
                                                    and ratio.denominator not in times):
                    continue
                top = percentile(times[ratio.numerator], 0.5)
                if ratio.denominator is None:
                    value, shown = top, f"{top:8.3f}s"
                    target = f"<= {ratio.target:g} s" if ratio.target else ""
                else:
                    value = top / percentile(times[ratio.denominator], 0.5)
                    shown = f"{value:8.2f}x"
                    target = f"<= {ratio.target:g}x" if ratio.target else ""
                print(f"{ratio.label:<40} {shown:>9} {target:>8}  "
                      f"{_verdict(value, ratio.target)}")
            if args.throughput_s > 0:
                runs, elapsed, durations = throughput(bench, 4, args.throughput_s)
                print()
                print(f"throughput, 4 threads through one engine (pool 4, 4 at once): {runs} "
                      f"runs in {elapsed:.1f} s = {runs / elapsed * 60:.0f} runs/min; each run "
                      f"p50 {percentile(durations, 0.5):.3f} s, "
                      f"p90 {percentile(durations, 0.9):.3f} s")
        finally:
            bench.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
