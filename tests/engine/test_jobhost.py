"""The job host: the runner in a process of its own, as ``serve`` runs it. Jobs submitted in
this process run there; cancel and synchronous waits cross the pipe; a Ctrl-C to the process
group does not stop it, the server does; it does not outlive the server."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from gistasks.engine.jobhost import JobHost
from gistasks.engine.jobs import JobSettings
from gistasks.gp import Catalog
from gistasks.services.geoprocessing import GeoprocessingService, values_of
from gistasks.store import Store
from gistasks.store.records import JobMode, JobRecord, JobStatus, UserRecord
from tests.support.gptools import wait_for_status, write_services

pytestmark = pytest.mark.timeout(120)

ERIN = UserRecord("erin", "e" * 32, "", "", "org_user", "", False, 0, 0, 0)
TOOLS = "Tests/Tools"


class Hosted:
    """A store, a job host over it and the GP service using the host."""

    def __init__(self, data_dir: Path, url: str | None = None) -> None:
        write_services(data_dir)
        url = url or f"sqlite:///{data_dir / 'gistasks.db'}"
        self.store = Store(url)
        self.store.migrate()
        self.host = JobHost(self.store, url, Catalog.default(data_dir), data_dir, "node-h",
                            JobSettings(workers=2, lease_ms=3000))
        self.gp = GeoprocessingService(self.store, self.host.catalog, self.host, lambda: [])

    def submit(self, tool: str, **values: object) -> JobRecord:
        return self.gp.submit(TOOLS, tool, ERIN, {k: str(v) for k, v in values.items()})

    def wait_for(self, job: JobRecord, status: JobStatus, timeout: float = 20) -> JobRecord:
        return wait_for_status(self.store, job, status, timeout)


@pytest.fixture(scope="module")
def hosted(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hosted]:
    h = Hosted(tmp_path_factory.mktemp("hosted"))
    h.host.start()
    yield h
    h.host.stop(2)
    h.store.close()


def test_a_job_submitted_here_runs_in_the_host_and_its_end_wakes_a_waiter(
        hosted: Hosted) -> None:
    job = hosted.submit("Echo", Text="over the pipe")
    started = time.monotonic()
    done = hosted.host.wait(job.id, 30)
    assert done is not None and done.status == JobStatus.SUCCEEDED
    assert values_of(done.results)["Answer"] == "echo: over the pipe"
    assert done.node == "node-h"
    assert time.monotonic() - started < 5  # woken by the host's message, not a timeout


def test_a_synchronous_job_is_run_by_the_host_for_this_node(hosted: Hosted) -> None:
    done = hosted.gp.execute("Tests/Sync", "Echo", ERIN, {"Text": "now"})
    assert done.mode == JobMode.SYNC and done.status == JobStatus.SUCCEEDED


def test_cancelling_a_job_the_host_runs_stops_it_at_once(hosted: Hosted) -> None:
    job = hosted.submit("Sleep", Seconds=60)
    running = hosted.wait_for(job, JobStatus.EXECUTING)
    started = time.monotonic()
    hosted.gp.cancel(running, "erin")
    hosted.wait_for(job, JobStatus.CANCELLED, timeout=10)
    assert time.monotonic() - started < 3  # told over the pipe, not found at a poll


def test_a_ctrl_c_to_the_process_group_leaves_the_host_running(hosted: Hosted) -> None:
    host_pid = hosted.host._process.pid
    os.kill(host_pid, signal.SIGINT)
    os.kill(host_pid, signal.SIGTERM)
    time.sleep(0.3)
    job = hosted.submit("Echo", Text="still here")
    done = hosted.host.wait(job.id, 30)
    assert done is not None and done.status == JobStatus.SUCCEEDED


def test_a_host_whose_server_was_killed_ends_and_its_jobs_fail_at_the_next_start(
        tmp_path: Path) -> None:
    """A server killed with SIGKILL cannot stop its host: the host (and its workers) must
    die with it, and the job it ran must be ended with a reason when a server starts again."""
    write_services(tmp_path)
    script = textwrap.dedent(f"""
        import sys, time
        sys.path[:0] = {sys.path!r}
        from pathlib import Path
        from gistasks.engine.jobhost import JobHost
        from gistasks.engine.jobs import JobSettings
        from gistasks.gp import Catalog
        from gistasks.services.geoprocessing import GeoprocessingService
        from gistasks.store import Store
        from gistasks.store.records import UserRecord
        data = Path({str(tmp_path)!r})
        url = "sqlite:///" + str(data / "gistasks.db")
        store = Store(url); store.migrate()
        host = JobHost(store, url, Catalog.default(data), data, "node-k", JobSettings(workers=1))
        host.start()
        gp = GeoprocessingService(store, host.catalog, host, lambda: [])
        erin = UserRecord("erin", "e" * 32, "", "", "org_user", "", False, 0, 0, 0)
        job = gp.submit("Tests/Tools", "Sleep", erin, {{"Seconds": "60"}})
        print(job.id, host._process.pid, flush=True)
        time.sleep(600)
    """)
    server = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE,
                              text=True)
    try:
        assert server.stdout is not None
        job_id, host_pid = server.stdout.readline().split()
        store = Store(f"sqlite:///{tmp_path / 'gistasks.db'}")
        deadline = time.monotonic() + 30
        while (found := store.jobs.get(job_id)) is not None and \
                found.status != JobStatus.EXECUTING and time.monotonic() < deadline:
            time.sleep(0.05)
        assert found is not None and found.status == JobStatus.EXECUTING
    finally:
        server.kill()
        server.wait(10)
    deadline = time.monotonic() + 10
    while Path(f"/proc/{host_pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not Path(f"/proc/{host_pid}").exists() or \
        Path(f"/proc/{host_pid}/stat").read_text().split(") ")[1][0] == "Z"
    again = Hosted(tmp_path)
    again.host.start()
    try:
        ended = again.store.jobs.get(job_id)
        assert ended is not None and ended.status == JobStatus.FAILED
        assert "the server running it (node node-k" in ended.messages
    finally:
        again.host.stop(2)
        again.store.close()


def test_the_host_runs_and_cancels_jobs_on_either_database(db_url: str,
                                                           tmp_path: Path) -> None:
    """``serve --database postgresql://…`` gives the host the same URL: it claims, runs and
    stops jobs there as on SQLite."""
    h = Hosted(tmp_path, db_url)
    h.host.start()
    try:
        done = h.host.wait(h.submit("Echo", Text="either").id, 30)
        assert done is not None and done.status == JobStatus.SUCCEEDED
        long = h.submit("Sleep", Seconds=60)
        h.gp.cancel(h.wait_for(long, JobStatus.EXECUTING), "erin")
        h.wait_for(long, JobStatus.CANCELLED, timeout=10)
    finally:
        h.host.stop(2)
        h.store.close()


def test_a_host_that_dies_is_replaced_and_its_running_job_fails_saying_why(
        tmp_path: Path) -> None:
    h = Hosted(tmp_path)
    h.host.start()
    try:
        running = h.submit("Sleep", Seconds=60)
        h.wait_for(running, JobStatus.EXECUTING)
        first = h.host._process.pid
        os.kill(first, signal.SIGKILL)  # as the OOM killer would
        failed = h.wait_for(running, JobStatus.FAILED, timeout=60)
        assert "stopped before it ended" in failed.messages
        deadline = time.monotonic() + 10
        while h.host.restarts == 0 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert h.host.restarts == 1 and h.host._process.pid != first
        done = h.host.wait(h.submit("Echo", Text="after").id, 30)
        assert done is not None and done.status == JobStatus.SUCCEEDED
    finally:
        h.host.stop(2)
        h.store.close()
