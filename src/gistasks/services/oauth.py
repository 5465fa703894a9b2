"""OAuth 2.0 sign-in as ArcGIS portals do it: the implicit and the authorization-code flows.

``authorize`` checks the request and seals an ``oauth_state`` for the sign-in form;
``sign_in`` checks the credentials and answers with a token for the redirect (implicit), or a
code (code flow); ``exchange`` turns a code or a refresh token into an access token. States,
codes and refresh tokens are sealed with the deployment's key, so any node accepts them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from gistasks.config import MAX_TOKEN_MINUTES
from gistasks.security.tokens import DEFAULT_MINUTES, TokenError, seal, unseal
from gistasks.services.auth import AuthService, now_ms
from gistasks.services.errors import InvalidTokenError, ServiceError

OOB = "urn:ietf:wg:oauth:2.0:oob"
STATE_TTL_MS = 10 * 60_000
CODE_TTL_MS = 5 * 60_000
REFRESH_TTL_MS = MAX_TOKEN_MINUTES * 60_000
AUTHORIZE_MINUTES = 120
"""The token lifetime of an authorize request that names none."""


class OAuthError(ServiceError):
    """An OAuth request that cannot be honoured; ``error`` is the OAuth error name
    (``invalid_request``, ``invalid_grant``, ``unsupported_grant_type``)."""

    def __init__(self, message: str, error: str = "invalid_request") -> None:
        super().__init__(message)
        self.error = error


@dataclass(frozen=True, slots=True)
class Authorization:
    """A sign-in form to show: its sealed state and what the page tells the client."""

    oauth_state: str
    client_id: str
    expiration: int


@dataclass(frozen=True, slots=True)
class SignedIn:
    """A successful sign-in: ``redirect`` is where the browser goes (the token or the code
    in it); for the out-of-band redirect it is None and ``code`` is shown instead."""

    redirect: str | None
    code: str | None = None


def _redirect_ok(uri: str) -> bool:
    return uri == OOB or uri.startswith("https://") or uri.startswith("http://localhost") \
        or uri.startswith("http://127.0.0.1")


class OAuthService:
    """The OAuth flows over the token service."""

    def __init__(self, auth: AuthService) -> None:
        self.auth = auth
        self.key = auth.token_key

    def authorize(self, *, response_type: str, client_id: str, redirect_uri: str,
                  state: str, expiration: float | None) -> Authorization:
        """Check an authorize request; OAuthError naming what is wrong."""
        if response_type not in ("token", "code"):
            raise OAuthError("Invalid response_type")
        if not client_id:
            raise OAuthError("Invalid client_id")
        if not _redirect_ok(redirect_uri):
            raise OAuthError("Invalid redirect_uri")
        minutes = self.auth.minutes(expiration, AUTHORIZE_MINUTES)
        sealed = seal(self.key, "oauth-state", {
            "rt": response_type, "c": client_id, "r": redirect_uri, "s": state,
            "e": minutes, "t": now_ms()})
        return Authorization(sealed, client_id, minutes)

    def state_ok(self, oauth_state: str) -> dict[str, Any]:
        """The data of a sealed, unexpired sign-in state; OAuthError otherwise."""
        try:
            st = unseal(self.key, "oauth-state", oauth_state)
            if now_ms() - int(str(st["t"])) > STATE_TTL_MS:
                raise TokenError("expired")
        except (TokenError, KeyError, ValueError):
            raise OAuthError("The sign-in session expired; start again.") from None
        return st

    def sign_in(self, *, oauth_state: str, username: str, password: str,
                expiration: float | None) -> SignedIn | None:
        """Check the credentials for a sign-in form; None for a wrong name or password (the
        form is shown again), OAuthError for an expired or forged state."""
        st = self.state_ok(oauth_state)
        user = self.auth.users.authenticate(username, password)
        if user is None:
            return None
        redirect, client_state = str(st["r"]), str(st["s"])
        minutes = self.auth.minutes(expiration, int(str(st["e"])))
        if st["rt"] == "token":
            token = self.auth.issue(user, minutes)
            fragment = urlencode({"access_token": token.token, "expires_in": minutes * 60,
                                  "state": client_state, "username": user.username,
                                  "ssl": "true"})
            return SignedIn(f"{redirect}#{fragment}")
        code = seal(self.key, "oauth-code", {"u": user.username, "v": user.credentials_version,
                                             "c": st["c"], "r": redirect,
                                             "x": now_ms() + CODE_TTL_MS, "e": minutes})
        if redirect == OOB:
            return SignedIn(None, code)
        query = urlencode({"code": code, "state": client_state})
        return SignedIn(f"{redirect}{'&' if '?' in redirect else '?'}{query}", code)

    def exchange(self, *, grant_type: str, client_id: str, code: str, redirect_uri: str | None,
                 refresh_token: str, expiration: float | None) -> dict[str, Any]:
        """``oauth2/token``: an access token (and, for a code, a refresh token)."""
        try:
            if grant_type == "authorization_code":
                data = unseal(self.key, "oauth-code", code)
                if int(str(data["x"])) < now_ms():
                    raise TokenError("expired")
                if data["c"] != client_id or data["r"] != (redirect_uri or data["r"]):
                    raise OAuthError("client_id or redirect_uri does not match the code",
                                     "invalid_grant")
            elif grant_type == "refresh_token":
                data = unseal(self.key, "oauth-refresh", refresh_token)
                if int(str(data["x"])) < now_ms() or data["c"] != client_id:
                    raise TokenError("expired")
            else:
                raise OAuthError("grant_type must be authorization_code or refresh_token",
                                 "unsupported_grant_type")
        except (TokenError, KeyError, ValueError):
            raise OAuthError("Invalid or expired code or refresh token",
                             "invalid_grant") from None
        try:
            user = self.auth.current_user(str(data["u"]), int(str(data["v"])))
        except InvalidTokenError:
            raise OAuthError("The user's credentials changed; sign in again",
                             "invalid_grant") from None
        minutes = self.auth.minutes(expiration, int(str(data.get("e", DEFAULT_MINUTES))))
        access = self.auth.issue(user, minutes)
        answer: dict[str, Any] = {"access_token": access.token, "expires_in": minutes * 60,
                                  "username": user.username, "ssl": True}
        if grant_type == "authorization_code":
            answer["refresh_token"] = seal(self.key, "oauth-refresh", {
                "u": user.username, "v": user.credentials_version, "c": client_id,
                "x": now_ms() + REFRESH_TTL_MS})
            answer["refresh_token_expires_in"] = REFRESH_TTL_MS // 1000
        return answer
