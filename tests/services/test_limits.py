"""The scheduled-task limits: defaults, checked changes, and the room they leave."""

from __future__ import annotations

import pytest

from gistasks.engine import EngineSettings
from gistasks.services.errors import InvalidParameterError
from gistasks.services.limits import DEFAULTS, LimitService
from gistasks.store import Store
from gistasks.store.records import Scope
from tests.support.engines import engine_for, services_for
from tests.support.tasktypes import NotebookStandIn


def test_a_limit_never_set_has_its_arcgis_default(store: Store) -> None:
    current = LimitService(store).current()
    assert current == DEFAULTS
    assert (current["ExecuteNotebooksUserLimit"], current["ExecuteNotebooksOrgLimit"]) == (20,
                                                                                            200)


def test_the_engine_limits_default_to_the_nodes_settings(store: Store) -> None:
    engine = engine_for(store, EngineSettings(failed_runs_to_disable=9))
    assert LimitService(store, engine).current()["FailedRunsToDisableTask"] == 9


@pytest.mark.parametrize(("changes", "message"), [
    ({"NoSuchLimit": 1}, "unknown limitName"),
    ({"TaskRunHistoryCount": True}, "must be an integer"),
    ({"TaskRunHistoryCount": "5"}, "must be an integer"),
    ({"TaskRunHistoryCount": 0}, "must be 1 or more"),
    ({"ExecuteNotebooksUserLimit": -2}, "-1 for no limit"),
    ({"ExecuteNotebooksUserLimit": 2**31}, "at most"),
])
def test_a_bad_change_is_refused_and_nothing_is_stored(store: Store, changes: dict[str, object],
                                                       message: str) -> None:
    service = LimitService(store)
    with pytest.raises(InvalidParameterError, match=message):
        service.update({"GPServiceUserLimit": 3, **changes})
    assert service.current() == DEFAULTS


def test_only_the_schedule_task_category_exists(store: Store) -> None:
    with pytest.raises(InvalidParameterError, match="category"):
        LimitService(store).update({"GPServiceUserLimit": 3}, category="Other")


def test_a_change_reaches_the_engine_at_once(store: Store) -> None:
    engine = engine_for(store)
    LimitService(store, engine).update({"TaskRunHistoryCount": 4})
    assert engine.settings.history_user == 4


def test_the_user_and_org_limits_leave_room_by_type_and_owner(store: Store) -> None:
    engine = engine_for(store)
    engine.types.register(NotebookStandIn)
    services = services_for(engine)
    for name in ("alice", "bob"):
        services.users.add(name, f"{name}s pass 1", role="org_publisher")
    services.limits.update({"ExecuteNotebooksUserLimit": 1, "ExecuteNotebooksOrgLimit": 2})

    def notebook(owner: str) -> str:
        return services.tasks.create(scope=Scope.USER, owner=owner, type="ExecuteNotebook",
                                     item_id="nb", cron_expression="0 0 0 1 1 ?").id

    notebook("alice")
    assert "alice already has 1 active ExecuteNotebook tasks" in str(
        services.limits.room_for("ExecuteNotebook", "alice"))
    assert services.limits.room_for("ExecuteNotebook", "bob") is None
    assert services.limits.room_for("Ping", "alice") is None  # Ping has no limit
    notebook("bob")
    assert "the organization already has 2" in str(
        services.limits.room_for("ExecuteNotebook", "carol"))
