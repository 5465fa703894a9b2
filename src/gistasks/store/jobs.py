"""Geoprocessing jobs: the queue every node claims from, the leases on running jobs, their
outcomes, and the queries of the Administrator API.

A queued job (``esriJobSubmitted`` or ``esriJobWaiting``) is claimed by one node in a short
transaction (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, with claims serialised so that a
service's concurrency limit holds across nodes); it becomes ``esriJobExecuting`` with the
node's name and a lease the node renews. An outcome is recorded only while the node still
holds the job, so a job ends once. A job whose lease expired (its node died) is failed with
the reason.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import bindparam, delete, func, insert, not_, or_, select, update

from gistasks.store._db import Database
from gistasks.store.records import (
    FINISHED_JOB_STATES,
    QUEUED_JOB_STATES,
    RUNNING_JOB_STATES,
    JobOutcome,
    JobRecord,
    JobStatus,
)
from gistasks.store.schema import gp_jobs

BATCH = 500
SCAN = 500
"""Queued jobs looked at per claim (the oldest first)."""
CLAIM_LOCK = 7_251_001
"""The PostgreSQL advisory lock that serialises claims, so concurrency limits hold across
nodes."""

_GET = select(gp_jobs).where(gp_jobs.c.id == bindparam("b_id"))
_RUNNING = or_(*(gp_jobs.c.status == s.value for s in RUNNING_JOB_STATES))
"""Running, spelled without IN: executemany cannot expand a list."""
_FINISH = update(gp_jobs).where(
    gp_jobs.c.id == bindparam("b_id"), gp_jobs.c.node == bindparam("b_node"), _RUNNING,
).values(status=bindparam("b_status"), results=bindparam("b_results"),
         messages=bindparam("b_messages"), progress=None, ended=bindparam("b_ended"),
         modified=bindparam("b_ended"), lease_until=None)
_QUEUED = or_(*(gp_jobs.c.status == s.value for s in QUEUED_JOB_STATES))
"""Queued, spelled without IN: the raw reads of ``Database.one`` cannot expand a list."""
_BUSY = select(func.count()).select_from(gp_jobs).where(  # through ix_gp_jobs_active
    or_(*(gp_jobs.c.status == s.value for s in (*RUNNING_JOB_STATES, *QUEUED_JOB_STATES))),
    gp_jobs.c.service == bindparam("b_service"), not_(gp_jobs.c.deleted))
_INSERT = insert(gp_jobs).values({c.name: bindparam(c.name) for c in gp_jobs.columns})
_CLAIMABLE = (_QUEUED, not_(gp_jobs.c.deleted),
              or_(gp_jobs.c.node.is_(None), gp_jobs.c.node == bindparam("b_node")))
_PEEK = select(gp_jobs.c.id).where(*_CLAIMABLE).limit(1)
_CANDIDATES = (select(gp_jobs.c.id, gp_jobs.c.service, gp_jobs.c.status).where(*_CLAIMABLE)
               .order_by(gp_jobs.c.submitted).limit(SCAN).with_for_update(skip_locked=True))
_RUNNING_COUNTS = (select(gp_jobs.c.service, func.count())
                   .where(gp_jobs.c.status.in_(RUNNING_JOB_STATES)).group_by(gp_jobs.c.service))
_IDS = gp_jobs.c.id.in_(bindparam("b_ids", expanding=True))
_HELD = select(gp_jobs.c.id, gp_jobs.c.deleted).where(
    _IDS, gp_jobs.c.node == bindparam("b_node"), gp_jobs.c.status.in_(RUNNING_JOB_STATES))
_WAIT = update(gp_jobs).where(_IDS).values(status=JobStatus.WAITING, modified=bindparam("b_now"))
_TAKE = update(gp_jobs).where(_IDS).values(
    status=JobStatus.EXECUTING, node=bindparam("b_node"), machine=bindparam("b_machine"),
    lease_until=bindparam("b_lease"), started=bindparam("b_now"), modified=bindparam("b_now"),
).returning(*gp_jobs.columns)
_PROGRESS = update(gp_jobs).where(
    gp_jobs.c.id == bindparam("b_id"), gp_jobs.c.node == bindparam("b_node"), _RUNNING,
).values(messages=bindparam("b_messages"), progress=bindparam("b_progress"),
         modified=bindparam("b_now"))


def message(text: str, kind: str = "esriJobMessageTypeInformative") -> dict[str, str]:
    """One job message, as ArcGIS shows it."""
    return {"type": str(kind), "description": text}


def messages_list(messages_json: str) -> list[dict[str, Any]]:
    """The messages of a job record (an unreadable record has none)."""
    try:
        found = json.loads(messages_json)
    except ValueError:
        return []
    return [m for m in found if isinstance(m, dict)] if isinstance(found, list) else []


def _with(messages_json: str, *added: dict[str, str]) -> str:
    return json.dumps([*messages_list(messages_json), *added], separators=(",", ":"))


class JobStore:
    """Every statement on ``gp_jobs``."""

    def __init__(self, db: Database) -> None:
        self.db = db

    # -- submitting and reading -----------------------------------------------------------------

    def submit(self, job: JobRecord, max_concurrent: int) -> JobRecord:
        """Insert a new job; it is ``esriJobWaiting`` when its service already runs
        ``max_concurrent`` jobs (or more are queued ahead), ``esriJobSubmitted`` otherwise.
        Returns the job as stored."""
        values = _values(job)
        with self.db.raw_write() as tx:
            found = tx.first(_BUSY, {"b_service": job.service})
            busy = found[0] if found else 0
            values["status"] = (JobStatus.WAITING if busy >= max_concurrent
                                else JobStatus.SUBMITTED)
            tx.run(_INSERT, values)
        return JobRecord.from_row(tuple(values[c.name] for c in gp_jobs.columns))

    def get(self, job_id: str) -> JobRecord | None:
        row = self.db.one(_GET, {"b_id": job_id})
        return None if row is None else JobRecord.from_row(row)

    # -- the queue and the leases ---------------------------------------------------------------

    def claim(self, node: str, machine: str, now: int, lease_ms: int, free: int,
              capacity: Mapping[str, int], default_capacity: int) -> list[JobRecord]:
        """Lease up to ``free`` queued jobs to ``node``, oldest first, each within its
        service's ``capacity`` (jobs running anywhere count); the jobs of full services
        left behind become ``esriJobWaiting``. Jobs bound to another node (a synchronous
        ``execute`` waits on the node it came to) are left alone.

        A claim is asked for after every submit and every finished job, most often with
        nothing to take: a read without the writer lock answers those."""
        if free <= 0 or self.db.one(_PEEK, {"b_node": node}) is None:
            return []
        with self.db.write() as conn:
            self.db.serialise(conn, CLAIM_LOCK)
            running: dict[str, int] = dict(conn.execute(_RUNNING_COUNTS).all())
            # The services already at their limit are left out of the scan, so that their
            # queues, however long, cannot hide the jobs of the others; their queued jobs
            # wait.
            full = sorted(s for s, n in running.items()
                          if n >= capacity.get(s, default_capacity))
            scan = _CANDIDATES
            if full:
                scan = _CANDIDATES.where(gp_jobs.c.service.not_in(full))
                conn.execute(update(gp_jobs).where(
                    gp_jobs.c.service.in_(full), gp_jobs.c.status == JobStatus.SUBMITTED,
                    not_(gp_jobs.c.deleted)).values(status=JobStatus.WAITING, modified=now))
            candidates = conn.execute(scan, {"b_node": node}).all()
            if not candidates:
                return []
            picked: list[str] = []
            waiting: list[str] = []
            for job_id, service, status in candidates:
                limit = capacity.get(service, default_capacity)
                if len(picked) < free and running.get(service, 0) < limit:
                    picked.append(job_id)
                    running[service] = running.get(service, 0) + 1
                elif status != JobStatus.WAITING and running.get(service, 0) >= limit:
                    waiting.append(job_id)
            for k in range(0, len(waiting), BATCH):
                conn.execute(_WAIT, {"b_ids": waiting[k:k + BATCH], "b_now": now})
            if not picked:
                return []
            rows = conn.execute(_TAKE, {
                "b_ids": picked, "b_node": node, "b_machine": machine,
                "b_lease": now + lease_ms, "b_now": now}).all()
        return sorted((JobRecord.from_row(r) for r in rows), key=lambda j: j.submitted)

    def heartbeat(self, node: str, lease_until: int) -> None:
        """Extend the leases ``node`` holds on its running jobs."""
        with self.db.write() as conn:
            conn.execute(update(gp_jobs).where(gp_jobs.c.node == node,
                                               gp_jobs.c.status.in_(RUNNING_JOB_STATES))
                         .values(lease_until=lease_until))

    def cancelling(self, node: str) -> list[str]:
        """The ids of the jobs ``node`` runs that a caller asked to cancel."""
        with self.db.read() as conn:
            return list(conn.execute(select(gp_jobs.c.id).where(
                gp_jobs.c.status == JobStatus.CANCELLING, gp_jobs.c.node == node)).scalars())

    def report(self, node: str, now: int,
               updates: Iterable[tuple[str, str, str | None]]) -> None:
        """Record the messages and progress ``(job id, messages, progress)`` of running
        jobs ``node`` holds."""
        batch = [{"b_id": i, "b_node": node, "b_messages": m, "b_progress": p, "b_now": now}
                 for i, m, p in updates]
        if batch:
            with self.db.write() as conn:
                conn.execute(_PROGRESS, batch)

    def finish(self, node: str, outcomes: Sequence[JobOutcome]) -> dict[str, bool]:
        """Record how jobs ``node`` ran ended, in one transaction. A job ``node`` no longer
        holds (failed by recovery meanwhile) is left alone. Returns, for each job recorded,
        whether it was deleted while it ran (its folder can go)."""
        if not outcomes:
            return {}
        with self.db.write() as conn:
            ids = [o.job_id for o in outcomes]
            live: dict[str, bool] = {}
            for k in range(0, len(ids), BATCH):
                live.update(conn.execute(
                    _HELD, {"b_ids": ids[k:k + BATCH], "b_node": node}).all())
            rows = [{"b_id": o.job_id, "b_node": node, "b_status": o.status,
                     "b_results": None if live.get(o.job_id) else o.results,
                     "b_messages": o.messages, "b_ended": o.ended}
                    for o in outcomes if o.job_id in live]
            if rows:
                conn.execute(_FINISH, rows)
        return {k: bool(v) for k, v in live.items()}

    def recover(self, now: int, everything: bool = False) -> list[JobRecord]:
        """End the running jobs whose lease expired (``everything``: all running jobs, for a
        single node starting again): executing ones fail, cancelling ones are cancelled,
        each with a message saying why. Returns the jobs as they were found."""
        with self.db.write() as conn:
            condition: list[Any] = [gp_jobs.c.status.in_(RUNNING_JOB_STATES)]
            if not everything:
                condition.append(gp_jobs.c.lease_until < now)
            found = [JobRecord.from_row(r) for r in conn.execute(
                select(gp_jobs).where(*condition).with_for_update(skip_locked=True)).all()]
            for job in found:
                where = f"node {job.node}" + (f" on {job.machine}" if job.machine else "")
                if job.status == JobStatus.CANCELLING:
                    status, text = JobStatus.CANCELLED, f"Cancelled: {where} stopped."
                else:
                    status, text = JobStatus.FAILED, (
                        f"The job did not finish: the server running it ({where}) stopped "
                        f"before it ended.")
                conn.execute(update(gp_jobs).where(gp_jobs.c.id == job.id).values(
                    status=status, lease_until=None, ended=now, modified=now, progress=None,
                    messages=_with(job.messages, message(
                        text, "esriJobMessageTypeError" if status == JobStatus.FAILED
                        else "esriJobMessageTypeInformative"))))
        return found

    # -- what callers ask for -------------------------------------------------------------------

    def cancel(self, job_id: str, now: int, text: str) -> JobStatus | None:
        """Ask to cancel a job: a queued one is ``esriJobCancelled`` at once, a running one
        ``esriJobCancelling`` (its node stops it). None when the job has ended (or is
        cancelling already): there is nothing to cancel."""
        with self.db.write() as conn:
            row = conn.execute(select(gp_jobs.c.status, gp_jobs.c.messages).where(
                gp_jobs.c.id == job_id).with_for_update()).first()
            if row is None:
                return None
            status = JobStatus(row[0])
            if status in QUEUED_JOB_STATES:
                conn.execute(update(gp_jobs).where(gp_jobs.c.id == job_id).values(
                    status=JobStatus.CANCELLED, ended=now, modified=now,
                    messages=_with(row[1], message(text))))
                return JobStatus.CANCELLED
            if status == JobStatus.EXECUTING:
                conn.execute(update(gp_jobs).where(gp_jobs.c.id == job_id).values(
                    status=JobStatus.CANCELLING, modified=now,
                    messages=_with(row[1], message(text))))
                return JobStatus.CANCELLING
        return None

    def delete(self, job_id: str, now: int) -> JobRecord | None:
        """Remove a job's inputs, results and files from the record, keeping a tombstone that
        answers a final status (a client still polling it must stop): a queued job is
        cancelled, a running one is cancelling. Returns the job as it was."""
        with self.db.write() as conn:
            row = conn.execute(select(gp_jobs).where(gp_jobs.c.id == job_id,
                                                     not_(gp_jobs.c.deleted))
                               .with_for_update()).first()
            if row is None:
                return None
            job = JobRecord.from_row(row)
            values: dict[str, Any] = {"deleted": True, "inputs": "{}", "files": "{}",
                                      "results": None, "progress": None, "modified": now,
                                      "messages": json.dumps([message("The job was deleted.")])}
            if job.status in QUEUED_JOB_STATES:
                values.update(status=JobStatus.CANCELLED, ended=now)
            elif job.status == JobStatus.EXECUTING:
                values.update(status=JobStatus.CANCELLING)
            elif job.status != JobStatus.CANCELLING:
                values.update(ended=job.ended or now)
            conn.execute(update(gp_jobs).where(gp_jobs.c.id == job_id).values(**values))
        return job

    def purge_queue(self, service: str, now: int, text: str) -> int:
        """Cancel every queued job of ``service``; returns how many."""
        with self.db.write() as conn:
            rows = conn.execute(select(gp_jobs.c.id, gp_jobs.c.messages).where(
                gp_jobs.c.service == service, gp_jobs.c.status.in_(QUEUED_JOB_STATES))
                .with_for_update(skip_locked=True)).all()
            if rows:
                conn.execute(update(gp_jobs).where(gp_jobs.c.id == bindparam("b_id")).values(
                    status=JobStatus.CANCELLED, ended=now, modified=now,
                    messages=bindparam("b_messages")),
                    [{"b_id": i, "b_messages": _with(m, message(text))} for i, m in rows])
        return len(rows)

    def query(self, *, service: str | None = None, statuses: Collection[str] = (),
              since: int | None = None, until: int | None = None, owner: str | None = None,
              owner_is_null: bool = False, machine: str | None = None, offset: int = 0,
              limit: int = 10) -> tuple[int, list[JobRecord]]:
        """``(total, page)`` of the jobs (tombstones excluded) matching every filter given,
        newest first; ``since``/``until`` bound the submission time."""
        condition: list[Any] = [not_(gp_jobs.c.deleted)]
        if service is not None:
            condition.append(gp_jobs.c.service == service)
        if statuses:
            condition.append(gp_jobs.c.status.in_(list(statuses)))
        if since is not None:
            condition.append(gp_jobs.c.submitted >= since)
        if until is not None:
            condition.append(gp_jobs.c.submitted <= until)
        if owner_is_null:
            condition.append(gp_jobs.c.owner.is_(None))
        elif owner is not None:
            condition.append(func.lower(gp_jobs.c.owner) == owner.lower())
        if machine is not None:
            condition.append(func.lower(gp_jobs.c.machine) == machine.lower())
        with self.db.read() as conn:
            total = conn.execute(select(func.count()).select_from(gp_jobs)
                                 .where(*condition)).scalar_one()
            rows = conn.execute(select(gp_jobs).where(*condition)
                                .order_by(gp_jobs.c.submitted.desc(), gp_jobs.c.id)
                                .offset(offset).limit(limit)).all()
        return total, [JobRecord.from_row(r) for r in rows]

    def counts(self, owner: str | None = None) -> dict[JobStatus, int]:
        """How many jobs (of ``owner``) are in each status, every service (tombstones
        excluded)."""
        condition: list[Any] = [not_(gp_jobs.c.deleted)]
        if owner is not None:
            condition.append(func.lower(gp_jobs.c.owner) == owner.lower())
        with self.db.read() as conn:
            rows = conn.execute(select(gp_jobs.c.status, func.count()).where(*condition)
                                .group_by(gp_jobs.c.status)).all()
        return {JobStatus(s): n for s, n in rows}

    def statistics(self, service: str) -> dict[JobStatus, int]:
        """How many jobs of ``service`` are in each status (tombstones excluded)."""
        with self.db.read() as conn:
            rows = conn.execute(select(gp_jobs.c.status, func.count()).where(
                gp_jobs.c.service == service, not_(gp_jobs.c.deleted))
                .group_by(gp_jobs.c.status)).all()
        return {JobStatus(s): n for s, n in rows}

    def expired(self, now: int, ages_ms: Mapping[str, int], default_age_ms: int,
                limit: int = BATCH) -> list[str]:
        """Remove up to ``limit`` finished jobs older than their service's age (since they
        ended; tombstones too); returns their ids, so that their folders can go."""
        removed: list[str] = []
        with self.db.write() as conn:
            groups: list[tuple[Any, int]] = [
                (gp_jobs.c.service == service, age) for service, age in ages_ms.items()]
            groups.append((gp_jobs.c.service.not_in(list(ages_ms)) if ages_ms else
                           gp_jobs.c.service.is_not(None), default_age_ms))
            for where, age in groups:
                if len(removed) >= limit:
                    break
                ids = list(conn.execute(select(gp_jobs.c.id).where(
                    where, gp_jobs.c.status.in_(FINISHED_JOB_STATES),
                    gp_jobs.c.ended < now - age).limit(limit - len(removed))).scalars())
                if ids:
                    conn.execute(delete(gp_jobs).where(gp_jobs.c.id.in_(ids)))
                    removed.extend(ids)
        return removed


def _values(job: JobRecord) -> dict[str, Any]:
    return {c.name: getattr(job, c.name) for c in gp_jobs.columns}
