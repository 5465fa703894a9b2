"""The job queue in the store, on SQLite and PostgreSQL: nodes claiming at once share the
queue without taking a job twice or exceeding a service's limit, a job ends once, and the jobs
of a node that died end failed with the reason."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
import uuid
from pathlib import Path

from gistasks.store import Store
from gistasks.store.records import JobMode, JobOutcome, JobRecord, JobStatus

SERVICE = "Tests/Tools"


def job(owner: str = "erin", service: str = SERVICE, submitted: int | None = None
        ) -> JobRecord:
    now = submitted or int(time.time() * 1000)
    return JobRecord(id="j" + uuid.uuid4().hex, service=service, tool="Echo", owner=owner,
                     status=JobStatus.SUBMITTED, mode=JobMode.ASYNC, inputs="{}", files="{}",
                     results=None, messages="[]", progress=None, node=None, machine=None,
                     lease_until=None, submitted=now, started=None, ended=None, modified=now,
                     deleted=False)


def now_ms() -> int:
    return int(time.time() * 1000)


def test_a_job_waits_when_its_service_is_full(store: Store) -> None:
    first = store.jobs.submit(job(), max_concurrent=1)
    second = store.jobs.submit(job(), max_concurrent=1)
    assert (first.status, second.status) == (JobStatus.SUBMITTED, JobStatus.WAITING)


def test_nodes_claiming_at_once_take_each_job_once_within_the_limit(store: Store) -> None:
    for k in range(60):
        store.jobs.submit(job(submitted=now_ms() + k), max_concurrent=1000)
    claimed: dict[str, list[str]] = {}
    most_running = [0]

    def node(name: str) -> None:
        mine: list[str] = []
        for _ in range(40):
            got = store.jobs.claim(name, "host", now_ms(), 30_000, 3, {SERVICE: 5}, 5)
            running = store.jobs.query(service=SERVICE, statuses=[JobStatus.EXECUTING],
                                       limit=1000)[0]
            most_running[0] = max(most_running[0], running)
            mine.extend(j.id for j in got)
            store.jobs.finish(name, [JobOutcome(j.id, JobStatus.SUCCEEDED, "{}", "[]", now_ms())
                                     for j in got[:2]])
        claimed[name] = mine

    threads = [threading.Thread(target=node, args=(f"node-{k}",)) for k in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    every = [i for ids in claimed.values() for i in ids]
    assert len(every) == len(set(every)), "a job was claimed twice"
    assert most_running[0] <= 5, "the service's limit was exceeded"


def test_a_job_ends_once_and_only_by_its_node(store: Store) -> None:
    stored = store.jobs.submit(job(), max_concurrent=5)
    [claimed] = store.jobs.claim("node-a", "host-a", now_ms(), 30_000, 1, {}, 5)
    assert claimed.id == stored.id and claimed.status == JobStatus.EXECUTING
    assert store.jobs.finish("node-b", [JobOutcome(stored.id, JobStatus.SUCCEEDED, "{}", "[]",
                                                   now_ms())]) == {}
    assert store.jobs.finish("node-a", [JobOutcome(stored.id, JobStatus.FAILED, None,
                                                   '[{"type": "x", "description": "y"}]',
                                                   now_ms())]) == {stored.id: False}
    assert store.jobs.finish("node-a", [JobOutcome(stored.id, JobStatus.SUCCEEDED, "{}", "[]",
                                                   now_ms())]) == {}
    ended = store.jobs.get(stored.id)
    assert ended is not None and ended.status == JobStatus.FAILED


def test_the_jobs_of_a_node_that_stopped_renewing_end_failed(store: Store) -> None:
    stored = store.jobs.submit(job(), max_concurrent=5)
    store.jobs.claim("node-gone", "host-gone", now_ms(), 100, 1, {}, 5)
    time.sleep(0.2)
    assert [j.id for j in store.jobs.recover(now_ms())] == [stored.id]
    failed = store.jobs.get(stored.id)
    assert failed is not None and failed.status == JobStatus.FAILED
    texts = [m["description"] for m in json.loads(failed.messages)]
    assert any("node-gone on host-gone" in t for t in texts), texts
    assert store.jobs.recover(now_ms()) == []


def test_a_deleted_job_keeps_a_tombstone_the_cleaner_removes(store: Store) -> None:
    stored = store.jobs.submit(job(), max_concurrent=5)
    store.jobs.delete(stored.id, now_ms())
    tomb = store.jobs.get(stored.id)
    assert tomb is not None and tomb.deleted and tomb.status == JobStatus.CANCELLED
    assert store.jobs.query(service=SERVICE)[0] == 0
    assert store.jobs.expired(now_ms() + 10_000, {SERVICE: 1000}, 1000) == [stored.id]
    assert store.jobs.get(stored.id) is None


def test_a_raw_write_that_raises_leaves_nothing_behind(store: Store) -> None:
    from gistasks.store.jobs import _INSERT
    from gistasks.store.schema import gp_jobs

    kept = store.jobs.submit(job(), max_concurrent=10)
    lost = job()
    values = {c.name: getattr(lost, c.name) for c in gp_jobs.columns}
    try:
        with store.db.raw_write() as tx:
            tx.run(_INSERT, values)
            raise RuntimeError("half-way")
    except RuntimeError:
        pass
    assert store.jobs.get(lost.id) is None
    assert store.jobs.get(kept.id) is not None
    store.jobs.submit(job(), max_concurrent=10)  # the connection went back to the pool clean


def test_a_submit_waits_while_another_process_holds_the_sqlite_writer_lock(
        tmp_path: Path) -> None:
    """The job host is another process on the same file: a submit that finds the writer lock
    taken waits for it (briefly retrying) instead of failing."""
    store = Store(f"sqlite:///{tmp_path / 'locked.db'}")
    store.migrate()
    other = sqlite3.connect(tmp_path / "locked.db", isolation_level=None,
                            check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    releaser = threading.Timer(0.3, lambda: other.execute("ROLLBACK"))
    releaser.start()
    started = time.monotonic()
    try:
        submitted = store.jobs.submit(job(), max_concurrent=10)
    finally:
        releaser.join()
        other.close()
    waited = time.monotonic() - started
    assert store.jobs.get(submitted.id) is not None
    assert 0.25 <= waited < 5
    store.close()


def test_a_full_services_long_queue_does_not_hide_another_services_jobs(store: Store) -> None:
    base = now_ms()
    store.jobs.submit(job(service="Tests/Busy", submitted=base), max_concurrent=1000)
    assert len(store.jobs.claim("node-a", "host", base, 30_000, 1, {"Tests/Busy": 1}, 5)) == 1
    for k in range(600):  # more than one scan's worth, all older than the other job
        store.jobs.submit(job(service="Tests/Busy", submitted=base + 1 + k),
                          max_concurrent=1000)
    other = store.jobs.submit(job(service=SERVICE, submitted=base + 1000), max_concurrent=5)
    taken = store.jobs.claim("node-a", "host", now_ms(), 30_000, 2, {"Tests/Busy": 1}, 5)
    assert [j.id for j in taken] == [other.id]
    _, waiting = store.jobs.query(service="Tests/Busy", statuses=[JobStatus.WAITING],
                                  limit=1000)
    assert len(waiting) == 600

