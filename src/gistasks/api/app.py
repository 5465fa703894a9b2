"""The ASGI application: every API family under one context path (default ``/arcgis``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import Response

from gistasks import __version__
from gistasks.api import admin, oauth, sharing, tasks
from gistasks.api.openapi import build_openapi
from gistasks.api.render import ApiError, output_format, render
from gistasks.config import Settings
from gistasks.engine import Engine
from gistasks.store import Store
from gistasks.tokens import load_key
from gistasks.users import UserService


def _family(request: Request) -> str:
    """The error envelope family: the Administrator API's under /<context>/admin, else
    the Sharing API's."""
    context = request.app.state.settings.context
    path = request.url.path
    for root in (f"/{context}/admin", f"/{context}/portaladmin"):
        if path == root or path.startswith(root + "/"):
            return "admin"
    return "sharing"


JSON_BY_DEFAULT = ("/generateToken", "/oauth2/token")


def _format_or_json(request: Request) -> str:
    """The format of an error: the request's ``f`` (html by default, as ArcGIS; json for
    generateToken and oauth2/token, whose answers are JSON by default), json when ``f``
    itself is bad."""
    values = dict(request.query_params)
    body_f = getattr(request.state, "f", "")
    if body_f:
        values["f"] = body_f
    try:
        return output_format(values, "json" if request.url.path.endswith(JSON_BY_DEFAULT)
                             else "html")
    except ApiError:
        return "json"


def create_app(settings: Settings, engine: Engine | None = None,
               store: Store | None = None) -> FastAPI:
    """Build the application for ``settings``; routes live under ``/<context>``.

    With an ``engine``, the application starts it on start-up and stops it (letting running
    work finish within the grace period) on shutdown.
    """

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if engine is not None:
            engine.start()
        try:
            yield
        finally:
            if engine is not None:
                engine.stop()

    app = FastAPI(
        lifespan=lifespan,
        title="gistasks",
        version=__version__,
        docs_url=None,
        redoc_url=None,
        openapi_url=f"/{settings.context}/openapi.json",
    )
    app.openapi = lambda: build_openapi(settings.context)  # type: ignore[method-assign]
    app.state.settings = settings
    app.state.engine = engine
    app.state.store = store
    app.state.users = UserService(store) if store is not None else None
    app.state.token_key = load_key(settings.data_dir)
    app.include_router(sharing.router, prefix=f"/{settings.context}")
    app.include_router(oauth.router, prefix=f"/{settings.context}")
    app.include_router(tasks.router, prefix=f"/{settings.context}")
    app.include_router(admin.router, prefix=f"/{settings.context}/admin")
    app.include_router(admin.router, prefix=f"/{settings.context}/portaladmin")

    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> Response:
        exc.family = _family(request)
        return render(exc.payload(), _format_or_json(request), "Error")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        message = "Not Found" if exc.status_code == 404 else str(exc.detail)
        if exc.status_code == 405:
            message = f"Method {request.method} is not supported here"
        err = ApiError(exc.status_code, message, family=_family(request))
        return render(err.payload(), _format_or_json(request), "Error")

    return app
