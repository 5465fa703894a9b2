"""Browser sessions of the directory pages, and the nodes' heartbeats the dashboard shows."""

from __future__ import annotations

from sqlalchemy import delete, insert, select, update

from gistasks.store._db import Database
from gistasks.store.records import NodeRecord, WebSessionRecord
from gistasks.store.schema import nodes, web_sessions

MAX_SESSIONS_PER_USER = 50
"""A user's oldest sessions beyond this many are ended when a new one starts."""


class SessionStore:
    """Every statement on ``web_sessions``. A session is known by the SHA-256 of its
    cookie's secret: the database never holds what a browser sends."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def create(self, record: WebSessionRecord) -> None:
        """Store ``record``, dropping the expired sessions and the user's oldest beyond
        :data:`MAX_SESSIONS_PER_USER` in the same transaction."""
        with self.db.write() as conn:
            conn.execute(delete(web_sessions).where(web_sessions.c.expires <= record.created))
            mine = conn.execute(
                select(web_sessions.c.id_hash)
                .where(web_sessions.c.username == record.username)
                .order_by(web_sessions.c.created.desc())
                .offset(MAX_SESSIONS_PER_USER - 1)).scalars().all()
            if mine:
                conn.execute(delete(web_sessions).where(web_sessions.c.id_hash.in_(mine)))
            conn.execute(insert(web_sessions).values(
                id_hash=record.id_hash, username=record.username, version=record.version,
                created=record.created, expires=record.expires))

    def get(self, id_hash: str) -> WebSessionRecord | None:
        with self.db.read() as conn:
            row = conn.execute(select(web_sessions)
                               .where(web_sessions.c.id_hash == id_hash)).first()
        return None if row is None else WebSessionRecord(*row)

    def delete(self, id_hash: str) -> bool:
        with self.db.write() as conn:
            return bool(conn.execute(delete(web_sessions)
                                     .where(web_sessions.c.id_hash == id_hash)).rowcount)


class NodeStore:
    """Every statement on ``nodes``: each node's start, heartbeat and stop."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def beat(self, record: NodeRecord) -> None:
        """Record ``record`` (a node starting or beating), replacing its previous row."""
        with self.db.write() as conn:
            done = conn.execute(update(nodes).where(nodes.c.node == record.node).values(
                heartbeat=record.heartbeat, stopped=0)).rowcount
            if not done:
                conn.execute(insert(nodes).values(
                    node=record.node, host=record.host, pid=record.pid,
                    version=record.version, started=record.started,
                    heartbeat=record.heartbeat, stopped=0))

    def stopped(self, node: str, now: int) -> None:
        with self.db.write() as conn:
            conn.execute(update(nodes).where(nodes.c.node == node).values(stopped=now))

    def all(self, since: int) -> list[NodeRecord]:
        """The nodes that beat at or after ``since`` (running or stopped), newest start
        first; older ones are forgotten."""
        with self.db.write() as conn:
            conn.execute(delete(nodes).where(nodes.c.heartbeat < since))
            rows = conn.execute(select(nodes).order_by(nodes.c.started.desc())).all()
        return [NodeRecord(*r) for r in rows]
