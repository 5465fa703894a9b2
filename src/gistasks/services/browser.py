"""Browser sessions of the directory pages: a sign-in with a name and a password starts a
session kept on the server; the browser holds only its secret, in a cookie; every form that
changes something carries a CSRF token derived from that secret; signing out ends the session
on the server.

The cookie's secret is 256 random bits; the database holds its SHA-256 only. The CSRF token
is an HMAC of the secret under the deployment's token key (nothing more to store: a page
rendered by any node carries the token every node accepts).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable

from gistasks.services.auth import AuthService
from gistasks.services.errors import InvalidTokenError
from gistasks.store import Store
from gistasks.store.records import UserRecord, WebSessionRecord

SESSION_HOURS = 12
"""How long a browser session lasts (never longer than the server's token cap)."""
MAX_SECRET = 128
"""A cookie longer than this is not a session of ours: it is not looked up."""


class BrowserSessions:
    """Sign-in, identification, CSRF tokens and sign-out for browsers."""

    def __init__(self, store: Store, auth: AuthService, key: bytes,
                 now_ms: Callable[[], int]) -> None:
        self.store = store
        self.auth = auth
        self._key = hmac.new(key, b"gistasks browser sessions", hashlib.sha256).digest()
        self.now_ms = now_ms

    @property
    def lifetime_ms(self) -> int:
        return min(SESSION_HOURS * 60, self.auth.max_minutes) * 60_000

    def sign_in(self, username: str, password: str, address: str | None) -> str | None:
        """A new session's secret (the cookie's value) when the name and password match an
        enabled user, else None (a failure, counted towards the lockout). LockedOutError
        while the account or the address is locked."""
        user = self.auth.sign_in(username, password, address)
        if user is None:
            return None
        secret = secrets.token_urlsafe(32)
        now = self.now_ms()
        self.store.sessions.create(WebSessionRecord(
            _digest(secret), user.username, user.credentials_version, now,
            now + self.lifetime_ms))
        return secret

    def user(self, secret: str) -> UserRecord:
        """The user whose live session ``secret`` is; InvalidTokenError (498) when the
        session is unknown, ended, expired, or its user was disabled or changed password."""
        if not secret or len(secret) > MAX_SECRET:
            raise InvalidTokenError(["The browser session is not valid; sign in again."])
        found = self.store.sessions.get(_digest(secret))
        if found is None or found.expires <= self.now_ms():
            raise InvalidTokenError(["The browser session has ended; sign in again."])
        return self.auth.current_user(found.username, found.version)

    def csrf_token(self, secret: str) -> str:
        """The CSRF token of the session ``secret``: every form POST of it carries this."""
        return hmac.new(self._key, secret.encode(), hashlib.sha256).hexdigest()

    def check_csrf(self, secret: str, token: str | None) -> bool:
        """Whether ``token`` is the CSRF token of the session ``secret``."""
        return token is not None and hmac.compare_digest(self.csrf_token(secret),
                                                         token.strip())

    def sign_out(self, secret: str) -> bool:
        """End the session ``secret`` on the server; True if it was live."""
        return bool(secret) and len(secret) <= MAX_SECRET and \
            self.store.sessions.delete(_digest(secret))


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()
