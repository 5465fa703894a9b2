"""Sharing API (``/<context>/sharing/rest``): the portal root and ``info``."""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from gistasks import __version__
from gistasks.api.auth import acting_for, authenticate, current_user
from gistasks.api.render import ApiError, finite, output_format, params, render
from gistasks.store import UserRecord
from gistasks.tokens import DEFAULT_MINUTES, TokenClaims, issue
from gistasks.users import privileges

# The Enterprise 11.4-era portal version, which the official client treats as current.
PORTAL_VERSION = "2024.1"
SHORT_LIVED_TOKEN_MINUTES = 60

router = APIRouter()


def _sharing_url(request: Request) -> str:
    context = request.app.state.settings.context
    return f"{str(request.base_url).rstrip('/')}/{context}/sharing/rest"


@router.api_route("/sharing/rest", methods=["GET", "POST"])
@router.api_route("/sharing/rest/", methods=["GET", "POST"], include_in_schema=False)
async def root(request: Request) -> Response:
    """The portal root: ``{"currentVersion": ...}``."""
    values = await params(request)
    payload: dict[str, Any] = {"currentVersion": PORTAL_VERSION}
    return render(payload, output_format(values), "Sharing API")


@router.api_route("/sharing/rest/info", methods=["GET", "POST"])
async def info(request: Request) -> Response:
    """Login discovery: where tokens come from (``authInfo.tokenServicesUrl``)."""
    values = await params(request)
    base = _sharing_url(request)
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
    return render(payload, output_format(values), "Info")


ORG_ID = "0123456789ABCDEF"


def _token_error(detail: str) -> ApiError:
    return ApiError(400, "Unable to generate token.", [detail])


@router.api_route("/sharing/rest/generateToken", methods=["GET", "POST"])
async def generate_token(request: Request) -> Response:
    """``generateToken``: a token for a user name and password (POST only, as ArcGIS)."""
    values = await params(request)
    f = output_format(values, "json")
    if request.method != "POST":
        raise ApiError(405, "generateToken must be called with POST",
                       ["Send the credentials in the request body, never in the URL."])
    username, password = values.get("username", ""), values.get("password", "")
    if not username or not password:
        raise _token_error("'username' and 'password' must be specified.")
    raw = values.get("expiration", "")
    number = finite(raw) if raw else DEFAULT_MINUTES
    if number is None:
        raise _token_error("'expiration' must be a number of minutes.")
    minutes = int(number)
    if minutes <= 0:
        raise _token_error("'expiration' must be a positive number of minutes.")
    minutes = min(minutes, request.app.state.settings.token_max_minutes)
    client = values.get("client", "").lower()
    referer = ip = None
    if client == "referer":
        referer = values.get("referer", "")
        if not referer:
            raise _token_error("'referer' must be specified when client is referer.")
    elif client == "ip":
        ip = values.get("ip", "")
        if not ip:
            raise _token_error("'ip' must be specified when client is ip.")
    elif client == "requestip":
        ip = request.client.host if request.client else None
    elif client:
        raise _token_error("'client' must be referer, ip or requestip.")
    user = await authenticate(request, username, password)
    if user is None:
        raise _token_error("Invalid username or password.")
    expires = time.time_ns() // 1_000_000 + minutes * 60_000
    token = issue(request.app.state.token_key,
                  TokenClaims(user.username, user.credentials_version, expires, referer, ip))
    return render({"token": token, "expires": expires, "ssl": True}, f, "Token")


def user_json(user: UserRecord) -> dict[str, Any]:
    """A user as ``community/self`` and ``community/users/<u>`` show it."""
    return {
        "username": user.username, "fullName": user.full_name, "email": user.email,
        "role": user.role, "privileges": list(privileges(user.role)), "orgId": ORG_ID,
        "disabled": user.disabled, "level": "2", "userType": "creatorUT",
        "created": user.created, "modified": user.modified, "id": user.username,
        "access": "org", "provider": "arcgis", "groups": [], "tags": [], "culture": "en",
    }


@router.api_route("/sharing/rest/community/self", methods=["GET", "POST"])
async def community_self(request: Request) -> Response:
    """The signed-in user."""
    values = await params(request)
    f = output_format(values)
    user = current_user(request, values)
    assert user is not None
    return render(user_json(user), f, user.username)


@router.api_route("/sharing/rest/portals/self", methods=["GET", "POST"])
async def portals_self(request: Request) -> Response:
    """The portal as the caller sees it; with a token, its ``user`` too."""
    values = await params(request)
    f = output_format(values)
    user = current_user(request, values, required=False)
    settings = request.app.state.settings
    payload: dict[str, Any] = {
        "id": ORG_ID, "name": "gistasks", "portalName": "gistasks",
        "isPortal": True, "portalMode": "singletenant",
        "portalDeploymentType": "ArcGISEnterpriseOnKubernetes",
        "portalHostname": f"{request.url.hostname}:{request.url.port}/{settings.context}",
        "allSSL": True, "supportsOAuth": True, "currentVersion": PORTAL_VERSION,
        "helperServices": {}, "customBaseUrl": "", "urlKey": "", "access": "private",
    }
    if user is not None:
        payload["user"] = user_json(user)
    return render(payload, f, "Portal")


@router.api_route("/sharing/rest/community/users/{username}", methods=["GET", "POST"])
async def community_user(request: Request, username: str) -> Response:
    """A user: the user themselves and org admins see it."""
    values = await params(request)
    f = output_format(values)
    target = acting_for(request, values, username)
    return render(user_json(target), f, target.username)
