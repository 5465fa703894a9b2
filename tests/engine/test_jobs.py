"""The job runner with real worker processes: jobs run to their results, and every way a job
can go wrong ends that job alone, with a status and a message that say what happened."""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gistasks.engine.jobs import JobRunner, JobSettings
from gistasks.gp import Catalog
from gistasks.services.geoprocessing import GeoprocessingService, messages_of, values_of
from gistasks.store import Store
from gistasks.store.records import JobMode, JobRecord, JobStatus, UserRecord
from tests.support.gptools import wait_for_status, write_services

pytestmark = pytest.mark.timeout(120)

ERIN = UserRecord("erin", "e" * 32, "", "", "org_user", "", False, 0, 0, 0)
TOOLS = "Tests/Tools"


def catalog_for(data_dir: Path) -> Catalog:
    write_services(data_dir)
    return Catalog.default(data_dir)


class Jobs:
    """A store, a runner and the GP service over them."""

    def __init__(self, data_dir: Path, settings: JobSettings | None = None,
                 node: str = "node-a") -> None:
        self.store = Store(f"sqlite:///{data_dir / 'gistasks.db'}")
        self.store.migrate()
        self.runner = JobRunner(self.store, catalog_for(data_dir), data_dir, node,
                                settings or JobSettings(workers=2, lease_ms=3000))
        self.gp = GeoprocessingService(self.store, self.runner.catalog, self.runner,
                                       lambda: [])

    def submit(self, tool: str, service: str = TOOLS, **values: Any) -> JobRecord:
        return self.gp.submit(service, tool, ERIN, {k: str(v) for k, v in values.items()})

    def wait(self, job: JobRecord, timeout: float = 30) -> JobRecord:
        found = self.runner.wait(job.id, timeout)
        assert found is not None
        return found

    def wait_for(self, job: JobRecord, status: JobStatus, timeout: float = 20) -> JobRecord:
        return wait_for_status(self.store, job, status, timeout)

    def close(self) -> None:
        self.runner.stop(2)
        self.store.close()


@pytest.fixture(scope="module")
def jobs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Jobs]:
    j = Jobs(tmp_path_factory.mktemp("jobs"))
    j.runner.start()
    yield j
    j.close()


def texts(job: JobRecord) -> list[str]:
    return [m["description"] for m in messages_of(job)]


def test_a_job_runs_in_a_worker_process_and_records_its_results(jobs: Jobs) -> None:
    done = jobs.wait(jobs.submit("Echo", Text="hello"))
    assert done.status == JobStatus.SUCCEEDED
    assert values_of(done.results) == {"Answer": "echo: hello"}
    assert texts(done)[0] == "Submitted." and "echoing 5 characters" in texts(done)
    assert texts(done)[-1].startswith("Succeeded at ")
    assert done.node == "node-a" and done.machine == socket.gethostname()
    assert done.started is not None and done.ended is not None
    assert done.submitted <= done.started <= done.ended


def test_the_running_state_and_progress_are_visible_while_a_job_runs(jobs: Jobs) -> None:
    job = jobs.submit("Sleep", Seconds=2)
    running = jobs.wait_for(job, JobStatus.EXECUTING)
    deadline = time.monotonic() + 5
    while not running.progress and time.monotonic() < deadline:
        time.sleep(0.1)
        running = jobs.store.jobs.get(job.id) or running
    assert running.status == JobStatus.EXECUTING
    assert 0 <= values_of(running.progress)["percent"] < 100
    assert jobs.wait(job).status == JobStatus.SUCCEEDED


def test_a_failing_tool_fails_its_job_with_its_messages(jobs: Jobs) -> None:
    done = jobs.wait(jobs.submit("Fail", Reason="no data"))
    assert done.status == JobStatus.FAILED
    kinds = {m["description"]: m["type"] for m in messages_of(done)}
    assert kinds["about to fail"] == "esriJobMessageTypeWarning"
    assert kinds["the tool failed: no data"] == "esriJobMessageTypeError"
    assert done.results is None


def test_a_tool_that_crashes_its_process_fails_only_its_own_job(jobs: Jobs) -> None:
    crash, echo = jobs.submit("Crash", Code=3), jobs.submit("Echo", Text="still here")
    assert jobs.wait(echo).status == JobStatus.SUCCEEDED
    done = jobs.wait(crash)
    assert done.status == JobStatus.FAILED
    assert any("ended unexpectedly (exit code 3)" in t for t in texts(done)), texts(done)
    assert jobs.wait(jobs.submit("Echo", Text="after")).status == JobStatus.SUCCEEDED


def test_a_job_past_its_time_limit_is_timed_out_and_its_worker_replaced(jobs: Jobs) -> None:
    started = time.monotonic()
    done = jobs.wait(jobs.submit("Hang"))
    assert done.status == JobStatus.TIMED_OUT
    assert 3.5 < time.monotonic() - started < 15
    assert any("time limit of 4 seconds" in t for t in texts(done)), texts(done)
    assert jobs.wait(jobs.submit("Echo", Text="next")).status == JobStatus.SUCCEEDED


def _worker_pids(runner: JobRunner) -> set[int]:
    return {w.pid for w in runner._workers if w.pid is not None}


def test_cancelling_a_running_job_kills_its_process(jobs: Jobs) -> None:
    job = jobs.submit("Sleep", Seconds=30)
    jobs.wait_for(job, JobStatus.EXECUTING)
    before = _worker_pids(jobs.runner)
    assert jobs.gp.cancel(job) == JobStatus.CANCELLING
    done = jobs.wait(job, 5)
    assert done.status == JobStatus.CANCELLED
    assert "The job was cancelled." in texts(done)
    killed = before - _worker_pids(jobs.runner)
    assert killed, "the job's worker still runs"
    for pid in killed:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_a_queued_job_is_cancelled_at_once_and_an_ended_one_cannot_be(jobs: Jobs) -> None:
    blockers = [jobs.submit("Sleep", Seconds=2) for _ in range(2)]  # the service's two slots
    queued = jobs.submit("Echo", Text="later")
    assert jobs.gp.cancel(queued) == JobStatus.CANCELLED
    for b in blockers:
        jobs.wait(b)
    assert jobs.wait(queued).status == JobStatus.CANCELLED
    with pytest.raises(Exception, match="Unable to cancel job"):
        jobs.gp.cancel(jobs.wait(jobs.submit("Echo", Text="x")))


def test_jobs_beyond_their_services_concurrency_wait(jobs: Jobs) -> None:
    first = [jobs.submit("Sleep", Seconds=1.5) for _ in range(2)]
    third = jobs.submit("Sleep", Seconds=0.1)
    assert third.status == JobStatus.WAITING
    running = [jobs.wait_for(j, JobStatus.EXECUTING) for j in first]
    assert all(r.status == JobStatus.EXECUTING for r in running)
    assert jobs.store.jobs.get(third.id).status == JobStatus.WAITING  # type: ignore[union-attr]
    done = jobs.wait(third)
    assert done.status == JobStatus.SUCCEEDED
    assert done.started is not None and done.started >= min(
        jobs.wait(j).ended or 0 for j in first)


def test_a_tool_cannot_write_outside_its_job_folder(jobs: Jobs, tmp_path: Path) -> None:
    for target in ("../../escaped.txt", str(tmp_path / "escaped.txt")):
        done = jobs.wait(jobs.submit("Escape", Target=target))
        assert done.status == JobStatus.FAILED
        assert any("inside the job folder" in t for t in texts(done)), texts(done)
    assert not (tmp_path / "escaped.txt").exists()
    assert not (jobs.runner.jobs_dir.parent / "escaped.txt").exists()


def test_a_file_result_stays_in_the_job_folder(jobs: Jobs) -> None:
    done = jobs.wait(jobs.submit("WriteFile", Content="some text"))
    assert done.status == JobStatus.SUCCEEDED
    assert values_of(done.results) == {"File": {"file": "out/result.txt"}}
    assert (jobs.runner.folder(done.id) / "out" / "result.txt").read_text() == "some text"


def test_a_job_that_needs_more_memory_than_allowed_fails_alone(tmp_path: Path) -> None:
    j = Jobs(tmp_path, JobSettings(workers=1, memory_limit_mb=600))
    j.runner.start()
    try:
        done = j.wait(j.submit("Hog", Megabytes=3000))
        assert done.status == JobStatus.FAILED
        assert any("ran out of memory (its limit is 600 MB)" in t for t in texts(done)), \
            texts(done)
        assert j.wait(j.submit("Hog", Megabytes=50)).status == JobStatus.SUCCEEDED
    finally:
        j.close()


def test_a_worker_that_grew_is_replaced_after_its_job(tmp_path: Path) -> None:
    j = Jobs(tmp_path, JobSettings(workers=1, recycle_rss_mb=60))
    j.runner.start()
    try:
        first = j.wait(j.submit("Echo", Text="warm"))
        spawned = j.runner.stats.spawned
        assert first.status == JobStatus.SUCCEEDED
        done = j.wait(j.submit("Hog", Megabytes=200))
        assert done.status == JobStatus.SUCCEEDED and values_of(done.results) == {"Held": 200}
        assert j.wait(j.submit("Echo", Text="fresh")).status == JobStatus.SUCCEEDED
        assert j.runner.stats.spawned > spawned
    finally:
        j.close()


def test_after_a_restart_queued_jobs_run_and_running_ones_fail_saying_why(
        tmp_path: Path) -> None:
    first = Jobs(tmp_path, node="node-gone")
    running = first.submit("Sleep", Seconds=60)
    queued = first.submit("Echo", Text="survivor")
    # node-gone claims the first job and dies without a word (no stop, no outcome).
    claimed = first.store.jobs.claim("node-gone", "host-gone", int(time.time() * 1000), 60_000,
                                     1, {TOOLS: 2}, 2)
    assert [c.id for c in claimed] == [running.id]
    first.store.close()
    second = Jobs(tmp_path, node="node-new")
    second.runner.start()
    try:
        failed = second.store.jobs.get(running.id)
        assert failed is not None and failed.status == JobStatus.FAILED
        assert any("node-gone on host-gone" in t and "stopped before it ended" in t
                   for t in texts(failed)), texts(failed)
        done = second.wait(queued)
        assert done.status == JobStatus.SUCCEEDED and done.node == "node-new"
    finally:
        second.close()


def test_a_synchronous_job_waits_on_the_node_it_came_to(jobs: Jobs) -> None:
    done = jobs.gp.execute("Tests/Sync", "Echo", ERIN, {"Text": "now"})
    assert done.status == JobStatus.SUCCEEDED and done.mode == JobMode.SYNC
    assert done.node == "node-a"
    assert json.loads(done.results or "{}") == {"Answer": "echo: now"}
