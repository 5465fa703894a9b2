"""Sharing API (``/<context>/sharing/rest``): the portal root and ``info``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from gistasks import __version__
from gistasks.api.render import output_format, params, render

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
