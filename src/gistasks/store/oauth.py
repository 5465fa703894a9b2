"""Registered OAuth applications, and the codes that may still be exchanged (each once)."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

from sqlalchemy import delete, insert, select, update

from gistasks.store._db import Database
from gistasks.store.records import OAuthAppRecord
from gistasks.store.schema import oauth_apps, oauth_codes


def _app(row: Any) -> OAuthAppRecord:
    m = dict(row._mapping)
    m["redirect_uris"] = tuple(json.loads(m["redirect_uris"]))
    m["portal_redirects"] = bool(m["portal_redirects"])
    return OAuthAppRecord(**m)


class OAuthStore:
    """Every statement on ``oauth_apps`` and ``oauth_codes``."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def get_app(self, client_id: str) -> OAuthAppRecord | None:
        with self.db.read() as conn:
            row = conn.execute(select(oauth_apps).where(
                oauth_apps.c.client_id == client_id)).first()
        return None if row is None else _app(row)

    def apps(self) -> list[OAuthAppRecord]:
        with self.db.read() as conn:
            return [_app(r) for r in conn.execute(
                select(oauth_apps).order_by(oauth_apps.c.client_id))]

    def insert_app(self, app: OAuthAppRecord) -> bool:
        """Register an app; False if its client id is taken."""
        values = asdict(app)
        values["redirect_uris"] = json.dumps(list(app.redirect_uris))
        with self.db.write() as conn:
            if conn.execute(select(oauth_apps.c.client_id).where(
                    oauth_apps.c.client_id == app.client_id)).first():
                return False
            conn.execute(insert(oauth_apps).values(**values))
        return True

    def update_app(self, client_id: str, **values: Any) -> OAuthAppRecord | None:
        if "redirect_uris" in values:
            values["redirect_uris"] = json.dumps(list(values["redirect_uris"]))
        with self.db.write() as conn:
            if not conn.execute(update(oauth_apps).where(
                    oauth_apps.c.client_id == client_id).values(**values)).rowcount:
                return None
            row = conn.execute(select(oauth_apps).where(
                oauth_apps.c.client_id == client_id)).one()
        return _app(row)

    def delete_app(self, client_id: str) -> bool:
        with self.db.write() as conn:
            return bool(conn.execute(delete(oauth_apps).where(
                oauth_apps.c.client_id == client_id)).rowcount)

    def issue_code(self, code_id: str, expires: int, now: int) -> None:
        """Record that code ``code_id`` may be exchanged until ``expires`` (and forget the
        codes that expired)."""
        with self.db.write() as conn:
            conn.execute(delete(oauth_codes).where(oauth_codes.c.expires < now))
            conn.execute(insert(oauth_codes).values(id=code_id, expires=expires))

    def use_code(self, code_id: str, now: int) -> bool:
        """Use up code ``code_id``: True for the first exchange of an unexpired code, False
        ever after (on every node: the row is gone)."""
        with self.db.write() as conn:
            return bool(conn.execute(delete(oauth_codes).where(
                oauth_codes.c.id == code_id, oauth_codes.c.expires >= now)).rowcount)
