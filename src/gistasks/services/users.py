"""Users, roles and privileges, as ArcGIS has them; passwords hashed with argon2id.

Three built-in roles carry the ArcGIS privilege strings clients look for:
``org_user`` < ``org_publisher`` (which may schedule notebooks,
``premium:publisher:scheduleNotebooks``) < ``org_admin``. Changing a password or disabling a
user increments ``credentials_version``, which revokes every token issued before.
"""

from __future__ import annotations

import re
import time

from gistasks.security.passwords import (
    hash_password,
    needs_rehash,
    spend_like_a_check,
    verify_password,
)
from gistasks.services.errors import ServiceError
from gistasks.store import Store, new_id
from gistasks.store.records import UserRecord

USER_PRIVILEGES = (
    "portal:user:createGroup",
    "portal:user:createItem",
    "portal:user:joinGroup",
    "portal:user:shareToGroup",
    "portal:user:viewOrgGroups",
    "portal:user:viewOrgItems",
    "portal:user:viewOrgUsers",
    "premium:user:geocode",
)
PUBLISHER_PRIVILEGES = (
    *USER_PRIVILEGES,
    "portal:publisher:publishFeatures",
    "portal:publisher:publishScenes",
    "portal:publisher:publishTiles",
    "premium:publisher:createNotebooks",
    "premium:publisher:geoanalytics",
    "premium:publisher:scheduleNotebooks",
)
ADMIN_PRIVILEGES = (
    *PUBLISHER_PRIVILEGES,
    "portal:admin:deleteItems",
    "portal:admin:deleteUsers",
    "portal:admin:manageSecurity",
    "portal:admin:manageWebsite",
    "portal:admin:updateItems",
    "portal:admin:updateUsers",
    "portal:admin:viewItems",
    "portal:admin:viewUsers",
)
ROLES: dict[str, tuple[str, ...]] = {
    "org_user": USER_PRIVILEGES,
    "org_publisher": PUBLISHER_PRIVILEGES,
    "org_admin": ADMIN_PRIVILEGES,
}
SCHEDULE_NOTEBOOKS = "premium:publisher:scheduleNotebooks"

_USERNAME = re.compile(r"[A-Za-z0-9_.@-]{1,128}")


class UserError(ServiceError):
    """A user operation that cannot be done; the message says why and what is accepted."""


def check_password(password: str) -> None:
    """ArcGIS's default policy: at least 8 characters, with a letter and a digit."""
    if len(password) < 8:
        raise UserError("the password must have at least 8 characters")
    if not re.search(r"[A-Za-z]", password) or not re.search(r"[0-9]", password):
        raise UserError("the password must contain at least one letter and one digit")
    if len(password) > 1024:
        raise UserError("the password must have at most 1024 characters")


def privileges(role: str) -> tuple[str, ...]:
    return ROLES.get(role, ())


class UserService:
    """User operations over the store; plain Python, for the CLI and the API."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._ids: dict[str, str] = {}

    @staticmethod
    def _now() -> int:
        return time.time_ns() // 1_000_000

    def _require(self, username: str) -> UserRecord:
        user = self.store.users.get(username)
        if user is None:
            raise UserError(f"user {username!r} does not exist")
        return user

    def add(self, username: str, password: str, role: str = "org_user", full_name: str = "",
            email: str = "") -> UserRecord:
        if not _USERNAME.fullmatch(username):
            raise UserError("a user name has 1-128 letters, digits, '_', '.', '@' or '-'")
        if role not in ROLES:
            raise UserError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
        check_password(password)
        now = self._now()
        user = UserRecord(username=username, id=new_id(), full_name=full_name, email=email,
                          role=role,
                          password_hash=hash_password(password), disabled=False,
                          credentials_version=0, created=now, modified=now)
        if not self.store.users.insert(user):
            raise UserError(f"user {username!r} already exists")
        return user

    def set_password(self, username: str, password: str) -> UserRecord:
        """Change the password; tokens issued before stop working."""
        user = self._require(username)
        check_password(password)
        updated = self.store.users.update(
            user.username, password_hash=hash_password(password), modified=self._now(),
            credentials_version=user.credentials_version + 1)
        assert updated is not None
        return updated

    def set_role(self, username: str, role: str) -> UserRecord:
        user = self._require(username)
        if role not in ROLES:
            raise UserError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
        updated = self.store.users.update(user.username, role=role, modified=self._now())
        assert updated is not None
        return updated

    def set_disabled(self, username: str, disabled: bool) -> UserRecord:
        """Disable (revoking its tokens) or enable a user."""
        user = self._require(username)
        version = user.credentials_version + (1 if disabled and not user.disabled else 0)
        updated = self.store.users.update(user.username, disabled=disabled,
                                          modified=self._now(), credentials_version=version)
        assert updated is not None
        return updated

    def list(self) -> list[UserRecord]:
        return self.store.users.all()

    def get(self, username: str) -> UserRecord | None:
        """The user named ``username`` (without regard to case), or None."""
        return self.store.users.get(username)

    def id_of(self, username: str) -> str:
        """The 32-hex id of the user named ``username`` ("" if there is none). Ids never
        change, so each is looked up once."""
        found = self._ids.get(username)
        if found is None:
            user = self.store.users.get(username)
            if user is None:
                return ""
            found = self._ids[username] = user.id
        return found

    def authenticate(self, username: str, password: str) -> UserRecord | None:
        """The user if the name and password match and the user is enabled, else None."""
        user = self.store.users.get(username)
        if user is None:
            spend_like_a_check(password)  # the same time: no hint that the name is unknown
            return None
        if not verify_password(user.password_hash, password) or user.disabled:
            return None
        if needs_rehash(user.password_hash):
            self.store.users.update(user.username, password_hash=hash_password(password))
        return user

    def ensure_admin(self, password: str) -> bool:
        """Create the ``admin`` account (``org_admin``) if there is none; True if created."""
        if self.store.users.get("admin") is not None:
            return False
        self.add("admin", password, role="org_admin", full_name="Administrator")
        return True
