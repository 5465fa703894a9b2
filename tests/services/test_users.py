"""Users on SQLite and PostgreSQL: roles and privileges, argon2id passwords, revocation."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import pytest

from gistasks.cli import main
from gistasks.services.users import SCHEDULE_NOTEBOOKS, UserError, UserService, privileges
from gistasks.store import Store


@pytest.fixture
def users(store: Store) -> UserService:
    return UserService(store)


def test_a_user_signs_in_with_the_right_password_only(users: UserService) -> None:
    users.add("alice", "correct horse 1", role="org_publisher")
    assert users.authenticate("alice", "correct horse 1") is not None
    assert users.authenticate("ALICE", "correct horse 1") is not None
    assert users.authenticate("alice", "correct horse 2") is None
    assert users.authenticate("nobody", "correct horse 1") is None


def test_passwords_are_stored_as_argon2id_hashes(users: UserService, store: Store) -> None:
    users.add("alice", "correct horse 1")
    stored = store.users.get("alice")
    assert stored is not None and stored.password_hash.startswith("$argon2id$")
    assert "correct horse 1" not in stored.password_hash


@pytest.mark.parametrize(("password", "reason"), [
    ("short1", "at least 8 characters"),
    ("onlyletters", "one letter and one digit"),
    ("1234567890", "one letter and one digit"),
])
def test_weak_passwords_are_refused(users: UserService, password: str, reason: str) -> None:
    with pytest.raises(UserError, match=reason):
        users.add("alice", password)


def test_names_are_unique_without_regard_to_case(users: UserService) -> None:
    users.add("Alice", "correct horse 1")
    with pytest.raises(UserError, match="already exists"):
        users.add("alice", "correct horse 1")


@pytest.mark.parametrize("name", ["", "bad name", "x" * 129, "semi;colon"])
def test_bad_user_names_are_refused(users: UserService, name: str) -> None:
    with pytest.raises(UserError, match="user name"):
        users.add(name, "correct horse 1")


def test_unknown_roles_are_refused(users: UserService) -> None:
    with pytest.raises(UserError, match="role must be one of"):
        users.add("alice", "correct horse 1", role="superuser")


def test_password_change_and_disabling_revoke_credentials(users: UserService) -> None:
    user = users.add("alice", "correct horse 1")
    changed = users.set_password("alice", "battery staple 2")
    assert changed.credentials_version == user.credentials_version + 1
    assert users.authenticate("alice", "correct horse 1") is None
    disabled = users.set_disabled("alice", True)
    assert disabled.credentials_version == changed.credentials_version + 1
    assert users.authenticate("alice", "battery staple 2") is None
    users.set_disabled("alice", False)
    assert users.authenticate("alice", "battery staple 2") is not None


def test_only_publishers_and_admins_may_schedule_notebooks(users: UserService) -> None:
    assert SCHEDULE_NOTEBOOKS not in privileges("org_user")
    assert SCHEDULE_NOTEBOOKS in privileges("org_publisher")
    assert set(privileges("org_publisher")) < set(privileges("org_admin"))
    users.add("alice", "correct horse 1")
    assert users.set_role("alice", "org_admin").role == "org_admin"


def test_the_admin_account_is_created_once(users: UserService) -> None:
    assert users.ensure_admin("first pass 1") is True
    assert users.ensure_admin("other pass 2") is False
    admin = users.authenticate("admin", "first pass 1")
    assert admin is not None and admin.role == "org_admin"


def run_cli(argv: list[str], stdin: str = "") -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    old = sys.stdin
    sys.stdin = io.StringIO(stdin)
    try:
        return main(argv, out, err), out.getvalue(), err.getvalue()
    finally:
        sys.stdin = old


def test_user_commands_manage_users_in_the_data_directory(tmp_path: Path) -> None:
    d = ["--data-dir", str(tmp_path)]
    assert run_cli(["user", "add", "bob", "--role", "org_publisher", "--password-stdin", *d],
                   "correct horse 1\n")[0] == 0
    code, _, err = run_cli(["user", "add", "bob", "--password-stdin", *d], "correct horse 1\n")
    assert code == 1 and "already exists" in err
    assert run_cli(["user", "role", "bob", "org_admin", *d])[0] == 0
    assert run_cli(["user", "disable", "bob", *d])[0] == 0
    code, out, _ = run_cli(["user", "list", *d])
    assert code == 0 and out.splitlines() == ["bob\torg_admin\tdisabled\t"]
    code, _, err = run_cli(["user", "passwd", "bob", "--password-stdin", *d], "weak\n")
    assert code == 1 and "at least 8 characters" in err
    store = Store(f"sqlite:///{tmp_path / 'gistasks.db'}")
    user = store.users.get("bob")
    assert user is not None and user.disabled and user.credentials_version == 1
    store.close()


def test_failed_sign_ins_that_no_longer_count_are_forgotten(store: Store) -> None:
    for n in range(50):
        store.sign_ins.failed(f"account:guess{n}", 1_000, 900_000, 10, 900_000)
    assert len(store.sign_ins.get([f"account:guess{n}" for n in range(50)])) == 50
    store.sign_ins.failed("account:later", 1_000 + 2 * 900_000, 900_000, 10, 900_000)
    assert store.sign_ins.get([f"account:guess{n}" for n in range(50)]) == {}
