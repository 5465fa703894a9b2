"""OAuth 2.0: the sign-in pages and the token exchange as the official ArcGIS client drives them,
and the registration of apps.

``GET sharing/rest/oauth2/authorize`` answers a sign-in page; ``POST sharing/oauth2/signin``
redirects with ``#access_token=…`` (implicit) or gives a code (code flow); ``POST
sharing/rest/oauth2/token`` exchanges a code or a refresh token. ``oauth2/registerApp`` and
``oauth2/apps/<client_id>`` register and show apps (org admins). The rules are the OAuth
service's; this module renders its answers.

The pages carry what the client reads as a data block, ``<script type="text/plain">var
oAuthInfo = {...};</script>``: the client finds it with a regular expression, a browser never
runs it (and the Content-Security-Policy runs no script at all). Every value in a page is
escaped for where it stands: HTML text and attributes, and the JSON of the data block.
"""

from __future__ import annotations

import html
import json
import re
from typing import Any

from fastapi import APIRouter
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from gistasks import jsonsafe
from gistasks.api.deps import Call, CallDep
from gistasks.api.headers import page_policy
from gistasks.api.params import Number, Text
from gistasks.api.render import render
from gistasks.api.sharing import portal_url
from gistasks.api.spec import POST, READ, Auth, Endpoint, Kind, route
from gistasks.config import MAX_TOKEN_MINUTES
from gistasks.services.auth import LockedOutError
from gistasks.services.errors import InvalidParameterError
from gistasks.services.oauth import APP_TYPES, MAX_STATE, OAuthError
from gistasks.store.records import OAuthAppRecord

router = APIRouter()
TAG = "OAuth"
LOCALE = re.compile(r"[A-Za-z]{2,8}(?:-[A-Za-z0-9]{1,8}){0,3}")


def _script_json(data: dict[str, Any]) -> str:
    """JSON that cannot end the element it stands in, whatever its strings hold."""
    text = json.dumps(data, separators=(",", ":"))
    for char, escaped in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"),
                          ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        text = text.replace(char, escaped)
    return text


def _page(c: Call, info: dict[str, Any], title: str = "Sign in", body: str = "",
          redirect_origin: str | None = None) -> HTMLResponse:
    # The official client reads the first {...} standing on one line: keep it so.
    script = "var oAuthInfo = " + _script_json(info) + ";"
    css = html.escape(f"/{c.settings.context}/static/gistasks.css", quote=True)
    response = HTMLResponse(
        "<!doctype html>\n<html lang='en'>\n<head>\n<meta charset='utf-8'>\n"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>\n"
        f"<title>{html.escape(title)}</title>\n<link rel='stylesheet' href='{css}'>\n"
        f"<script type='text/plain' id='oAuthInfo'>\n"
        f"{script}\n</script>\n</head>\n<body>\n<main class='narrow'>\n{body}\n</main>\n"
        "</body>\n</html>\n")
    response.headers["content-security-policy"] = page_policy(redirect_origin)
    return response


def _sign_in_form(c: Call, state: str, messages: list[str]) -> str:
    errors = "".join(f"<p class='alert' role='alert'>{html.escape(m)}</p>" for m in messages)
    action = html.escape(f"/{c.settings.context}/sharing/oauth2/signin", quote=True)
    return (f"<h1>Sign in to gistasks</h1>\n{errors}\n"
            f"<form method='post' action='{action}'>\n"
            f"<input type='hidden' name='oauth_state' value='{html.escape(state, quote=True)}'>\n"
            "<div class='field'><label>User name <input name='username' "
            "autocomplete='username'></label></div>\n"
            "<div class='field'><label>Password <input name='password' type='password' "
            "autocomplete='current-password'></label></div>\n"
            "<button type='submit' class='primary'>Sign in</button>\n</form>")


def _minutes(c: Call, param: Number) -> float | None:
    """A token lifetime asked for; a bad one counts as none (the page cannot show errors
    the client would read)."""
    try:
        return c.form.get(param)
    except InvalidParameterError:
        return None




EXPIRATION = Number("expiration", f"Token minutes (1-{MAX_TOKEN_MINUTES}).", unit="minutes")
CLIENT_ID = Text("client_id", "A registered app's client id (`pythonapi`, the official "
                 "client's, is registered out of the box).", True, "pythonapi")
RESPONSE_TYPE = Text("response_type", "Implicit (`token`) or authorization-code (`code`) flow.",
                     choices=("token", "code"), default="token")
REDIRECT_URI = Text("redirect_uri", "One of the app's registered redirect URIs (or under one); "
                    "urn:ietf:wg:oauth:2.0:oob shows the code instead.", True,
                    "urn:ietf:wg:oauth:2.0:oob")
STATE = Text("state", "Opaque client state, handed back.", max_length=MAX_STATE)
LOCALE_PARAM = Text("locale", "Page locale.")
OAUTH_STATE = Text("oauth_state", "The state from the authorize page.", True)
USERNAME = Text("username", "User name.", True)
PASSWORD = Text("password", "Password.", True, secret=True)
GRANT_TYPE = Text("grant_type", "The grant.", True, "authorization_code",
                  choices=("authorization_code", "refresh_token"))
CODE = Text("code", "The code (authorization_code grant): good once.")
EXCHANGE_REDIRECT_URI = Text("redirect_uri", "The authorize request's redirect URI "
                             "(authorization_code grant: required, and must be the same).")
REFRESH_TOKEN = Text("refresh_token", "The refresh token (refresh_token grant).")


@route(router, "/sharing/rest/oauth2/authorize", READ, Endpoint(
    "OAuth sign-in page", None,
    (CLIENT_ID, RESPONSE_TYPE, REDIRECT_URI, STATE, EXPIRATION, LOCALE_PARAM),
    "An HTML page whose data block holds `var oAuthInfo = {...}` with the `oauth_state`; "
    "errors are pages too (`oAuthInfo.messages`): `Invalid client_id` for an app that is not "
    "registered, `Invalid redirect_uri` for a redirect it did not register.",
    auth=Auth.NONE, tag=TAG, kind=Kind.HTML))
async def authorize(c: CallDep) -> Response:
    form = c.form
    try:
        grant = c.services.oauth.authorize(
            response_type=form.text(RESPONSE_TYPE, "token"), client_id=form.text(CLIENT_ID),
            redirect_uri=form.text(REDIRECT_URI), state=form.exact(STATE) or "",
            expiration=_minutes(c, EXPIRATION), portal_origin=portal_url(c))
    except OAuthError as exc:
        return _page(c, {"messages": [exc.message]}, "Error")
    locale = form.text(LOCALE_PARAM, "en")
    info = {"oauth_state": grant.oauth_state, "clientId": grant.client_id,
            "expiration": grant.expiration,
            "locale": locale if LOCALE.fullmatch(locale) else "en"}
    return _page(c, info, body=_sign_in_form(c, grant.oauth_state, []),
                 redirect_origin=grant.redirect_origin)


@route(router, "/sharing/oauth2/signin", POST, Endpoint(
    "OAuth sign-in (browser form)", None, (OAUTH_STATE, USERNAME, PASSWORD, EXPIRATION),
    "Redirects (302) to `redirect_uri#access_token=...` (implicit flow) or `?code=...` (code "
    "flow); with the out-of-band redirect, or on a failed sign-in, an HTML page. After "
    "repeated failures the account and the address are locked for a while.",
    auth=Auth.NONE, tag=TAG, kind=Kind.REDIRECT))
async def signin(c: CallDep) -> Response:
    raw_state = c.form.text(OAUTH_STATE)
    try:
        done = await c.checking_passwords(
            c.services.oauth.sign_in, oauth_state=raw_state, username=c.form.text(USERNAME),
            password=c.form.text(PASSWORD), expiration=_minutes(c, EXPIRATION),
            address=c.client_ip)
    except OAuthError as exc:
        return _page(c, {"messages": [exc.message]}, "Error")
    except LockedOutError as exc:
        return _again(c, raw_state, exc.details)
    if done is None:
        return _again(c, raw_state, ["Invalid username or password."])
    if done.redirect is None:
        code = done.code or ""
        return _page(c, {"code": code}, f"SUCCESS code={code}",
                     f"<p>Signed in. Copy this code into your application:</p>"
                     f"<pre>{html.escape(code)}</pre>")
    return RedirectResponse(done.redirect, status_code=302)


def _again(c: Call, oauth_state: str, messages: list[str]) -> HTMLResponse:
    """The sign-in form again, saying why; it still leads where the first one did."""
    return _page(c, {"messages": messages, "oauth_state": oauth_state},
                 body=_sign_in_form(c, oauth_state, messages),
                 redirect_origin=c.services.oauth.redirect_origin(oauth_state))


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
            code=form.text(CODE), redirect_uri=form.text(EXCHANGE_REDIRECT_URI),
            refresh_token=form.text(REFRESH_TOKEN), expiration=_minutes(c, EXPIRATION))
    except OAuthError as exc:
        return JSONResponse({"error": {"code": 400, "error": exc.error,
                                       "message": exc.message, "details": []}})
    return JSONResponse(answer)


# -- registered apps --------------------------------------------------------------------------


def app_json(app: OAuthAppRecord) -> dict[str, Any]:
    """A registered app as ArcGIS shows it (``oauth2/apps/<client_id>``)."""
    return {"itemId": app.item_id, "client_id": app.client_id, "appType": app.app_type,
            "redirect_uris": list(app.redirect_uris), "registered": app.created,
            "modified": app.modified, "title": app.title,
            "portalRedirects": app.portal_redirects}


REDIRECT_URIS_BYTES = 70_000
REDIRECT_URIS = Text("redirect_uris", "A JSON list of the URIs tokens and codes may be "
                     "delivered to: https URLs, http URLs on loopback (any port), or "
                     "urn:ietf:wg:oauth:2.0:oob. A redirect at or under one of them is "
                     "accepted.", True, '["https://app.example.com/callback"]', json_text=True,
                     max_length=REDIRECT_URIS_BYTES)
APP_TYPE = Text("appType", "browser, native, server or multiple.", choices=APP_TYPES,
                default="browser")
ITEM_ID = Text("itemId", "The app's item, kept for reference.", max_length=64)
TITLE = Text("title", "A name for the app.", max_length=256, extension=True)
APPS = "/sharing/rest/oauth2/apps/{client_id}"


def _uris(c: Call, required: bool) -> object:
    text = c.form.text(REDIRECT_URIS)
    if not text:
        if required:
            raise InvalidParameterError("redirect_uris", "'redirect_uris' must be specified")
        return None
    try:
        return jsonsafe.loads(text, REDIRECT_URIS_BYTES)
    except jsonsafe.JsonError:
        raise InvalidParameterError("redirect_uris",
                                    "'redirect_uris' must be a JSON list of URIs") from None


@route(router, "/sharing/rest/oauth2/registerApp", POST, Endpoint(
    "Register an app", "OAuthApp", (REDIRECT_URIS, APP_TYPE, ITEM_ID, TITLE),
    "Org admins only. The answer is the registered app with its new `client_id` (no secret: "
    "this server has no grant that takes one).", tag=TAG))
async def register_app(c: CallDep) -> Response:
    admin = c.org_admin()
    app = c.services.apps.register(
        redirect_uris=_uris(c, True), app_type=c.form.value(APP_TYPE, "browser"),
        title=c.form.text(TITLE), item_id=c.form.text(ITEM_ID), owner=admin.username)
    return render(app_json(app), c.f, app.client_id)


@route(router, APPS, READ, Endpoint("A registered app", "OAuthApp",
                                    description="Org admins only.", tag=TAG))
async def get_app(c: CallDep, client_id: str) -> Response:
    c.org_admin()
    app = c.services.apps.app(client_id)
    return render(app_json(app), c.f, app.client_id)


@route(router, APPS + "/update", POST, Endpoint(
    "Change a registered app", "OAuthApp", (REDIRECT_URIS, APP_TYPE),
    "Org admins only; what is left out stays.", tag=TAG, extension=True))
async def update_app(c: CallDep, client_id: str) -> Response:
    c.org_admin()
    app = c.services.apps.update(client_id, redirect_uris=_uris(c, False),
                                  app_type=c.form.get(APP_TYPE))
    return render(app_json(app), c.f, app.client_id)


@route(router, APPS + "/unregister", POST, Endpoint(
    "Unregister an app", "AppDone", description="Org admins only; its tokens already issued "
    "stay valid until they expire.", tag=TAG, extension=True))
async def unregister_app(c: CallDep, client_id: str) -> Response:
    c.org_admin()
    c.services.apps.unregister(client_id)
    return render({"success": True, "client_id": client_id}, c.f, "Unregistered")
