"""Browser sessions and the dashboard's figures, on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib

import pytest

from gistasks.config import SignInPolicy
from gistasks.services.auth import AuthService, SignInGuard
from gistasks.services.browser import BrowserSessions
from gistasks.services.dashboard import MAX_FIRES_PER_TASK, DashboardService
from gistasks.services.errors import InvalidTokenError
from gistasks.services.users import UserService
from gistasks.store import Store
from gistasks.store import sessions as session_store
from gistasks.store.records import NodeRecord, RunRecord, RunStatus, Scope, TaskRecord
from gistasks.store.sessions import MAX_SESSIONS_PER_USER

KEY = b"k" * 32
NOW = 1_800_000_000_000
HOUR = 3_600_000


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> int:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def sessions(store: Store, clock: Clock) -> BrowserSessions:
    users = UserService(store)
    users.add("alice", "correct horse 1")
    users.add("bob", "battery staple 1", role="org_admin")
    auth = AuthService(users, SignInGuard(store, SignInPolicy()), KEY, 24 * 60)
    return BrowserSessions(store, auth, KEY, clock)


def test_a_session_stands_for_its_user_until_it_is_signed_out(sessions: BrowserSessions,
                                                              store: Store) -> None:
    secret = sessions.sign_in("alice", "correct horse 1", "127.0.0.1")
    assert secret is not None and len(secret) >= 40
    assert sessions.user(secret).username == "alice"
    # The database holds the secret's digest, never the secret.
    assert store.sessions.get(hashlib.sha256(secret.encode()).hexdigest()) is not None
    assert store.sessions.get(secret) is None
    assert sessions.sign_out(secret) is True
    with pytest.raises(InvalidTokenError):
        sessions.user(secret)
    assert sessions.sign_out(secret) is False


def test_a_wrong_password_starts_no_session(sessions: BrowserSessions) -> None:
    assert sessions.sign_in("alice", "wrong", None) is None
    assert sessions.sign_in("nobody", "wrong", None) is None


def test_a_session_ends_when_it_expires_or_its_user_changes(sessions: BrowserSessions,
                                                            clock: Clock) -> None:
    first = sessions.sign_in("alice", "correct horse 1", None)
    assert first is not None
    clock.now += sessions.lifetime_ms
    with pytest.raises(InvalidTokenError):
        sessions.user(first)
    second = sessions.sign_in("alice", "correct horse 1", None)
    assert second is not None
    sessions.auth.users.set_password("alice", "a new password 2")
    with pytest.raises(InvalidTokenError):
        sessions.user(second)
    third = sessions.sign_in("alice", "a new password 2", None)
    assert third is not None
    sessions.auth.users.set_disabled("alice", True)
    with pytest.raises(InvalidTokenError):
        sessions.user(third)


def test_the_csrf_token_belongs_to_its_session(sessions: BrowserSessions) -> None:
    a = sessions.sign_in("alice", "correct horse 1", None)
    b = sessions.sign_in("bob", "battery staple 1", None)
    assert a and b
    assert sessions.check_csrf(a, sessions.csrf_token(a))
    assert not sessions.check_csrf(a, sessions.csrf_token(b))
    assert not sessions.check_csrf(a, None) and not sessions.check_csrf(a, "")
    good = sessions.csrf_token(a)
    assert not sessions.check_csrf(a, good[:-1] + ("1" if good[-1] == "0" else "0"))


def test_hostile_cookies_are_not_looked_up(sessions: BrowserSessions) -> None:
    for secret in ("", "x" * 10_000, "' OR 1=1 --", "\x00"):
        with pytest.raises(InvalidTokenError):
            sessions.user(secret)
        assert sessions.sign_out(secret) is False


def test_a_user_keeps_a_bounded_number_of_sessions(sessions: BrowserSessions, clock: Clock,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    assert MAX_SESSIONS_PER_USER == 50
    monkeypatch.setattr(session_store, "MAX_SESSIONS_PER_USER", 4)  # each sign-in costs argon2
    made = []
    for _ in range(4 + 3):
        clock.now += 1
        secret = sessions.sign_in("alice", "correct horse 1", None)
        assert secret is not None
        made.append(secret)
    for old in made[:3]:
        with pytest.raises(InvalidTokenError):
            sessions.user(old)
    assert all(sessions.user(s).username == "alice" for s in made[3:])


def _task(store: Store, task_id: str, owner: str, cron: str, next_fire: int | None, **kw: object
          ) -> TaskRecord:
    values: dict[str, object] = dict(
        id=task_id, scope=Scope.USER, owner=owner, type="Ping", title=task_id, item_id=None,
        task_url=None, parameters="{}", cron_expression=cron, time_zone="UTC",
        dst_gap="shift", dst_overlap="earlier", start_date=None, end_date=None,
        max_occurrences=-1, occurrences=0, consecutive_failures=0, active=True,
        task_state="active", misfire_grace_ms=None, overlap_policy="skip",
        next_fire_at=next_fire, last_start=None, created=NOW, updated=NOW, generation=0,
        state_reason="")
    values.update(kw)
    task = TaskRecord(**values)  # type: ignore[arg-type]
    store.tasks.insert(task)
    return task


def test_the_timeline_holds_the_fires_of_the_next_day_within_each_tasks_bounds(
        store: Store, sessions: BrowserSessions, clock: Clock) -> None:
    dashboard = DashboardService(store, clock)
    hourly = NOW - NOW % HOUR + HOUR
    _task(store, "hourly", "alice", "0 0 * * * ?", hourly)
    _task(store, "minutely", "alice", "0 * * * * ?", NOW - NOW % 60_000 + 60_000)
    _task(store, "twice", "alice", "0 30 * * * ?", hourly + HOUR // 2, max_occurrences=5,
          occurrences=3)
    _task(store, "ended", "alice", "0 15 * * * ?", hourly + HOUR // 4,
          end_date=hourly + 3 * HOUR)
    _task(store, "far", "alice", "0 0 0 1 1 ?", NOW + 200 * 24 * HOUR)
    _task(store, "bobs", "bob", "0 0 * * * ?", hourly)
    alice = sessions.auth.users.get("alice")
    bob = sessions.auth.users.get("bob")
    assert alice is not None and bob is not None
    fires = dashboard.overview(alice).fires
    by_task: dict[str, list[int]] = {}
    for f in fires:
        by_task.setdefault(f.task.id, []).append(f.at)
    assert len(by_task["hourly"]) == 24 and by_task["hourly"][0] == hourly
    assert len(by_task["minutely"]) == MAX_FIRES_PER_TASK  # bounded per task
    assert len(by_task["twice"]) == 2  # the occurrences it has left
    assert len(by_task["ended"]) == 3  # not past its end date
    assert "far" not in by_task and "bobs" not in by_task  # outside the day; someone else's
    assert [f.at for f in fires] == sorted(f.at for f in fires)
    assert all(NOW <= f.at <= NOW + 24 * HOUR for f in fires)
    assert "bobs" in {f.task.id for f in dashboard.overview(bob).fires}  # an admin sees all


def test_runs_show_their_lateness_and_failing_tasks_are_listed(
        store: Store, sessions: BrowserSessions, clock: Clock) -> None:
    dashboard = DashboardService(store, clock)
    _task(store, "good", "alice", "0 0 * * * ?", NOW + HOUR)
    _task(store, "bad", "alice", "0 0 * * * ?", NOW + HOUR, consecutive_failures=2)
    _task(store, "paused", "alice", "0 0 * * * ?", None, active=False, task_state="paused")
    run = store.runs.insert("good", NOW - 5_000, NOW - 5_000)
    assert run is not None
    store.runs.update(run.id, status=RunStatus.SUCCEEDED, started=NOW - 4_250, ended=NOW,
                      modified=NOW)
    queued = store.runs.insert("bad", NOW, NOW)
    alice = sessions.auth.users.get("alice")
    assert alice is not None and queued is not None
    o = dashboard.overview(alice)
    late = {r.run.id: r.lateness_ms for r in o.runs}
    assert late == {run.id: 750, queued.id: None}
    assert {t.id for t in o.troubled} == {"bad", "paused"}
    assert o.nodes == [] and not o.everyone
    assert isinstance(o.runs[0].run, RunRecord)


def test_nodes_are_running_silent_or_stopped_and_old_ones_are_forgotten(
        store: Store, sessions: BrowserSessions, clock: Clock) -> None:
    dashboard = DashboardService(store, clock)
    store.nodes.beat(NodeRecord("a", "host", 1, "0.1.0", NOW - HOUR, NOW - 1_000, 0))
    store.nodes.beat(NodeRecord("b", "host", 2, "0.1.0", NOW - HOUR, NOW - 120_000, 0))
    store.nodes.beat(NodeRecord("c", "host", 3, "0.1.0", NOW - HOUR, NOW - 2_000, 0))
    store.nodes.stopped("c", NOW - 1_500)
    store.nodes.beat(NodeRecord("d", "host", 4, "0.1.0", NOW - 50 * HOUR, NOW - 30 * HOUR, 0))
    bob = sessions.auth.users.get("bob")
    assert bob is not None
    states = {n.node.node: n.state for n in dashboard.overview(bob).nodes}
    assert states == {"a": "running", "b": "silent", "c": "stopped"}
