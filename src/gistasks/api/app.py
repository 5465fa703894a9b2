"""The ASGI application: every API family under one context path (default ``/arcgis``)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from gistasks import __version__
from gistasks.api import (
    admin,
    content,
    gp,
    gpadmin,
    home,
    notebooks,
    oauth,
    ogcapi,
    recovery,
    sharing,
    user_tasks,
)
from gistasks.api.forms import BodyBudget, ClientGoneError, unread_body_format
from gistasks.api.headers import SecurityHeaders
from gistasks.api.openapi import build_openapi
from gistasks.api.render import ApiError, Family, output_format, render
from gistasks.api.spec import endpoint_of
from gistasks.config import Settings
from gistasks.services import Services
from gistasks.services.errors import ServiceError
from gistasks.tasktypes import Registry

log = logging.getLogger("gistasks.http")


def _family(request: Request, context: str) -> Family:
    """The error envelope family: the Administrator API's under /<context>/admin, else
    the Sharing API's."""
    path = request.url.path
    for root in (f"/{context}/admin", f"/{context}/portaladmin"):
        if path == root or path.startswith(root + "/"):
            return Family.ADMIN
    if path == f"/{context}/ogcapi" or path.startswith(f"/{context}/ogcapi/"):
        return Family.OGC
    return Family.SHARING


async def _error_format(request: Request) -> str:
    """The format of an error: the request's ``f`` (from the query or the body: the official
    client sends ``f=json`` in the body of a POST), else the endpoint's default (json for
    generateToken and oauth2/token, html elsewhere, as ArcGIS); json when ``f`` itself is
    bad."""
    values = dict(request.query_params)
    body_f = getattr(request.state, "f", None)
    if body_f is None:  # nothing read the body: an unknown route, a wrong method
        body_f = await unread_body_format(request)
    if body_f:
        values["f"] = body_f
    endpoint = endpoint_of(request.scope.get("endpoint"))
    try:
        return output_format(values, endpoint.default_format if endpoint else "html")
    except ApiError:
        return "json"


def create_app(settings: Settings, services: Services | None = None,
               types: Registry | None = None) -> FastAPI:
    """The application for ``settings``; routes live under ``/<context>``.

    With ``services``, the application starts their engine on start-up and stops it (letting
    running work finish within the grace period) on shutdown. Without, it only describes
    itself (its OpenAPI document lists ``types``, or the default registry's).
    """

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if services is not None:
            services.start()
        try:
            yield
        finally:
            if services is not None:
                services.stop()

    context = settings.context
    app = FastAPI(lifespan=lifespan, title="gistasks", version=__version__, docs_url=None,
                  redoc_url=None, openapi_url=f"/{context}/openapi.json")
    app.add_middleware(SecurityHeaders)
    app.state.settings = settings
    app.state.services = services
    app.state.body_budget = BodyBudget(settings.http.body_budget_bytes)
    for router, prefix in ((sharing.router, ""), (oauth.router, ""), (user_tasks.router, ""),
                           (content.router, ""),
                           (gp.router, ""), (ogcapi.router, ""), (admin.router, "/admin"),
                           (admin.router, "/portaladmin"), (gpadmin.router, "/admin"),
                           (gpadmin.router, "/portaladmin"), (notebooks.router, "/admin"),
                           (recovery.router, "/admin"), (home.router, "")):
        app.include_router(router, prefix=f"/{context}{prefix}")
    known = types if types is not None else (services.types if services else
                                             Registry.default())
    document: dict[str, Any] = {}

    def openapi() -> dict[str, Any]:
        if not document:
            document.update(build_openapi(app, context, known))
        return document

    app.openapi = openapi  # type: ignore[method-assign]

    async def error(request: Request, err: ApiError) -> Response:
        err.family = _family(request, context)
        if err.family == Family.OGC:
            response: Response = JSONResponse(err.payload(), status_code=err.http_status,
                                              media_type="application/problem+json")
        else:
            response = render(err.payload(), await _error_format(request),
                              f"Error {err.code}: {err.message}", error=True)
        if err.close:
            response.headers["connection"] = "close"
        return response

    @app.exception_handler(ClientGoneError)
    async def client_gone(request: Request, exc: ClientGoneError) -> Response:
        client = request.client.host if request.client else "?"
        log.info("%s went away before its %s %s was read", client, request.method,
                 request.url.path)
        return Response(status_code=400)

    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> Response:
        return await error(request, exc)

    @app.exception_handler(ServiceError)
    async def service_error(request: Request, exc: ServiceError) -> Response:
        return await error(request, ApiError(exc.code, exc.message, exc.details))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        message = "Not Found" if exc.status_code == 404 else str(exc.detail)
        if exc.status_code == 405:
            message = f"Method {request.method} is not supported here"
        return await error(request, ApiError(exc.status_code, message))

    return app
