"""``gistasks serve`` killed with SIGKILL again and again: no fire is recorded twice, no fire is
lost without a record, no task is lost, and ``occurrences`` matches the recorded fires."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import httpx

from gistasks.config import resolve
from gistasks.server import build
from gistasks.store import Store
from gistasks.tasktypes import Registry
from tests.support.server import free_port
from tests.support.tasktypes import SPEC

ROOT = Path(__file__).resolve().parents[2]
TASKS = 40


def start(data_dir: Path, port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "GISTASKS_LEASE_SECONDS": "2", "GISTASKS_MISFIRE_GRACE_SECONDS": "1",
           "GISTASKS_HISTORY_USER": "1000000", "GISTASKS_HISTORY_SYSTEM": "1000000",
           "GISTASKS_TASKTYPES": SPEC,
           "GISTASKS_ADMIN_PASSWORD": "not-used-here-1", "GISTASKS_SHUTDOWN_GRACE_SECONDS": "3"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "gistasks", "serve", "--data-dir", str(data_dir), "--port",
         str(port)], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx.get(f"https://127.0.0.1:{port}/arcgis/sharing/rest?f=json", verify=False,
                      timeout=1)
            return proc
        except httpx.TransportError:
            time.sleep(0.1)
    proc.kill()
    raise AssertionError("server did not start")


def test_sigkill_loses_no_fire_and_records_none_twice(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'gistasks.db'}")
    store.migrate()
    service = build(resolve(data_dir=str(tmp_path)), store,
                    types=Registry.default({"GISTASKS_TASKTYPES": SPEC})).tasks
    ids = []
    for i in range(TASKS):
        if i % 2:
            task = service.create(scope="system", owner="admin", type="Ping",
                                  cron_expression="* * * * * ?")
        else:  # non-idempotent, half a second long: some are mid-run at each kill
            task = service.create(scope="system", owner="admin", type="TestSleepsInThread",
                                  cron_expression="* * * * * ?", parameters={"seconds": 0.5})
        ids.append(task.id)

    port = free_port()
    first_fire_after = int(time.time() * 1000)
    kills = []
    for run_for in (3.0, 2.2, 3.7):
        proc = start(tmp_path, port)
        time.sleep(run_for)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        kills.append(int(time.time() * 1000))
        time.sleep(1.5)  # down long enough for fires to be missed
    proc = start(tmp_path, port)
    time.sleep(5)  # more than the 2 s lease: the dead nodes' runs are recovered
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) in (0, -signal.SIGTERM)

    runs = store.runs.all()
    keys = [(r.task_id, r.scheduled_for) for r in runs]
    assert len(keys) == len(set(keys)), "a fire was recorded twice"

    # Every task created here, and the built-in system tasks the first start added.
    tasks = {t.id: t for t in store.tasks.all()
             if t.type not in ("CleanGPJobs", "BackupRetentionCleaner")}
    assert set(tasks) == set(ids), "a task was lost"
    by_task = defaultdict(list)
    for r in runs:
        by_task[r.task_id].append(r)
    last_kill = kills[-1]
    for task_id in ids:
        task = tasks[task_id]
        assert task.active and task.task_state == "active"
        assert task.occurrences == len(by_task[task_id])
        covered: set[int] = set()
        for r in by_task[task_id]:
            if r.scheduled_for < last_kill:
                assert r.status in ("succeeded", "failed", "skipped"), r
                if r.status != "succeeded":
                    assert r.result, f"{r.status} run without a reason: {r}"
            covered.add(r.scheduled_for)
            missed = re.match(r"misfire: (\d+) fire", r.result)
            if missed:
                covered.update(r.scheduled_for + 1000 * i for i in range(int(missed.group(1))))
        first = min(covered)
        assert first <= first_fire_after + 5000
        expected = set(range(first, last_kill - 1000, 1000))
        assert not expected - covered, f"fires without a record: {sorted(expected - covered)[:5]}"
    reasons = {r.result.split(":")[0] for r in runs if r.status == "failed"}
    assert "node lost" in reasons, "no run was caught mid-flight by a kill"
    assert any(r.result.startswith("misfire: ") for r in runs), "no downtime was recorded"
    store.close()
