"""The task service called from Python enforces every rule the HTTP API enforces: the same
checks, the same errors naming the same parameters."""

from __future__ import annotations

import json
from typing import Any

import pytest

from gistasks.engine import ManualClock
from gistasks.services import Services
from gistasks.services.errors import (
    InvalidParameterError,
    MissingParameterError,
    NotFoundError,
    ServiceError,
)
from gistasks.services.tasks import TaskError
from gistasks.store import Store
from gistasks.store.records import Scope
from tests.support.engines import engine_for, services_for
from tests.support.tasktypes import NotebookStandIn

T0 = 1_767_607_200_000  # 2026-01-05T10:00:00Z
EVERY_MINUTE = {"minute": "*", "hour": "*", "dayOfMonth": "*", "month": "*", "dayOfWeek": "?"}


@pytest.fixture
def services(store: Store) -> Services:
    engine = engine_for(store, clock=ManualClock(T0))
    engine.types.register(NotebookStandIn)
    services = services_for(engine)
    services.users.add("alice", "alices pass 1", role="org_user")
    services.users.add("erin", "erins pass 1", role="org_publisher")
    return services


def create(services: Services, scope: Scope = Scope.USER, owner: str = "alice",
           **fields: Any) -> str:
    fields.setdefault("type", "Ping")
    if "cron_expression" not in fields:
        fields.setdefault("cron", EVERY_MINUTE)
    return services.tasks.create(scope=scope, owner=owner, **fields).id


@pytest.mark.parametrize(("fields", "error", "message"), [
    ({"cron_expression": "* * * * * ?"}, InvalidParameterError, "Invalid schedule"),
    ({"cron": {**EVERY_MINUTE, "minute": ""}}, MissingParameterError, "'minute' must be"),
    ({"cron": {**EVERY_MINUTE, "hour": "25"}}, InvalidParameterError, "Invalid 'hour'"),
    ({"time_zone": "Mars/Olympus"}, InvalidParameterError, "Invalid 'timeZone'"),
    ({"type": "NoSuchType"}, InvalidParameterError, "Invalid 'type' 'NoSuchType'"),
    ({"type": ""}, MissingParameterError, "'type' must be specified"),
    ({"type": "ExecuteNotebook"}, MissingParameterError, "'itemId' must be specified"),
    ({"parameters": "[1]"}, InvalidParameterError, "Invalid 'parameters'"),
    ({"parameters": "{not json"}, InvalidParameterError, "Invalid 'parameters'"),
    ({"parameters": '{"a": NaN}'}, InvalidParameterError, "Invalid 'parameters'"),
    ({"max_occurrences": -2}, InvalidParameterError, "Invalid 'maxOccurrences'"),
    ({"end_date": T0 - 1}, InvalidParameterError, "Invalid 'endDate'"),
    ({"start_date": T0 + 7_200_000, "end_date": T0 + 3_600_000}, InvalidParameterError,
     "Invalid 'endDate'"),
    ({"start_date": -1}, InvalidParameterError, "Invalid 'startDate'"),
    ({"overlap_policy": "sometimes"}, InvalidParameterError, "Invalid 'overlapPolicy'"),
    ({"misfire_grace_s": -1.0}, InvalidParameterError, "Invalid 'misfireGraceSeconds'"),
    ({"misfire_grace_s": float("inf")}, InvalidParameterError,
     "Invalid 'misfireGraceSeconds'"),
])
def test_a_bad_field_is_refused_naming_it(services: Services, fields: dict[str, Any],
                                          error: type[ServiceError], message: str) -> None:
    with pytest.raises(error) as caught:
        create(services, **fields)
    assert caught.value.message.startswith(message), caught.value


def test_a_user_task_fires_at_most_once_a_minute_a_system_task_every_second(
        services: Services) -> None:
    with pytest.raises(InvalidParameterError, match="at most once a minute"):
        create(services, cron_expression="*/30 * * * * ?")
    assert create(services, Scope.SYSTEM, "admin", cron_expression="* * * * * ?")


def test_a_type_is_created_only_in_the_scopes_it_declares(services: Services) -> None:
    with pytest.raises(InvalidParameterError, match="Invalid 'type' 'ExecuteNotebook'"):
        create(services, Scope.SYSTEM, "admin", type="ExecuteNotebook", item_id="nb")


def test_a_schedule_that_never_fires_between_its_dates_is_refused(services: Services) -> None:
    with pytest.raises(TaskError, match="never fires"):
        create(services, cron_expression="0 0 0 1 1 ?", end_date=T0 + 86_400_000)


def test_a_notebook_task_needs_its_owners_privilege(services: Services) -> None:
    with pytest.raises(TaskError, match="premium:publisher:scheduleNotebooks"):
        create(services, type="ExecuteNotebook", item_id="nb")
    assert create(services, owner="erin", type="ExecuteNotebook", item_id="nb")


def test_the_notebook_limit_holds_for_create_enable_and_type_change(services: Services) -> None:
    services.limits.update({"ExecuteNotebooksUserLimit": 1})
    first = create(services, owner="erin", type="ExecuteNotebook", item_id="nb")
    with pytest.raises(TaskError, match="ExecuteNotebooksUserLimit"):
        create(services, owner="erin", type="ExecuteNotebook", item_id="nb")
    paused = create(services, owner="erin", type="ExecuteNotebook", item_id="nb",
                    active=False)
    with pytest.raises(TaskError, match="ExecuteNotebooksUserLimit"):
        services.tasks.enable(paused)
    ping = create(services, owner="erin")
    with pytest.raises(TaskError, match="ExecuteNotebooksUserLimit"):
        services.tasks.update(ping, type="ExecuteNotebook", item_id="nb")
    services.tasks.disable(first)
    assert services.tasks.enable(paused).active


def test_an_update_keeps_what_it_does_not_name(services: Services) -> None:
    task_id = create(services, title="kept", cron={**EVERY_MINUTE, "minute": "*/5"})
    updated = services.tasks.update(task_id, cron={"hour": "3"})
    assert updated.title == "kept" and updated.cron_expression == "0 */5 3 * * ?"
    with pytest.raises(InvalidParameterError, match="Invalid schedule"):
        services.tasks.update(task_id, cron={"second": "*", "minute": "*"})


def test_a_masked_secret_sent_back_keeps_the_stored_one(services: Services,
                                                        store: Store) -> None:
    task_id = create(services, parameters={"passcode": "s3cret", "note": "a"})
    services.tasks.update(task_id, parameters={"passcode": "********", "note": "b"})
    task = store.tasks.get(task_id)
    assert task is not None and "s3cret" not in task.parameters
    assert services.engine.secrets.open(json.loads(task.parameters), task_id) == {
        "passcode": "s3cret", "note": "b"}


def test_another_owners_task_is_not_found(services: Services) -> None:
    task_id = create(services)
    assert services.tasks.find(task_id, Scope.USER, "alice").id == task_id
    with pytest.raises(NotFoundError):
        services.tasks.find(task_id, Scope.USER, "erin")
    with pytest.raises(NotFoundError):
        services.tasks.find(task_id, Scope.SYSTEM)


def test_runs_are_found_through_their_task_only(services: Services) -> None:
    first, second = create(services), create(services)
    run = services.tasks.run_now(first)
    task = services.tasks.find(first, Scope.USER)
    assert services.runs.find(task, run.id) == run
    with pytest.raises(NotFoundError):
        services.runs.find(services.tasks.find(second, Scope.USER), run.id)
    with pytest.raises(InvalidParameterError, match="'status'"):
        services.runs.edit(run, "done")


def test_a_page_refuses_an_unknown_sort_field(services: Services) -> None:
    with pytest.raises(InvalidParameterError, match="sortField"):
        services.tasks.page(scope=Scope.USER, sort_field="owner")


def test_secrets_stored_before_binding_are_sealed_anew_at_start(services: Services,
                                                                store: Store) -> None:
    import base64
    import os

    from gistasks.security.secretbox import LEGACY_PREFIX

    task_id = create(services, parameters={"note": "n"})
    # As an older server stored them: an unbound ciphertext, and a secret object in clear.
    key = services.engine.secrets._aead  # the box's own cipher, for the old format
    nonce = os.urandom(12)
    legacy = LEGACY_PREFIX + base64.urlsafe_b64encode(
        nonce + key.encrypt(nonce, b'"old secret"', LEGACY_PREFIX.encode())).decode()
    store.tasks.set_parameters(task_id, json.dumps(
        {"passcode": legacy, "credentials": {"pass": "in clear"}, "note": "n"}))
    assert services.tasks.upgrade_secrets() == 1
    assert services.tasks.upgrade_secrets() == 0  # nothing left to do
    record = store.tasks.get(task_id)
    assert record is not None and "in clear" not in record.parameters
    stored = json.loads(record.parameters)
    assert stored["passcode"].startswith("{crypt2}") and stored["note"] == "n"
    assert services.engine.secrets.open(stored, task_id) == {
        "passcode": "old secret", "credentials": {"pass": "in clear"}, "note": "n"}
