"""Typed records that flow from the store up to the engine and the API."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

RUN_STATUSES = ("scheduled", "executing", "succeeded", "failed", "skipped", "submitfailed")
TASK_STATES = ("active", "paused", "completed", "failed")


@dataclass(frozen=True, slots=True)
class TaskRecord:
    """One scheduled task, user (Sharing API) or system (admin API)."""

    id: str
    scope: str
    owner: str
    type: str
    title: str
    item_id: str | None
    task_url: str | None
    parameters: str
    cron_expression: str
    time_zone: str
    dst_gap: str
    dst_overlap: str
    start_date: int | None
    end_date: int | None
    max_occurrences: int
    occurrences: int
    consecutive_failures: int
    active: bool
    task_state: str
    misfire_grace_ms: int | None
    overlap_policy: str
    next_fire_at: int | None
    last_start: int | None
    created: int
    updated: int
    generation: int

    @classmethod
    def from_row(cls, row: Any) -> TaskRecord:
        """From a row of ``select(tasks)`` (columns in table order, which is field order)."""
        return cls(*row)


@dataclass(frozen=True, slots=True)
class RunRecord:
    """One fire of a task (or a manual run), with its outcome."""

    id: str
    task_id: str
    scheduled_for: int
    status: str
    result: str
    url: str
    node: str | None
    lease_until: int | None
    attempt: int
    created: int
    started: int | None
    ended: int | None
    modified: int

    @classmethod
    def from_row(cls, row: Any) -> RunRecord:
        """From a row of ``select(runs)`` (columns in table order, which is field order)."""
        return cls(*row)


@dataclass(frozen=True, slots=True)
class NewRun:
    """A run the scheduler records for a fire: queued (``scheduled``) or ``skipped``."""

    id: str
    scheduled_for: int
    status: str
    result: str = ""


@dataclass(slots=True)
class FirePlan:
    """What one claim does to a due task: the runs to insert and the task's new state."""

    runs: list[NewRun] = field(default_factory=list)
    next_fire_at: int | None = None
    occurrences: int = 0
    last_start: int | None = None
    task_state: str = "active"
    active: bool = True


@dataclass(frozen=True, slots=True)
class ClaimedRun:
    """A run a worker has leased, with what it needs to execute."""

    run: RunRecord
    task_type: str
    parameters: str
    item_id: str | None
    task_url: str | None
    owner: str


@dataclass(frozen=True, slots=True)
class UserRecord:
    """A portal user. ``credentials_version`` grows with every password change or disabling,
    which revokes the tokens issued before."""

    username: str
    full_name: str
    email: str
    role: str
    password_hash: str
    disabled: bool
    credentials_version: int
    created: int
    modified: int

    @classmethod
    def from_row(cls, row: Any) -> UserRecord:
        """From a row of ``select(users)`` (columns in table order, which is field order)."""
        return cls(*row)
