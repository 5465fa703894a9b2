"""Tokens on SQLite and PostgreSQL: a verified token is remembered (a client polling a job
sends it many times a second) without weakening what a token may do."""

from __future__ import annotations

import pytest

from gistasks.config import SignInPolicy
from gistasks.services import auth as auth_module
from gistasks.services.auth import AuthService, SignInGuard
from gistasks.services.errors import InvalidTokenError
from gistasks.services.users import UserService
from gistasks.store import Store

KEY = b"k" * 32


@pytest.fixture
def auth(store: Store) -> AuthService:
    users = UserService(store)
    users.add("alice", "correct horse 1")
    return AuthService(users, SignInGuard(store, SignInPolicy()), KEY, 60)


def test_a_remembered_token_stops_working_when_its_user_is_disabled(auth: AuthService) -> None:
    user = auth.users.get("alice")
    assert user is not None
    token = auth.issue(user, 60).token
    assert auth.verify(token).user.username == "alice"
    assert auth.verify(token).user.username == "alice"  # now from the memo
    auth.users.set_disabled("alice", True)
    with pytest.raises(InvalidTokenError):
        auth.verify(token)


def test_a_remembered_token_stops_working_when_it_expires(auth: AuthService,
                                                          monkeypatch: pytest.MonkeyPatch
                                                          ) -> None:
    user = auth.users.get("alice")
    assert user is not None
    token = auth.issue(user, 1)
    auth.verify(token.token)
    monkeypatch.setattr(auth_module, "now_ms", lambda: token.expires + 1)
    with pytest.raises(InvalidTokenError):
        auth.verify(token.token)


def test_a_tampered_token_is_refused_and_not_remembered(auth: AuthService) -> None:
    user = auth.users.get("alice")
    assert user is not None
    token = auth.issue(user, 60).token
    forged = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    for _ in range(2):
        with pytest.raises(InvalidTokenError):
            auth.verify(forged)


def test_the_memo_of_verified_tokens_stays_bounded(auth: AuthService,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(auth_module, "VERIFIED_TOKENS", 5)
    user = auth.users.get("alice")
    assert user is not None
    for _ in range(12):
        auth.verify(auth.issue(user, 60).token)
    assert len(auth._verified) <= 5
