"""Users: names are compared without regard to case."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from sqlalchemy import bindparam, func, insert, select, update

from gistasks.store._db import Database
from gistasks.store.records import UserRecord
from gistasks.store.schema import users

_BY_NAME = select(users).where(func.lower(users.c.username) == bindparam("name"))


def _named(username: str) -> Any:
    return func.lower(users.c.username) == username.lower()


class UserStore:
    """Every statement on the ``users`` table."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def insert(self, user: UserRecord) -> bool:
        """Add a user; False if the name is taken (names are compared without case)."""
        with self.db.write() as conn:
            if conn.execute(select(users.c.username).where(_named(user.username))).first():
                return False
            conn.execute(insert(users).values(**asdict(user)))
        return True

    def get(self, username: str) -> UserRecord | None:
        """The user named ``username`` (without regard to case), or None."""
        row = self.db.one(_BY_NAME, {"name": username.lower()})
        return None if row is None else UserRecord.from_row(row)

    def all(self) -> list[UserRecord]:
        with self.db.read() as conn:
            return [UserRecord.from_row(r)
                    for r in conn.execute(select(users).order_by(users.c.username))]

    def update(self, username: str, **values: Any) -> UserRecord | None:
        """Change a user's columns; None if there is no such user."""
        with self.db.write() as conn:
            if conn.execute(update(users).where(_named(username)).values(**values)).rowcount \
                    == 0:
                return None
            row = conn.execute(select(users).where(_named(username))).one()
        return UserRecord.from_row(row)
