"""OAuth 2.0 sign-in as ArcGIS portals do it: the implicit and the authorization-code flows.

``GET sharing/rest/oauth2/authorize`` answers a sign-in page whose script holds
``var oAuthInfo = {...}`` with an ``oauth_state``; ``POST sharing/oauth2/signin`` checks the
credentials and redirects with ``#access_token=…`` (implicit) or gives a code (code flow);
``POST sharing/rest/oauth2/token`` exchanges a code or a refresh token for an access token.
States, codes and refresh tokens are sealed with the deployment's key, so any node accepts
them and nothing is stored.
"""

from __future__ import annotations

import html
import json
import time
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from gistasks.api.auth import authenticate
from gistasks.api.render import finite, params
from gistasks.tokens import (
    DEFAULT_MINUTES,
    MAX_MINUTES,
    TokenClaims,
    TokenError,
    issue,
    seal,
    unseal,
)

router = APIRouter()

OOB = "urn:ietf:wg:oauth:2.0:oob"
STATE_TTL_MS = 10 * 60_000
CODE_TTL_MS = 5 * 60_000
REFRESH_TTL_MS = MAX_MINUTES * 60_000


def _now() -> int:
    return time.time_ns() // 1_000_000


def _redirect_ok(uri: str) -> bool:
    return uri == OOB or uri.startswith("https://") or uri.startswith("http://localhost") \
        or uri.startswith("http://127.0.0.1")


def _minutes(request: Request, raw: str | None, default: int = DEFAULT_MINUTES) -> int:
    """The token lifetime asked for (``default`` if none), within the server's cap."""
    number = finite(raw) if raw else None
    cap: int = request.app.state.settings.token_max_minutes
    return int(max(1, min(default if number is None else number, cap)))


def _page(info: dict[str, Any], title: str = "Sign in", body: str = "") -> HTMLResponse:
    # The official client reads the first {...} standing on one line: keep it so.
    script = "var oAuthInfo = " + json.dumps(info, separators=(",", ":")) + ";"
    return HTMLResponse(
        "<!doctype html>\n<html>\n<head>\n<meta charset='utf-8'>\n"
        f"<title>{html.escape(title)}</title>\n<script>\n{script}\n</script>\n</head>\n"
        f"<body>\n{body}\n</body>\n</html>\n")


def _sign_in_form(request: Request, state: str, messages: list[str]) -> str:
    context = request.app.state.settings.context
    errors = "".join(f"<p class='error'>{html.escape(m)}</p>" for m in messages)
    return (f"<h1>Sign in to gistasks</h1>\n{errors}\n"
            f"<form method='post' action='/{context}/sharing/oauth2/signin'>\n"
            f"<input type='hidden' name='oauth_state' value='{html.escape(state)}'>\n"
            "<label>User name <input name='username' autocomplete='username'></label>\n"
            "<label>Password <input name='password' type='password' "
            "autocomplete='current-password'></label>\n"
            "<button type='submit'>Sign in</button>\n</form>")


@router.api_route("/sharing/rest/oauth2/authorize", methods=["GET", "POST"])
async def authorize(request: Request) -> Response:
    values = await params(request)
    response_type = values.get("response_type", "token")
    client_id = values.get("client_id", "")
    redirect_uri = values.get("redirect_uri", "")
    if response_type not in ("token", "code"):
        return _page({"messages": ["Invalid response_type"]}, "Error")
    if not client_id:
        return _page({"messages": ["Invalid client_id"]}, "Error")
    if not _redirect_ok(redirect_uri):
        return _page({"messages": ["Invalid redirect_uri"]}, "Error")
    state = seal(request.app.state.token_key, "oauth-state", {
        "rt": response_type, "c": client_id, "r": redirect_uri, "s": values.get("state", ""),
        "e": _minutes(request, values.get("expiration"), 120), "t": _now()})
    info = {"oauth_state": state, "clientId": client_id, "expiration":
            _minutes(request, values.get("expiration"), 120), "locale": values.get("locale", "en")}
    return _page(info, body=_sign_in_form(request, state, []))


@router.post("/sharing/oauth2/signin")
async def signin(request: Request) -> Response:
    values = await params(request)
    raw_state = values.get("oauth_state", "")
    key = request.app.state.token_key
    try:
        st = unseal(key, "oauth-state", raw_state)
        if _now() - int(str(st["t"])) > STATE_TTL_MS:
            raise TokenError("expired")
    except (TokenError, KeyError, ValueError):
        return _page({"messages": ["The sign-in session expired; start again."]}, "Error")
    user = await authenticate(request, values.get("username", ""),
                              values.get("password", ""))
    if user is None:
        messages = ["Invalid username or password."]
        return _page({"messages": messages, "oauth_state": raw_state},
                     body=_sign_in_form(request, raw_state, messages))
    redirect, client_state = str(st["r"]), str(st["s"])
    minutes = _minutes(request, values.get("expiration"), int(str(st["e"])))
    if st["rt"] == "token":
        expires = _now() + minutes * 60_000
        token = issue(key, TokenClaims(user.username, user.credentials_version, expires,
                                       None, None))
        fragment = urlencode({"access_token": token, "expires_in": minutes * 60,
                              "state": client_state, "username": user.username, "ssl": "true"})
        return RedirectResponse(f"{redirect}#{fragment}", status_code=302)
    code = seal(key, "oauth-code", {"u": user.username, "v": user.credentials_version,
                                     "c": st["c"], "r": redirect, "x": _now() + CODE_TTL_MS,
                                     "e": minutes})
    if redirect == OOB:
        return _page({"code": code}, f"SUCCESS code={code}",
                     f"<p>Signed in. Copy this code into your application:</p>"
                     f"<pre>{html.escape(code)}</pre>")
    query = urlencode({"code": code, "state": client_state})
    return RedirectResponse(f"{redirect}{'&' if '?' in redirect else '?'}{query}",
                            status_code=302)


def _oauth_error(message: str, error: str = "invalid_request") -> JSONResponse:
    return JSONResponse({"error": {"code": 400, "error": error, "message": message,
                                   "details": []}})


@router.post("/sharing/rest/oauth2/token")
async def token(request: Request) -> Response:
    values = await params(request)
    key = request.app.state.token_key
    grant = values.get("grant_type", "")
    client_id = values.get("client_id", "")
    try:
        if grant == "authorization_code":
            data = unseal(key, "oauth-code", values.get("code", ""))
            if int(str(data["x"])) < _now():
                raise TokenError("expired")
            if data["c"] != client_id or data["r"] != values.get("redirect_uri", data["r"]):
                return _oauth_error("client_id or redirect_uri does not match the code",
                                    "invalid_grant")
        elif grant == "refresh_token":
            data = unseal(key, "oauth-refresh", values.get("refresh_token", ""))
            if int(str(data["x"])) < _now() or data["c"] != client_id:
                raise TokenError("expired")
        else:
            return _oauth_error("grant_type must be authorization_code or refresh_token",
                                "unsupported_grant_type")
    except (TokenError, KeyError, ValueError):
        return _oauth_error("Invalid or expired code or refresh token", "invalid_grant")
    user = request.app.state.store.get_user(str(data["u"]))
    if user is None or user.disabled or user.credentials_version != int(str(data["v"])):
        return _oauth_error("The user's credentials changed; sign in again", "invalid_grant")
    minutes = _minutes(request, values.get("expiration"), int(str(data.get("e", DEFAULT_MINUTES))))
    expires = _now() + minutes * 60_000
    access = issue(key, TokenClaims(user.username, user.credentials_version, expires, None,
                                    None))
    answer: dict[str, Any] = {"access_token": access, "expires_in": minutes * 60,
                              "username": user.username, "ssl": True}
    if grant == "authorization_code":
        answer["refresh_token"] = seal(key, "oauth-refresh", {
            "u": user.username, "v": user.credentials_version, "c": client_id,
            "x": _now() + REFRESH_TTL_MS})
        answer["refresh_token_expires_in"] = REFRESH_TTL_MS // 1000
    return JSONResponse(answer)
