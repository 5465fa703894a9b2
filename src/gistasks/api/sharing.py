"""Sharing API (``/<context>/sharing/rest``): the portal root, ``info``, ``generateToken``,
the signed-in user, the portal, and users."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter
from starlette.responses import Response

from gistasks import __version__
from gistasks.api.deps import Call, CallDep
from gistasks.api.params import F_JSON, Number, Text
from gistasks.api.render import ApiError, render
from gistasks.api.spec import GET, POST, READ, Auth, Endpoint, route
from gistasks.api.views import ORG_ID, user_json
from gistasks.config import MAX_TOKEN_MINUTES
from gistasks.services.auth import SignInError
from gistasks.services.errors import InvalidParameterError

# The Enterprise 11.4-era portal version, which the official client treats as current.
PORTAL_VERSION = "2024.1"
SHORT_LIVED_TOKEN_MINUTES = 60
TAG = "Sharing"

router = APIRouter()


def portal_url(c: Call) -> str:
    """This portal's URL, context included: the configured public URL, else the one the
    request reached (a proxy's forwarded headers count only from a trusted proxy)."""
    if c.settings.public_url:
        return c.settings.public_url
    return f"{str(c.request.base_url).rstrip('/')}/{c.settings.context}"


def sharing_url(c: Call) -> str:
    """This server's Sharing API root, as clients reach it."""
    return f"{portal_url(c)}/sharing/rest"


@route(router, "/sharing/rest", READ, Endpoint(
    "Portal root", "PortalRoot", auth=Auth.NONE, tag=TAG,
    description="`{\"currentVersion\": ...}`. `/sharing/rest/` answers the same."),
    aliases=["/sharing/rest/"])
async def root(c: CallDep) -> Response:
    return render({"currentVersion": PORTAL_VERSION}, c.f, "Sharing API")


@route(router, "/sharing/rest/info", READ, Endpoint(
    "Login discovery", "Info", auth=Auth.NONE, tag=TAG,
    description="Where tokens come from (`authInfo.tokenServicesUrl`)."))
async def info(c: CallDep) -> Response:
    base = sharing_url(c)
    payload: dict[str, Any] = {
        "owningSystemUrl": base.removesuffix("/sharing/rest"),
        "authInfo": {
            "isTokenBasedSecurity": True,
            "tokenServicesUrl": f"{base}/generateToken",
            "shortLivedTokenValidity": SHORT_LIVED_TOKEN_MINUTES,
        },
        "currentVersion": PORTAL_VERSION,
        "fullVersion": PORTAL_VERSION,
        "gistasksVersion": __version__,
    }
    return render(payload, c.f, "Info")


USERNAME = Text("username", "User name.", True, "admin")
PASSWORD = Text("password", "Password.", True, "secret", secret=True)
CLIENT = Text("client", "What the token is bound to: a referer, the caller's IP, or `ip`.",
              example="referer")
REFERER = Text("referer", "The referer the token is bound to (client=referer).",
               example="https://app.example.com")
IP = Text("ip", "The IP address the token is bound to (client=ip).", example="127.0.0.1")
EXPIRATION = Number("expiration", f"Minutes; capped by GISTASKS_TOKEN_MAX_MINUTES (default "
                    f"{MAX_TOKEN_MINUTES}).", example=60, unit="minutes")


@route(router, "/sharing/rest/generateToken", POST, Endpoint(
    "Generate a token", "Token", (USERNAME, PASSWORD, CLIENT, REFERER, IP, EXPIRATION, F_JSON),
    "POST only: credentials never travel in the URL (GET answers error 405).",
    auth=Auth.NONE, tag=TAG, default_format="json"))
async def generate_token(c: CallDep) -> Response:
    """``generateToken``: a token for a user name and password."""
    try:
        expiration = c.form.get(EXPIRATION)
    except InvalidParameterError as exc:
        raise SignInError(exc.details[0]) from None
    token = await c.checking_passwords(
        c.services.auth.generate_token, c.form.value(USERNAME, ""), c.form.value(PASSWORD, ""),
        expiration=expiration, client=c.form.value(CLIENT, ""),
        referer=c.form.value(REFERER, ""), ip=c.form.value(IP, ""), request_ip=c.client_ip)
    return render({"token": token.token, "expires": token.expires, "ssl": True}, c.f, "Token")


@route(router, "/sharing/rest/generateToken", GET, Endpoint(
    "generateToken by GET (refused)", None, (F_JSON,),
    "Always error 405: send the credentials by POST.", auth=Auth.NONE, tag=TAG,
    default_format="json"))
async def generate_token_by_get(c: CallDep) -> Response:
    raise ApiError(405, "generateToken must be called with POST",
                   ["Send the credentials in the request body, never in the URL."])


@route(router, "/sharing/rest/community/self", READ, Endpoint(
    "The signed-in user", "User", tag=TAG))
async def community_self(c: CallDep) -> Response:
    user = c.caller()
    return render(user_json(user), c.f, user.username)


@route(router, "/sharing/rest/portals/self", READ, Endpoint(
    "The portal", "Portal", auth=Auth.OPTIONAL, tag=TAG,
    description="Anonymous callers get the portal; with a token, its `user` too."))
async def portals_self(c: CallDep) -> Response:
    """The portal as the caller sees it; with a token, its ``user`` too."""
    user = c.caller_if_any()
    url = urlsplit(portal_url(c))
    payload: dict[str, Any] = {
        "id": ORG_ID, "name": "gistasks", "portalName": "gistasks",
        "isPortal": True, "portalMode": "singletenant",
        "portalDeploymentType": "ArcGISEnterpriseOnKubernetes",
        "portalHostname": f"{url.netloc}{url.path}",
        "allSSL": True, "supportsOAuth": True, "currentVersion": PORTAL_VERSION,
        "helperServices": {}, "customBaseUrl": "", "urlKey": "", "access": "private",
    }
    if user is not None:
        payload["user"] = user_json(user)
    return render(payload, c.f, "Portal")


@route(router, "/sharing/rest/portals/{portal_id}/servers", READ, Endpoint(
    "The portal's servers", "Servers", tag=TAG,
    description="This server, as the notebook server the official client looks for "
    "(`serverFunction` NotebookServer): `admin/notebooks/executeNotebook` runs a notebook "
    "item on demand."))
async def portal_servers(c: CallDep, portal_id: str) -> Response:
    c.caller()
    base = portal_url(c)
    return render({"servers": [{
        "id": "gistasks", "name": urlsplit(base).netloc, "url": base, "adminUrl": base,
        "isHosted": False, "serverType": "ArcGIS", "serverRole": "FEDERATED_SERVER",
        "serverFunction": "NotebookServer"}]}, c.f, "Servers")


@route(router, "/sharing/rest/community/users/{username}", READ, Endpoint(
    "A user", "User", tag=TAG,
    description="The user themselves and org admins only; an unknown user is error 400."))
async def community_user(c: CallDep, username: str) -> Response:
    target = c.acting_for(username)
    return render(user_json(target), c.f, target.username)
