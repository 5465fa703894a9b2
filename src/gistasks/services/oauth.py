"""OAuth 2.0 as ArcGIS portals do it: registered apps, the implicit and the authorization-code
flows, refresh tokens.

* **Apps** are registered with the redirect URIs they may receive tokens and codes at (ArcGIS
  registers apps as items; here they are rows, made with ``oauth2/registerApp`` or ``gistasks
  app register``). The official client's id, ``pythonapi``, comes registered with the
  out-of-band and loopback redirects it uses, and may be redirected to the portal itself.
* ``authorize`` checks the app and the redirect and seals an ``oauth_state`` for the sign-in
  form; ``sign_in`` checks the credentials and answers with a token for the redirect
  (implicit) or a code (code flow); ``exchange`` turns a code (once, with the redirect it was
  issued for) or a refresh token into an access token.
* States, codes and refresh tokens are sealed with the deployment's key, so any node accepts
  them; a code's row in the database makes it single-use on every node.
"""

from __future__ import annotations

import secrets
import string
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlencode, urlsplit

from gistasks.config import MAX_TOKEN_MINUTES
from gistasks.security.tokens import DEFAULT_MINUTES, TokenError, origin, seal, unseal
from gistasks.services.auth import AuthService, now_ms
from gistasks.services.errors import (
    InvalidParameterError,
    InvalidTokenError,
    NotFoundError,
    ServiceError,
)
from gistasks.store import Store, new_id
from gistasks.store.records import OAuthAppRecord

OOB = "urn:ietf:wg:oauth:2.0:oob"
STATE_TTL_MS = 10 * 60_000
CODE_TTL_MS = 5 * 60_000
REFRESH_TTL_MS = MAX_TOKEN_MINUTES * 60_000
AUTHORIZE_MINUTES = 120
"""The token lifetime of an authorize request that names none."""
APP_TYPES = ("browser", "native", "server", "multiple")
LOOPBACK = ("localhost", "127.0.0.1", "::1")
MAX_REDIRECTS = 32
MAX_STATE = 2048
"""A client's ``state`` travels sealed in the sign-in form and back in the redirect."""
MAX_URI = 2048


class OAuthError(ServiceError):
    """An OAuth request that cannot be honoured; ``error`` is the OAuth error name
    (``invalid_request``, ``invalid_grant``, ``unsupported_grant_type``)."""

    def __init__(self, message: str, error: str = "invalid_request") -> None:
        super().__init__(message)
        self.error = error


@dataclass(frozen=True, slots=True)
class Authorization:
    """A sign-in form to show: its sealed state, what the page tells the client, and where
    the form may lead (for the page's Content-Security-Policy)."""

    oauth_state: str
    client_id: str
    expiration: int
    redirect_origin: str | None
    """The origin the sign-in redirects to; None for the out-of-band redirect."""


@dataclass(frozen=True, slots=True)
class SignedIn:
    """A successful sign-in: ``redirect`` is where the browser goes (the token or the code
    in it); for the out-of-band redirect it is None and ``code`` is shown instead."""

    redirect: str | None
    code: str | None = None


def _origin(uri: str) -> tuple[str, str, int] | None:
    """(scheme, host, port) of an http(s) URI fit to be a redirect, else None: no fragment
    (the token goes there), and a path a browser keeps as it is (no dot segments, no
    backslashes, encoded or not, which would lead out from under a registered path)."""
    if "#" in uri or uri != uri.strip():
        return None
    path = unquote(urlsplit(uri).path)
    if "\\" in path or any(part in (".", "..") for part in path.split("/")):
        return None
    return origin(uri)


def origin_text(uri: str) -> str | None:
    """``scheme://host:port`` of a redirect URI, for a Content-Security-Policy."""
    found = _origin(uri)
    if found is None:
        return None
    scheme, host, port = found
    return f"{scheme}://{'[' + host + ']' if ':' in host else host}:{port}"


def _matches(registered: str, uri: str) -> bool:
    """Whether ``uri`` may be used under the registered redirect ``registered``: the same
    URI, or the same origin (a loopback one with any port, RFC 8252) and a path at or under
    the registered path."""
    if registered == uri:
        return True
    want, got = _origin(registered), _origin(uri)
    if want is None or got is None or want[:2] != got[:2]:
        return False
    any_port = want[1] in LOOPBACK and urlsplit(registered).port is None
    if not any_port and want[2] != got[2]:
        return False
    base = urlsplit(registered).path.rstrip("/")
    path = urlsplit(uri).path
    return not base or path == base or path.startswith(base + "/")


def redirect_allowed(app: OAuthAppRecord, uri: str, portal_origin: str | None) -> bool:
    """Whether ``app`` may receive a token or code at ``uri``."""
    if len(uri) > MAX_URI:
        return False
    if any(_matches(r, uri) for r in app.redirect_uris):
        return True
    found = _origin(uri)
    return bool(app.portal_redirects and portal_origin and found is not None
                and found == _origin(portal_origin))


def check_redirect_uris(uris: object) -> tuple[str, ...]:
    """Redirect URIs fit to register: the out-of-band one, https URLs, or http on loopback;
    InvalidParameterError naming ``redirect_uris`` otherwise."""
    if not isinstance(uris, list) or not uris or len(uris) > MAX_REDIRECTS:
        raise InvalidParameterError("redirect_uris", f"'redirect_uris' must be a JSON list of "
                                    f"1 to {MAX_REDIRECTS} URIs")
    out = []
    for uri in uris:
        origin = _origin(uri) if isinstance(uri, str) and len(uri) <= MAX_URI else None
        if uri == OOB:
            out.append(uri)
        elif origin is None or (origin[0] == "http" and origin[1] not in LOOPBACK):
            raise InvalidParameterError("redirect_uris", f"{uri!r} is not a redirect URI: use "
                                        f"https://…, http://localhost… or {OOB}")
        else:
            out.append(uri)
    return tuple(dict.fromkeys(out))


def _check_app_type(app_type: str) -> str:
    if app_type not in APP_TYPES:
        raise InvalidParameterError("appType", f"'appType' must be one of "
                                    f"{', '.join(APP_TYPES)}")
    return app_type


class AppService:
    """The registered OAuth apps."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def app(self, client_id: str) -> OAuthAppRecord:
        found = self.store.oauth.get_app(client_id)
        if found is None:
            raise NotFoundError(f"App '{client_id}' is not registered.")
        return found

    def all(self) -> list[OAuthAppRecord]:
        return self.store.oauth.apps()

    def register(self, *, redirect_uris: object, app_type: str = "browser", title: str = "",
                 item_id: str = "", owner: str = "", client_id: str | None = None
                 ) -> OAuthAppRecord:
        """Register an app; its client id is made up unless given."""
        _check_app_type(app_type)
        uris = check_redirect_uris(redirect_uris)
        now = now_ms()
        chosen = client_id or "".join(secrets.choice(string.ascii_letters + string.digits)
                                      for _ in range(16))
        if not 1 <= len(chosen) <= 64 or not all(c.isalnum() or c in "-_." for c in chosen):
            raise InvalidParameterError("client_id", "a client id has 1-64 letters, digits, "
                                        "'-', '_' or '.'")
        if len(title) > 256 or len(item_id) > 64:
            raise InvalidParameterError("title" if len(title) > 256 else "itemId",
                                        "'title' takes at most 256 characters, 'itemId' 64")
        app = OAuthAppRecord(chosen, title, app_type, uris, False, item_id, owner, now, now)
        if not self.store.oauth.insert_app(app):
            raise InvalidParameterError("client_id", f"the client id {chosen!r} is taken")
        return app

    def update(self, client_id: str, *, redirect_uris: object = None,
               app_type: str | None = None) -> OAuthAppRecord:
        self.app(client_id)
        values: dict[str, Any] = {"modified": now_ms()}
        if redirect_uris is not None:
            values["redirect_uris"] = check_redirect_uris(redirect_uris)
        if app_type is not None:
            values["app_type"] = _check_app_type(app_type)
        updated = self.store.oauth.update_app(client_id, **values)
        if updated is None:
            raise NotFoundError(f"App '{client_id}' is not registered.")
        return updated

    def unregister(self, client_id: str) -> None:
        if not self.store.oauth.delete_app(client_id):
            raise NotFoundError(f"App '{client_id}' is not registered.")

class OAuthService:
    """The OAuth flows over the token service, for registered apps."""

    def __init__(self, store: Store, auth: AuthService, apps: AppService) -> None:
        self.store = store
        self.auth = auth
        self.apps = apps
        self.key = auth.token_key

    # -- the flows ------------------------------------------------------------------------------

    def authorize(self, *, response_type: str, client_id: str, redirect_uri: str,
                  state: str, expiration: float | None,
                  portal_origin: str | None) -> Authorization:
        """Check an authorize request; OAuthError naming what is wrong (the official client
        looks for ``Invalid redirect_uri`` and tries its next redirect)."""
        if response_type not in ("token", "code"):
            raise OAuthError("Invalid response_type")
        app = self.store.oauth.get_app(client_id) if client_id else None
        if app is None:
            raise OAuthError("Invalid client_id")
        if redirect_uri != OOB and not redirect_allowed(app, redirect_uri, portal_origin):
            raise OAuthError("Invalid redirect_uri")
        if redirect_uri == OOB and OOB not in app.redirect_uris:
            raise OAuthError("Invalid redirect_uri")
        if len(state) > MAX_STATE:
            raise OAuthError("Invalid state")
        minutes = self.auth.minutes(expiration, AUTHORIZE_MINUTES)
        sealed = seal(self.key, "oauth-state", {
            "rt": response_type, "c": client_id, "r": redirect_uri, "s": state,
            "e": minutes, "t": now_ms()})
        return Authorization(sealed, client_id, minutes,
                             None if redirect_uri == OOB else origin_text(redirect_uri))

    def state_ok(self, oauth_state: str) -> dict[str, Any]:
        """The data of a sealed, unexpired sign-in state; OAuthError otherwise."""
        try:
            st = unseal(self.key, "oauth-state", oauth_state)
            if now_ms() - int(str(st["t"])) > STATE_TTL_MS:
                raise TokenError("expired")
        except (TokenError, KeyError, ValueError):
            raise OAuthError("The sign-in session expired; start again.") from None
        return st

    def redirect_origin(self, oauth_state: str) -> str | None:
        """Where a sign-in form's state leads (for the page shown again after a failure), or
        None (the out-of-band redirect, or a state that is not good)."""
        try:
            redirect = str(self.state_ok(oauth_state)["r"])
        except (OAuthError, KeyError):
            return None
        return None if redirect == OOB else origin_text(redirect)

    def sign_in(self, *, oauth_state: str, username: str, password: str,
                expiration: float | None, address: str | None) -> SignedIn | None:
        """Check the credentials for a sign-in form; None for a wrong name or password (the
        form is shown again), OAuthError for an expired or forged state, LockedOutError while
        the account or the address is locked."""
        st = self.state_ok(oauth_state)
        user = self.auth.sign_in(username, password, address)
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
        code_id, expires = new_id(), now_ms() + CODE_TTL_MS
        self.store.oauth.issue_code(code_id, expires, now_ms())
        code = seal(self.key, "oauth-code", {"i": code_id, "u": user.username,
                                             "v": user.credentials_version, "c": st["c"],
                                             "r": redirect, "x": expires, "e": minutes})
        if redirect == OOB:
            return SignedIn(None, code)
        query = urlencode({"code": code, "state": client_state})
        return SignedIn(f"{redirect}{'&' if '?' in redirect else '?'}{query}", code)

    def exchange(self, *, grant_type: str, client_id: str, code: str, redirect_uri: str,
                 refresh_token: str, expiration: float | None) -> dict[str, Any]:
        """``oauth2/token``: an access token (and, for a code, a refresh token). A code is
        good once, for the app and the redirect URI it was issued to."""
        if self.store.oauth.get_app(client_id) is None:
            raise OAuthError("Invalid client_id", "invalid_client")
        try:
            if grant_type == "authorization_code":
                data = unseal(self.key, "oauth-code", code)
                if data["c"] != client_id or data["r"] != redirect_uri:
                    raise OAuthError("client_id or redirect_uri does not match the code",
                                     "invalid_grant")
                if not self.store.oauth.use_code(str(data["i"]), now_ms()):
                    raise TokenError("used or expired")
            elif grant_type == "refresh_token":
                data = unseal(self.key, "oauth-refresh", refresh_token)
                if int(str(data["x"])) < now_ms() or data["c"] != client_id:
                    raise TokenError("expired")
            else:
                raise OAuthError("grant_type must be authorization_code or refresh_token",
                                 "unsupported_grant_type")
        except (TokenError, KeyError, ValueError, TypeError):
            raise OAuthError("Invalid or expired code or refresh token",
                             "invalid_grant") from None
        try:
            user = self.auth.current_user(str(data["u"]), int(str(data["v"])))
        except (InvalidTokenError, ValueError):
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
