"""The scheduler engine on SQLite and PostgreSQL: exactly-once fires, schedule limits, misfires,
overlap, failures, history, leases, child processes and shutdown."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from gistasks.engine import Engine, EngineSettings, ManualClock
from gistasks.services.errors import NotFoundError
from gistasks.services.tasks import TaskError, TaskService
from gistasks.store import Store
from gistasks.store.records import RunOutcome, RunStatus
from tests.support.engines import engine_for, services_for, tasks_for


def ms(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> int:
    return int(datetime(year, month, day, hour, minute, second, tzinfo=UTC).timestamp() * 1000)


T0 = ms(2026, 1, 5, 10, 0, 0)  # a Monday


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture
def engine(store: Store, clock: ManualClock) -> Engine:
    return engine_for(store, EngineSettings(history_user=30), clock=clock, node="node-a")


@pytest.fixture
def service(engine: Engine) -> TaskService:
    return tasks_for(engine)


def every_minute(service: TaskService, **kw: object) -> str:
    kw.setdefault("type", "Ping")
    task = service.create(scope="user", owner="alice", cron_expression="0 * * * * ?",
                          **kw)  # type: ignore[arg-type]
    return task.id


def minutes_pass(engine: Engine, clock: ManualClock, last: int, execute: bool = False) -> None:
    """Minutes 1 to ``last`` after T0 go by: each one's fires are recorded and, with
    ``execute``, their runs executed before the next minute."""
    for minute in range(1, last + 1):
        clock.set(T0 + minute * 60_000)
        engine.fire_due()
        if execute:
            engine.execute_queued()


def test_first_fire_is_the_next_schedule_time(service: TaskService, store: Store) -> None:
    task_id = every_minute(service)
    task = store.tasks.get(task_id)
    assert task is not None and task.next_fire_at == T0 + 60_000 and task.task_state == "active"


def test_a_due_fire_is_recorded_once_with_the_task_advanced(
    service: TaskService, engine: Engine, store: Store, clock: ManualClock
) -> None:
    task_id = every_minute(service)
    clock.set(T0 + 60_000)
    assert engine.fire_due() == 1
    assert engine.fire_due() == 0
    runs = store.runs.of_task(task_id)
    assert [(r.scheduled_for, r.status) for r in runs] == [(T0 + 60_000, "scheduled")]
    task = store.tasks.get(task_id)
    assert task is not None
    assert (task.occurrences, task.next_fire_at, task.last_start) == (1, T0 + 120_000,
                                                                       T0 + 60_000)


def test_last_start_is_the_fire_time_even_when_recorded_ahead(
        service: TaskService, store: Store, engine: Engine, clock: ManualClock) -> None:
    task_id = every_minute(service)
    clock.set(T0 + 60_000 - 400)  # within the look-ahead: recorded now, started at the minute
    assert engine.fire_due() == 1
    task = store.tasks.get(task_id)
    assert task is not None and task.last_start == T0 + 60_000


def test_the_same_fire_cannot_be_inserted_twice(service: TaskService, store: Store,
                                                engine: Engine, clock: ManualClock) -> None:
    task_id = every_minute(service)
    clock.set(T0 + 60_000)
    engine.fire_due()
    assert store.runs.insert(task_id, T0 + 60_000, T0 + 60_000) is None
    assert len(store.runs.of_task(task_id)) == 1


def test_runs_execute_and_record_their_outcome(service: TaskService, store: Store,
                                               engine: Engine, clock: ManualClock) -> None:
    task_id = every_minute(service)
    clock.set(T0 + 60_000)
    engine.fire_due()
    assert engine.execute_queued() == 1
    (run,) = store.runs.of_task(task_id)
    assert run.status == "succeeded" and run.result.startswith("pong")
    assert run.node == "node-a" and run.started == T0 + 60_000 and run.ended == T0 + 60_000


def test_max_occurrences_ends_the_schedule_exactly(service: TaskService, store: Store,
                                                   engine: Engine, clock: ManualClock) -> None:
    task_id = every_minute(service, max_occurrences=3)
    minutes_pass(engine, clock, 5)
    task = store.tasks.get(task_id)
    assert task is not None
    assert len(store.runs.of_task(task_id)) == 3 and task.occurrences == 3
    assert (task.task_state, task.active, task.next_fire_at) == ("completed", False, None)


def test_end_date_ends_the_schedule(service: TaskService, store: Store, engine: Engine,
                                    clock: ManualClock) -> None:
    task_id = every_minute(service, end_date=T0 + 150_000)
    minutes_pass(engine, clock, 4)
    task = store.tasks.get(task_id)
    assert task is not None and task.occurrences == 2 and task.task_state == "completed"


def test_start_date_in_the_future_delays_the_first_fire(service: TaskService,
                                                        store: Store) -> None:
    task_id = every_minute(service, start_date=T0 + 3_600_000 + 30_000)
    task = store.tasks.get(task_id)
    assert task is not None and task.next_fire_at == T0 + 3_660_000


def test_a_schedule_that_never_fires_within_its_dates_is_refused(service: TaskService) -> None:
    with pytest.raises(TaskError, match="never fires"):
        service.create(scope="user", owner="alice", type="Ping",
                       cron_expression="0 0 0 1 1 ?", end_date=T0 + 86_400_000)


def test_disable_pauses_and_enable_resumes_from_now_without_a_burst(
    service: TaskService, store: Store, engine: Engine, clock: ManualClock
) -> None:
    task_id = every_minute(service)
    paused = service.disable(task_id)
    assert (paused.task_state, paused.active, paused.next_fire_at) == ("paused", False, None)
    clock.set(T0 + 10 * 60_000 + 5_000)
    assert engine.fire_due() == 0
    resumed = service.enable(task_id)
    assert resumed.next_fire_at == T0 + 11 * 60_000 and resumed.task_state == "active"
    clock.set(T0 + 11 * 60_000)
    engine.fire_due()
    assert [r.scheduled_for for r in store.runs.of_task(task_id)] == [T0 + 11 * 60_000]


def test_update_takes_effect_from_the_next_fire(service: TaskService, store: Store) -> None:
    task_id = every_minute(service)
    updated = service.update(task_id, cron_expression="0 0 12 * * ?", title="noon")
    assert updated.next_fire_at == ms(2026, 1, 5, 12) and updated.title == "noon"
    assert updated.generation == 1


def test_a_fire_late_within_the_grace_period_runs_late(service: TaskService, store: Store,
                                                       engine: Engine,
                                                       clock: ManualClock) -> None:
    task_id = every_minute(service)
    clock.set(T0 + 60_000 + 45_000)
    engine.fire_due()
    runs = store.runs.of_task(task_id)
    assert [(r.scheduled_for, r.status) for r in runs] == [(T0 + 60_000, "scheduled")]


def test_fires_missed_beyond_grace_are_coalesced_and_counted(
    service: TaskService, store: Store, engine: Engine, clock: ManualClock
) -> None:
    task_id = every_minute(service)
    clock.set(T0 + 10 * 60_000 + 5_000)  # fires at minutes 1..10 are due, 9 of them stale
    engine.fire_due()
    runs = sorted(store.runs.of_task(task_id), key=lambda r: r.scheduled_for)
    assert [(r.scheduled_for, r.status) for r in runs] == [
        (T0 + 60_000, "skipped"), (T0 + 600_000, "scheduled")]
    assert "9 fire(s)" in runs[0].result and "coalesced" in runs[0].result
    task = store.tasks.get(task_id)
    assert task is not None and task.next_fire_at == T0 + 660_000 and task.occurrences == 2


def test_a_fire_while_the_previous_run_executes_is_skipped(
    service: TaskService, store: Store, engine: Engine, clock: ManualClock
) -> None:
    task_id = every_minute(service)
    clock.set(T0 + 60_000)
    engine.fire_due()
    store.leases.claim("node-a", T0 + 60_000, 30_000, 10)  # it is executing
    clock.set(T0 + 120_000)
    engine.fire_due()
    newest = store.runs.of_task(task_id)[0]
    assert newest.status == "skipped" and "overlap" in newest.result


def test_overlap_policy_allow_queues_the_fire(service: TaskService, store: Store,
                                              engine: Engine, clock: ManualClock) -> None:
    task_id = every_minute(service, overlap_policy="allow")
    clock.set(T0 + 60_000)
    engine.fire_due()
    store.leases.claim("node-a", T0 + 60_000, 30_000, 10)
    clock.set(T0 + 120_000)
    engine.fire_due()
    assert store.runs.of_task(task_id)[0].status == "scheduled"


def test_five_consecutive_failures_stop_the_task(service: TaskService, store: Store,
                                                 engine: Engine, clock: ManualClock) -> None:
    task_id = every_minute(service, type="TestAlwaysFails")
    minutes_pass(engine, clock, 7, execute=True)
    task = store.tasks.get(task_id)
    assert task is not None
    assert (task.task_state, task.active, task.consecutive_failures) == ("failed", False, 5)
    assert len(store.runs.of_task(task_id)) == 5


def test_limits_set_through_system_limits_drive_failures_and_history(
        service: TaskService, store: Store, engine: Engine, clock: ManualClock) -> None:
    store.limits.set({"FailedRunsToDisableTask": 2, "TaskRunHistoryCount": 1})
    engine.refresh_limits()
    task_id = every_minute(service, type="TestAlwaysFails")
    minutes_pass(engine, clock, 4, execute=True)
    task = store.tasks.get(task_id)
    assert task is not None
    assert (task.task_state, task.consecutive_failures) == ("failed", 2)
    assert len(store.runs.of_task(task_id)) == 1


def test_limits_report_the_engine_settings_until_one_is_stored(store: Store) -> None:
    from gistasks.services.limits import LimitService

    # as GISTASKS_HISTORY_USER=7 would give
    engine = engine_for(store, EngineSettings(history_user=7))
    assert LimitService(store).current()["TaskRunHistoryCount"] == 30
    assert LimitService(store, engine).current()["TaskRunHistoryCount"] == 7
    store.limits.set({"TaskRunHistoryCount": 12})
    assert LimitService(store, engine).current()["TaskRunHistoryCount"] == 12


def test_a_secret_parameter_reaches_the_executor_in_clear_but_is_stored_sealed(
        service: TaskService, store: Store, engine: Engine, clock: ManualClock) -> None:
    task_id = every_minute(service, type="TestShowsPasscode",
                           parameters={"passcode": "open sesame"})
    task = store.tasks.get(task_id)
    assert task is not None and "open sesame" not in task.parameters
    clock.set(T0 + 60_000)
    engine.fire_due()
    engine.execute_queued()
    (run,) = store.runs.of_task(task_id)
    assert run.result == "passcode=open sesame"


def test_an_exception_in_a_run_is_recorded_as_failed(service: TaskService, store: Store,
                                                     engine: Engine, clock: ManualClock) -> None:
    every_minute(service, type="TestRaises")
    clock.set(T0 + 60_000)
    engine.fire_due()
    engine.workers._run_one(store.leases.claim("node-a", T0 + 60_000, 30_000, 1)[0])
    outcome = engine.workers._outcomes.get_nowait()
    assert outcome.status == "failed" and outcome.result == "RuntimeError: boom"


def test_run_history_is_bounded_per_task(store: Store, clock: ManualClock) -> None:
    engine = engine_for(store, EngineSettings(history_user=3), clock=clock, node="n")
    service = tasks_for(engine)
    task_id = every_minute(service)
    minutes_pass(engine, clock, 6, execute=True)
    runs = store.runs.of_task(task_id)
    assert [r.scheduled_for for r in runs] == [T0 + m * 60_000 for m in (6, 5, 4)]
    task = store.tasks.get(task_id)
    assert task is not None and task.occurrences == 6


def test_a_run_whose_node_died_fails_as_node_lost(service: TaskService, store: Store,
                                                  engine: Engine, clock: ManualClock) -> None:
    task_id = every_minute(service, type="TestAlwaysFails")
    clock.set(T0 + 60_000)
    engine.fire_due()
    store.leases.claim("dead-node", T0 + 60_000, 30_000, 10)
    clock.set(T0 + 60_000 + 29_000)
    assert engine.recover() == 0
    clock.set(T0 + 60_000 + 31_000)
    assert engine.recover() == 1
    (run,) = store.runs.of_task(task_id)
    assert run.status == "failed" and "node lost" in run.result and "dead-node" in run.result


def test_an_idempotent_run_whose_node_died_is_requeued(service: TaskService, store: Store,
                                                       engine: Engine,
                                                       clock: ManualClock) -> None:
    task_id = every_minute(service)  # Ping is idempotent
    clock.set(T0 + 60_000)
    engine.fire_due()
    store.leases.claim("dead-node", T0 + 60_000, 30_000, 10)
    clock.set(T0 + 100_000)
    engine.recover()
    assert engine.execute_queued() == 1
    (run,) = store.runs.of_task(task_id)
    assert run.status == "succeeded" and run.attempt == 2 and run.node == "node-a"


def test_a_lost_lease_outcome_is_not_recorded_by_the_old_node(
    service: TaskService, store: Store, engine: Engine, clock: ManualClock
) -> None:
    task_id = every_minute(service, type="TestAlwaysFails")
    clock.set(T0 + 60_000)
    engine.fire_due()
    (claimed,) = store.leases.claim("slow-node", T0 + 60_000, 30_000, 10)
    clock.set(T0 + 100_000)
    engine.recover()
    late = RunOutcome(claimed.run.id, RunStatus.SUCCEEDED, "late", "", None)
    assert store.leases.finish("slow-node", [late], T0 + 100_000, 5) == 0
    assert store.runs.of_task(task_id)[0].result.startswith("node lost")


def test_run_now_queues_a_run_outside_the_schedule(service: TaskService, store: Store,
                                                   engine: Engine) -> None:
    task_id = every_minute(service)
    run = service.run_now(task_id)
    assert run.scheduled_for == T0 and engine.execute_queued() == 1
    task = store.tasks.get(task_id)
    assert task is not None and task.occurrences == 0


def test_a_run_edited_by_hand_is_stamped_with_the_engine_clock(
        service: TaskService, store: Store, engine: Engine, clock: ManualClock) -> None:
    run = service.run_now(every_minute(service))
    clock.set(T0 + 90_000)
    services_for(engine).runs.edit(run, "skipped", "by hand")
    edited = store.runs.get(run.id)
    assert edited is not None
    assert (edited.status, edited.result, edited.modified) == ("skipped", "by hand",
                                                                T0 + 90_000)


def test_deleting_a_task_deletes_its_runs(service: TaskService, store: Store, engine: Engine,
                                          clock: ManualClock) -> None:
    task_id = every_minute(service)
    clock.set(T0 + 60_000)
    engine.fire_due()
    service.delete(task_id)
    assert store.tasks.get(task_id) is None and store.runs.of_task(task_id) == []
    with pytest.raises(NotFoundError, match="was not found"):
        service.delete(task_id)


# --- real threads, real time, child processes --------------------------------------------------


@pytest.fixture
def live(store: Store) -> Iterator[tuple[Engine, TaskService]]:
    engine = engine_for(store, EngineSettings(lease_ms=3_000, workers=4, shutdown_grace_s=2))
    yield engine, tasks_for(engine)
    engine.stop(0.5)


def wait_for(predicate: object, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def test_started_engine_fires_every_second_and_executes(live: tuple[Engine, TaskService],
                                                        store: Store) -> None:
    engine, service = live
    # Every second: a system task (a user task may fire at most once a minute).
    task = service.create(scope="system", owner="admin", type="Ping",
                          cron_expression="* * * * * ?")
    engine.start()
    wait_for(lambda: sum(r.status == "succeeded" for r in store.runs.of_task(task.id)) >= 3)
    fires = [r.scheduled_for for r in store.runs.of_task(task.id)]
    assert len(fires) == len(set(fires)) and all(f % 1000 == 0 for f in fires)
    done = [r for r in store.runs.of_task(task.id) if r.status == "succeeded"]
    # Fires are recorded up to a second ahead, but never started before their time.
    assert all(r.started is not None and r.started >= r.scheduled_for for r in done)


def test_a_task_created_while_the_loop_sleeps_long_fires_on_time(store: Store) -> None:
    engine = engine_for(store, EngineSettings(max_sleep_s=60, shutdown_grace_s=1))
    service = tasks_for(engine)
    service.create(scope="user", owner="alice", type="Ping", cron_expression="0 0 0 1 1 ?")
    engine.start()
    try:
        time.sleep(0.3)  # the loop now sleeps up to a minute
        far = service.create(scope="user", owner="alice", type="Ping",
                             cron_expression="0 0 0 1 1 ?")  # wakes nobody
        soon = service.create(scope="system", owner="admin", type="Ping",
                              cron_expression="* * * * * ?")
        wait_for(lambda: any(r.status == "succeeded" for r in store.runs.of_task(soon.id)),
                 timeout=5)
        first = min(r.scheduled_for for r in store.runs.of_task(soon.id))
        assert first - soon.created <= 1000 and store.runs.of_task(far.id) == []
    finally:
        engine.stop(0.5)


def run_started_now(live: tuple[Engine, TaskService], task_type: str,
                    **parameters: object) -> str:
    """A task of ``task_type`` that never fires by itself, one run of it queued, and the
    engine started; returns the task id."""
    engine, service = live
    task = service.create(scope="user", owner="alice", type=task_type,
                          cron_expression="0 0 0 1 1 ?", parameters=parameters)
    service.run_now(task.id)
    engine.start()
    return task.id


def test_a_crashing_child_process_fails_the_run_not_the_server(
    live: tuple[Engine, TaskService], store: Store
) -> None:
    task_id = run_started_now(live, "TestCrashesChild")
    wait_for(lambda: store.runs.of_task(task_id)[0].status == "failed")
    assert "exit code 3" in store.runs.of_task(task_id)[0].result


def test_a_child_process_over_its_time_limit_is_killed(live: tuple[Engine, TaskService],
                                                       store: Store) -> None:
    task_id = run_started_now(live, "TestSleepsInChild", seconds=30)
    wait_for(lambda: store.runs.of_task(task_id)[0].status == "failed")
    assert store.runs.of_task(task_id)[0].result == "time limit of 4 s exceeded"


def test_a_child_process_run_succeeds_in_another_process(live: tuple[Engine, TaskService],
                                                          store: Store) -> None:
    task_id = run_started_now(live, "TestSleepsInChild", seconds=0)
    wait_for(lambda: store.runs.of_task(task_id)[0].status == "succeeded")
    assert store.runs.of_task(task_id)[0].result != f"slept in pid {os.getpid()}"


def test_cancelling_a_running_run_fails_it_with_the_reason(live: tuple[Engine, TaskService],
                                                           store: Store) -> None:
    engine, service = live
    task = service.create(scope="user", owner="alice", type="TestSleepsInChild",
                          cron_expression="0 0 0 1 1 ?", parameters={"seconds": 0.9})
    run = service.run_now(task.id)
    engine.start()
    wait_for(lambda: engine.cancel(run.id, "cancelled by alice"))
    wait_for(lambda: store.runs.of_task(task.id)[0].status == "failed")
    assert store.runs.of_task(task.id)[0].result == "cancelled by alice"


def test_shutdown_releases_work_that_outlives_the_grace_period(store: Store) -> None:
    engine = engine_for(store, EngineSettings(lease_ms=3_000, workers=2))
    service = tasks_for(engine)
    task = service.create(scope="user", owner="alice", type="TestSleepsInThread",
                          cron_expression="0 0 0 1 1 ?", parameters={"seconds": 30})
    queued = service.run_now(task.id)
    engine.start()
    wait_for(lambda: queued.id in engine.running())  # started, not merely leased
    engine.stop(0.3)
    run = store.runs.of_task(task.id)[0]
    assert run.status == "failed"
    assert run.result in ("the server shut down before the run finished",
                          "noticed the cancellation")


def test_two_nodes_on_one_database_never_record_a_fire_twice(store: Store) -> None:
    engines = [engine_for(store, EngineSettings(lease_ms=3_000, workers=2), node=f"node-{i}")
               for i in range(2)]
    service = tasks_for(engines[0])
    ids = [service.create(scope="system", owner="admin", type="Ping",
                          cron_expression="* * * * * ?").id for _ in range(20)]
    for e in engines:
        e.start()
    time.sleep(3.2)
    for e in engines:
        e.stop(1)
    for task_id in ids:
        fires = [r.scheduled_for for r in store.runs.of_task(task_id)]
        assert len(fires) == len(set(fires)) >= 2
        task = store.tasks.get(task_id)
        assert task is not None and task.occurrences == len(fires)


def test_shutdown_lets_running_work_finish_within_the_grace_period(store: Store) -> None:
    engine = engine_for(store, EngineSettings(lease_ms=3_000, workers=2))
    service = tasks_for(engine)
    task = service.create(scope="user", owner="alice", type="TestSleepsInThread",
                          cron_expression="0 0 0 1 1 ?", parameters={"seconds": 0.6})
    queued = service.run_now(task.id)
    engine.start()
    wait_for(lambda: queued.id in engine.running())
    engine.stop(10)
    run = store.runs.of_task(task.id)[0]
    assert (run.status, run.result) == ("succeeded", "slept")


def test_enable_after_a_failure_stop_resets_the_failure_count(
    service: TaskService, store: Store, engine: Engine, clock: ManualClock
) -> None:
    task_id = every_minute(service, type="TestAlwaysFails")
    minutes_pass(engine, clock, 5, execute=True)
    assert service.enable(task_id).consecutive_failures == 0
    task = store.tasks.get(task_id)
    assert task is not None and task.task_state == "active" and task.active


def test_without_an_injected_clock_postgresql_time_comes_from_the_database(
    store: Store,
) -> None:
    engine = engine_for(store)
    if store.is_sqlite:
        assert not engine.use_database_clock
        return
    assert engine.use_database_clock
    db_now = store.db.now_ms()
    assert db_now is not None and abs(engine.now_ms() - db_now) < 5_000


def test_record_fields_follow_the_table_columns() -> None:
    from dataclasses import fields

    from gistasks.store.records import RunRecord, TaskRecord
    from gistasks.store.schema import runs, tasks

    assert [f.name for f in fields(TaskRecord)] == [c.name for c in tasks.columns]
    assert [f.name for f in fields(RunRecord)] == [c.name for c in runs.columns]


def test_shutdown_requeues_runs_leased_ahead_but_never_started(store: Store) -> None:
    engine = engine_for(store, EngineSettings(lease_ms=3_000, workers=1, lookahead_ms=5_000))
    service = tasks_for(engine)
    task = service.create(scope="user", owner="alice", type="TestAlwaysFails",
                          cron_expression="0 0 0 1 1 ?")
    future = store.runs.insert(task.id, engine.now_ms() + 4_000, engine.now_ms())
    assert future is not None
    engine.start()
    wait_for(lambda: store.runs.of_task(task.id)[0].status == "executing")  # leased ahead
    engine.stop(0.3)
    run = store.runs.of_task(task.id)[0]
    assert (run.status, run.node, run.lease_until) == ("scheduled", None, None)
