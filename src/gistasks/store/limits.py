"""Limits (ArcGIS ``system/limits``): only the values set explicitly are stored."""

from __future__ import annotations

from sqlalchemy import insert, select, update

from gistasks.store._db import Database
from gistasks.store.schema import limits


class LimitStore:
    """Every statement on the ``limits`` table."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def get(self) -> dict[str, int]:
        """The limits set explicitly (names are ArcGIS ``limitName`` values)."""
        with self.db.read() as conn:
            return {name: int(value) for name, value in conn.execute(select(limits))}

    def set(self, values: dict[str, int]) -> None:
        """Set limits, all in one transaction."""
        with self.db.write() as conn:
            for name, value in values.items():
                if conn.execute(update(limits).where(limits.c.name == name).values(
                        value=value)).rowcount == 0:
                    conn.execute(insert(limits).values(name=name, value=value))
