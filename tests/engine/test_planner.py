"""The planner, pure: what a due task records and how its schedule moves on, with no database
and no clock."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from gistasks.engine.planner import first_fire_ms, plan_fires, preview_fires, task_schedule
from gistasks.engine.settings import EngineSettings
from gistasks.store.records import OverlapPolicy, RunStatus, Scope, TaskRecord, TaskState

SETTINGS = EngineSettings(misfire_grace_ms=60_000)


def ms(hour: int, minute: int, second: int = 0) -> int:
    return int(datetime(2026, 1, 5, hour, minute, second, tzinfo=UTC).timestamp() * 1000)


def task(**changes: object) -> TaskRecord:
    """A task firing every minute, due at 10:01."""
    base = TaskRecord(
        id="t", scope=Scope.USER, owner="alice", type="Ping", title="", item_id=None,
        task_url=None, parameters="{}", cron_expression="0 * * * * ?", time_zone="UTC",
        dst_gap="shift", dst_overlap="earlier", start_date=None, end_date=None,
        max_occurrences=-1, occurrences=0, consecutive_failures=0, active=True,
        task_state=TaskState.ACTIVE, misfire_grace_ms=None, overlap_policy=OverlapPolicy.SKIP,
        next_fire_at=ms(10, 1), last_start=None, created=ms(10, 0), updated=ms(10, 0),
        generation=0)
    return replace(base, **changes)  # type: ignore[arg-type]


def test_an_on_time_fire_records_one_queued_run_and_moves_to_the_next_minute() -> None:
    plan = plan_fires(task(), ms(10, 1), busy=False, settings=SETTINGS)
    assert [(r.scheduled_for, r.status) for r in plan.runs] == [(ms(10, 1), RunStatus.SCHEDULED)]
    assert (plan.next_fire_at, plan.task_state, plan.active) == (ms(10, 2), "active", True)


def test_a_fire_late_within_the_grace_runs_for_its_own_time() -> None:
    plan = plan_fires(task(), ms(10, 1, 50), busy=False, settings=SETTINGS)
    assert [r.scheduled_for for r in plan.runs] == [ms(10, 1)]
    assert plan.next_fire_at == ms(10, 2)


def test_fires_missed_beyond_the_grace_coalesce_into_one_run_now_and_one_record() -> None:
    plan = plan_fires(task(), ms(10, 10, 30), busy=False, settings=SETTINGS)
    skipped, queued = plan.runs
    assert (skipped.scheduled_for, skipped.status) == (ms(10, 1), RunStatus.SKIPPED)
    assert "9 fire(s) from 2026-01-05T10:01:00Z were missed" in skipped.result
    assert (queued.scheduled_for, queued.status) == (ms(10, 10), RunStatus.SCHEDULED)
    assert plan.next_fire_at == ms(10, 11)


def test_a_task_of_its_own_grace_uses_it_instead_of_the_engine_setting() -> None:
    plan = plan_fires(task(misfire_grace_ms=0), ms(10, 2, 30), busy=False, settings=SETTINGS)
    assert [r.status for r in plan.runs] == [RunStatus.SKIPPED, RunStatus.SCHEDULED]


def test_a_fire_while_the_previous_run_runs_is_skipped_or_queued_by_policy() -> None:
    skip = plan_fires(task(), ms(10, 1), busy=True, settings=SETTINGS)
    assert [(r.status, r.result[:8]) for r in skip.runs] == [(RunStatus.SKIPPED, "overlap:")]
    allow = plan_fires(task(overlap_policy=OverlapPolicy.ALLOW), ms(10, 1), busy=True,
                       settings=SETTINGS)
    assert [r.status for r in allow.runs] == [RunStatus.SCHEDULED]


def test_the_last_occurrence_completes_the_task() -> None:
    plan = plan_fires(task(max_occurrences=3, occurrences=2), ms(10, 1), busy=False,
                      settings=SETTINGS)
    assert len(plan.runs) == 1
    assert (plan.next_fire_at, plan.task_state, plan.active) == (None, "completed", False)


def test_a_task_with_no_occurrence_left_records_nothing() -> None:
    plan = plan_fires(task(max_occurrences=3, occurrences=3), ms(10, 1), busy=False,
                      settings=SETTINGS)
    assert plan.runs == [] and plan.task_state == TaskState.COMPLETED


def test_the_end_date_ends_the_schedule_after_its_last_fire() -> None:
    plan = plan_fires(task(end_date=ms(10, 1, 30)), ms(10, 1), busy=False, settings=SETTINGS)
    assert len(plan.runs) == 1 and plan.task_state == TaskState.COMPLETED


def test_the_first_fire_is_after_now_or_at_a_future_start() -> None:
    expr = task_schedule(task())
    assert first_fire_ms(expr, ms(10, 0, 10), None, None) == ms(10, 1)
    assert first_fire_ms(expr, ms(10, 0, 10), ms(9, 0), None) == ms(10, 1)  # a past start
    assert first_fire_ms(expr, ms(10, 0, 10), ms(11, 0), None) == ms(11, 0)
    assert first_fire_ms(expr, ms(10, 0, 10), ms(11, 0), ms(10, 30)) is None


def test_the_preview_stops_at_the_end_date_and_the_last_occurrence() -> None:
    assert preview_fires(task(), 3) == [ms(10, 1), ms(10, 2), ms(10, 3)]
    assert preview_fires(task(end_date=ms(10, 2)), 5) == [ms(10, 1), ms(10, 2)]
    assert preview_fires(task(max_occurrences=3, occurrences=1), 5) == [ms(10, 1), ms(10, 2)]
    assert preview_fires(task(next_fire_at=None), 5) == []
