"""Failed sign-ins per account and per client address, for lockouts that hold on every node."""

from __future__ import annotations

from sqlalchemy import delete, insert, select, update

from gistasks.store._db import Database
from gistasks.store.records import SignInFailures
from gistasks.store.schema import sign_in_failures as table


class SignInStore:
    """Every statement on ``sign_in_failures``."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def get(self, keys: list[str]) -> dict[str, SignInFailures]:
        with self.db.read() as conn:
            rows = conn.execute(select(table).where(table.c.key.in_(keys))).all()
        return {r.key: SignInFailures(*r) for r in rows}

    def failed(self, key: str, now: int, window_ms: int, threshold: int,
               lockout_ms: int) -> SignInFailures:
        """Count one failure for ``key`` (a new window if the last one is over), locking it
        for ``lockout_ms`` when the count reaches ``threshold``; returns the new state."""
        with self.db.write() as conn:
            # Forget what no longer counts: a flood of made-up names leaves no rows behind.
            conn.execute(delete(table).where(table.c.window_start < now - window_ms,
                                             table.c.locked_until < now))
            row = conn.execute(select(table).where(table.c.key == key)).first()
            if row is None or now - row.window_start >= window_ms:
                failures, start = 1, now
            else:
                failures, start = row.failures + 1, row.window_start
            locked = now + lockout_ms if failures >= threshold else (
                row.locked_until if row is not None else 0)
            values = {"failures": failures, "window_start": start, "locked_until": locked}
            if row is None:
                conn.execute(insert(table).values(key=key, **values))
            else:
                conn.execute(update(table).where(table.c.key == key).values(**values))
        return SignInFailures(key, failures, start, locked)

    def clear(self, key: str) -> bool:
        """Forget the failures of ``key`` (a successful sign-in, an admin's unlock)."""
        with self.db.write() as conn:
            return bool(conn.execute(delete(table).where(table.c.key == key)).rowcount)
