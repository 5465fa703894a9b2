"""OAuth 2.0 sign-in pages and the token exchange, as the official ArcGIS client drives them.

``GET sharing/rest/oauth2/authorize`` answers a sign-in page whose script holds
``var oAuthInfo = {...}`` with an ``oauth_state``; ``POST sharing/oauth2/signin`` redirects
with ``#access_token=…`` (implicit) or gives a code (code flow); ``POST
sharing/rest/oauth2/token`` exchanges a code or a refresh token. The rules are the OAuth
service's; this module renders its answers.
"""

from __future__ import annotations

import html
import json
from typing import Any

from fastapi import APIRouter
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from gistasks.api.deps import Call, CallDep
from gistasks.api.params import Number, Text
from gistasks.api.spec import POST, READ, Auth, Endpoint, Kind, route
from gistasks.config import MAX_TOKEN_MINUTES
from gistasks.services.errors import InvalidParameterError
from gistasks.services.oauth import OAuthError

router = APIRouter()
TAG = "OAuth"


def _page(info: dict[str, Any], title: str = "Sign in", body: str = "") -> HTMLResponse:
    # The official client reads the first {...} standing on one line: keep it so.
    script = "var oAuthInfo = " + json.dumps(info, separators=(",", ":")) + ";"
    return HTMLResponse(
        "<!doctype html>\n<html>\n<head>\n<meta charset='utf-8'>\n"
        f"<title>{html.escape(title)}</title>\n<script>\n{script}\n</script>\n</head>\n"
        f"<body>\n{body}\n</body>\n</html>\n")


def _sign_in_form(c: Call, state: str, messages: list[str]) -> str:
    errors = "".join(f"<p class='error'>{html.escape(m)}</p>" for m in messages)
    return (f"<h1>Sign in to gistasks</h1>\n{errors}\n"
            f"<form method='post' action='/{c.settings.context}/sharing/oauth2/signin'>\n"
            f"<input type='hidden' name='oauth_state' value='{html.escape(state)}'>\n"
            "<label>User name <input name='username' autocomplete='username'></label>\n"
            "<label>Password <input name='password' type='password' "
            "autocomplete='current-password'></label>\n"
            "<button type='submit'>Sign in</button>\n</form>")


def _minutes(c: Call, param: Number) -> float | None:
    """A token lifetime asked for; a bad one counts as none (the page cannot show errors
    the client would read)."""
    try:
        return c.form.get(param)
    except InvalidParameterError:
        return None


EXPIRATION = Number("expiration", f"Token minutes (1-{MAX_TOKEN_MINUTES}).", unit="minutes")
CLIENT_ID = Text("client_id", "The application's client id.", True, "pythonapi")
RESPONSE_TYPE = Text("response_type", "Implicit (`token`) or authorization-code (`code`) flow.",
                     choices=("token", "code"), default="token")
REDIRECT_URI = Text("redirect_uri", "https URL, http://localhost or urn:ietf:wg:oauth:2.0:oob.",
                    True, "urn:ietf:wg:oauth:2.0:oob")
STATE = Text("state", "Opaque client state, handed back.")
LOCALE = Text("locale", "Page locale.")
OAUTH_STATE = Text("oauth_state", "The state from the authorize page.", True)
USERNAME = Text("username", "User name.", True)
PASSWORD = Text("password", "Password.", True, secret=True)
GRANT_TYPE = Text("grant_type", "The grant.", True, "authorization_code",
                  choices=("authorization_code", "refresh_token"))
CODE = Text("code", "The code (authorization_code grant).")
EXCHANGE_REDIRECT_URI = Text("redirect_uri", "Must match the authorize request's.")
REFRESH_TOKEN = Text("refresh_token", "The refresh token (refresh_token grant).")


@route(router, "/sharing/rest/oauth2/authorize", READ, Endpoint(
    "OAuth sign-in page", None,
    (CLIENT_ID, RESPONSE_TYPE, REDIRECT_URI, STATE, EXPIRATION, LOCALE),
    "An HTML page whose script holds `var oAuthInfo = {...}` with the `oauth_state`; errors "
    "are pages too (`oAuthInfo.messages`).", auth=Auth.NONE, tag=TAG, kind=Kind.HTML))
async def authorize(c: CallDep) -> Response:
    form = c.form
    try:
        grant = c.services.oauth.authorize(
            response_type=form.text(RESPONSE_TYPE, "token"), client_id=form.text(CLIENT_ID),
            redirect_uri=form.text(REDIRECT_URI), state=form.text(STATE),
            expiration=_minutes(c, EXPIRATION))
    except OAuthError as exc:
        return _page({"messages": [exc.message]}, "Error")
    info = {"oauth_state": grant.oauth_state, "clientId": grant.client_id,
            "expiration": grant.expiration, "locale": form.text(LOCALE, "en")}
    return _page(info, body=_sign_in_form(c, grant.oauth_state, []))


@route(router, "/sharing/oauth2/signin", POST, Endpoint(
    "OAuth sign-in (browser form)", None, (OAUTH_STATE, USERNAME, PASSWORD, EXPIRATION),
    "Redirects (302) to `redirect_uri#access_token=...` (implicit flow) or `?code=...` (code "
    "flow); with the out-of-band redirect, or on a failed sign-in, an HTML page.",
    auth=Auth.NONE, tag=TAG, kind=Kind.REDIRECT))
async def signin(c: CallDep) -> Response:
    raw_state = c.form.text(OAUTH_STATE)
    try:
        done = await c.checking_passwords(
            c.services.oauth.sign_in, oauth_state=raw_state, username=c.form.text(USERNAME),
            password=c.form.text(PASSWORD), expiration=_minutes(c, EXPIRATION))
    except OAuthError as exc:
        return _page({"messages": [exc.message]}, "Error")
    if done is None:
        messages = ["Invalid username or password."]
        return _page({"messages": messages, "oauth_state": raw_state},
                     body=_sign_in_form(c, raw_state, messages))
    if done.redirect is None:
        code = done.code or ""
        return _page({"code": code}, f"SUCCESS code={code}",
                     f"<p>Signed in. Copy this code into your application:</p>"
                     f"<pre>{html.escape(code)}</pre>")
    return RedirectResponse(done.redirect, status_code=302)


@route(router, "/sharing/rest/oauth2/token", POST, Endpoint(
    "OAuth token exchange", "OAuthToken",
    (GRANT_TYPE, CLIENT_ID, CODE, EXCHANGE_REDIRECT_URI, REFRESH_TOKEN, EXPIRATION),
    "Always JSON. Errors carry an OAuth `error` name inside the Sharing envelope.",
    auth=Auth.NONE, tag=TAG, kind=Kind.OAUTH_JSON, default_format="json"))
async def token(c: CallDep) -> Response:
    form = c.form
    try:
        answer = c.services.oauth.exchange(
            grant_type=form.text(GRANT_TYPE), client_id=form.text(CLIENT_ID),
            code=form.text(CODE), redirect_uri=form.text(EXCHANGE_REDIRECT_URI) or None,
            refresh_token=form.text(REFRESH_TOKEN), expiration=_minutes(c, EXPIRATION))
    except OAuthError as exc:
        return JSONResponse({"error": {"code": 400, "error": exc.error,
                                       "message": exc.message, "details": []}})
    return JSONResponse(answer)
